"""The ganesha helper against a real nfs-ganesha, checked from outside with libnfs.

The server is the session's test instance (tests/fixtures/ganesha.py) on its
own ports; on one machine the client's address is 127.0.0.1, so a rule for
127.0.0.1 grants and a rule for 127.0.0.2 does not. Tests that kill or prune
the daemon use a private instance of their own.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shoal.exports.nfs import GaneshaError, NfsClientRule, NfsExport
from shoal.exports.nfs.ganesha import GaneshaHelper
from shoal.hosts import LocalHost

pytestmark = pytest.mark.integration

_keys = itertools.count(1)

if not shutil.which("nfs-ls"):
    pytest.skip("libnfs clients are not installed: apt-get install libnfs-utils", allow_module_level=True)


def rw(address: str = "127.0.0.1", rule_id: str = "rw") -> NfsClientRule:
    return NfsClientRule(rule_id, address, "rw")


def ro(address: str = "127.0.0.1", rule_id: str = "ro") -> NfsClientRule:
    return NfsClientRule(rule_id, address, "ro")


@pytest.fixture
def share(ganesha, tmp_path):
    """make(*rules) -> an NfsExport of a fresh directory, applied; removed after the test."""
    made: list[NfsExport] = []

    def make(*rules: NfsClientRule, helper: GaneshaHelper | None = None) -> NfsExport:
        directory = tmp_path / f"share{len(made)}"
        directory.mkdir()
        export = NfsExport(f"test-{os.getpid()}-{next(_keys)}", str(directory), "", tuple(rules))
        made.append(export)
        assert (helper or ganesha.helper).apply(export) == {}
        return export

    yield make
    for export in made:
        ganesha.helper.remove(export)


def writes(server, export: NfsExport, local: Path, name: str, version: int = 3) -> subprocess.CompletedProcess:
    return server.cp(local, f"{export.path}/{name}", version)


@pytest.fixture
def payload(tmp_path) -> Path:
    path = tmp_path / "payload.txt"
    path.write_text("shoal was here\n")
    return path


def test_rw_rule_lets_the_client_write(ganesha, share, payload):
    export = share(rw())
    result = writes(ganesha, export, payload, "hello.txt")
    assert result.returncode == 0, result.stderr
    assert (Path(export.path) / "hello.txt").read_text() == "shoal was here\n"
    listing = ganesha.ls(export.path)
    assert listing.returncode == 0 and "hello.txt" in listing.stdout


def test_ro_rule_mounts_but_refuses_writes(ganesha, share, payload):
    export = share(ro())
    (Path(export.path) / "existing.txt").write_text("x")
    listing = ganesha.ls(export.path)
    assert listing.returncode == 0 and "existing.txt" in listing.stdout, listing.stderr
    result = writes(ganesha, export, payload, "nope.txt")
    assert result.returncode != 0 and "ROFS" in result.stderr
    assert not (Path(export.path) / "nope.txt").exists()


@pytest.mark.parametrize(
    "rules", [(), (rw("127.0.0.2"),), (ro("10.0.0.0/8"),)], ids=["no-rule", "other-host", "other-net"]
)
def test_a_client_without_a_rule_cannot_mount(ganesha, share, rules):
    export = share(*rules)
    result = ganesha.ls(export.path)
    assert result.returncode != 0 and "MNT3ERR_ACCES" in result.stderr


def test_a_network_rule_grants_its_hosts(ganesha, share, payload):
    export = share(rw("127.0.0.0/8"))
    assert writes(ganesha, export, payload, "net.txt").returncode == 0


@pytest.mark.parametrize("host_level,net_level,can_write", [("ro", "rw", False), ("rw", "ro", True)])
def test_a_host_rule_beats_the_rule_of_its_network(ganesha, share, payload, host_level, net_level, can_write):
    export = share(NfsClientRule("net", "127.0.0.0/8", net_level), NfsClientRule("host", "127.0.0.1", host_level))
    assert (writes(ganesha, export, payload, "x.txt").returncode == 0) is can_write


def test_rule_change_rw_to_ro_takes_effect_at_once(ganesha, share, payload):
    export = share(rw())
    assert writes(ganesha, export, payload, "before.txt").returncode == 0
    started = time.monotonic()
    assert ganesha.helper.apply(NfsExport(export.key, export.path, "", (ro(),))) == {}
    took = time.monotonic() - started
    result = writes(ganesha, export, payload, "after.txt")  # the very next request, no waiting
    assert result.returncode != 0 and "ROFS" in result.stderr
    assert ganesha.ls(export.path).returncode == 0
    assert took < 2, f"apply took {took:.2f}s"
    # and back
    ganesha.helper.apply(export)
    assert writes(ganesha, export, payload, "again.txt").returncode == 0


def test_remove_makes_the_export_unreachable_and_is_idempotent(ganesha, share):
    export = share(rw())
    assert ganesha.ls(export.path).returncode == 0
    ganesha.helper.remove(export)
    result = ganesha.ls(export.path)
    assert result.returncode != 0
    assert not (ganesha.config_dir / "exports.d" / f"{export.key}.conf").exists()
    ganesha.helper.remove(export)
    assert Path(export.path).is_dir()  # only the export goes, never the data


def test_three_hundred_rules_on_one_export(ganesha, share, payload):
    rules = [NfsClientRule(f"r{i}", f"10.{i // 200}.{i % 200}.0/24", "ro") for i in range(150)]
    rules += [NfsClientRule(f"h{i}", f"192.168.{i // 250}.{i % 250 + 1}", "rw") for i in range(149)]
    rules.append(rw())
    export = share(*rules)
    assert (ganesha.config_dir / "exports.d" / f"{export.key}.conf").read_text().count("CLIENT {") == 300
    result = writes(ganesha, export, payload, "many.txt")
    assert result.returncode == 0, result.stderr


def test_bad_rules_are_reported_and_the_others_apply(ganesha, share, payload):
    export = share()
    errors = ganesha.helper.apply(
        NfsExport(
            export.key,
            export.path,
            "",
            (NfsClientRule("mask", "10.0.0.1/33", "rw"), NfsClientRule("level", "10.0.0.2", "xx"), rw()),
        )
    )
    assert set(errors) == {"mask", "level"}
    assert "10.0.0.1/33" in errors["mask"] and "'xx'" in errors["level"]
    assert writes(ganesha, export, payload, "ok.txt").returncode == 0


def test_a_missing_directory_fails_the_export_only(ganesha, share, tmp_path):
    good = share(rw())
    missing = NfsExport(f"test-{os.getpid()}-{next(_keys)}", str(tmp_path / "does-not-exist"), "", (rw(),))
    try:
        with pytest.raises(GaneshaError, match="does-not-exist"):
            ganesha.helper.apply(missing)
        assert ganesha.ls(good.path).returncode == 0
    finally:
        ganesha.helper.remove(missing)


def test_nfsv4_uses_the_pseudo_path(ganesha, share, payload):
    export = share(rw())
    result = writes(ganesha, export, payload, "v4.txt", version=4)
    assert result.returncode == 0, result.stderr
    assert (Path(export.path) / "v4.txt").exists()
    listing = ganesha.ls(export.path, version=4)
    assert listing.returncode == 0 and "v4.txt" in listing.stdout
    ganesha.helper.apply(NfsExport(export.key, export.path, "", (ro(),)))
    assert writes(ganesha, export, payload, "v4-ro.txt", version=4).returncode != 0
    ganesha.helper.apply(NfsExport(export.key, export.path, "", ()))
    assert ganesha.ls(export.path, version=4).returncode != 0


def test_concurrent_applies_get_distinct_ids_and_all_work(ganesha, tmp_path):
    exports = []
    for i in range(12):
        (tmp_path / f"c{i}").mkdir()
        exports.append(NfsExport(f"test-{os.getpid()}-{next(_keys)}", str(tmp_path / f"c{i}"), "", (rw(),)))
    try:
        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(ganesha.helper.apply, exports)) == [{}] * len(exports)
        files = [(ganesha.config_dir / "exports.d" / f"{e.key}.conf").read_text() for e in exports]
        ids = {line for text in files for line in text.splitlines() if "Export_Id" in line}
        assert len(ids) == len(exports)
        assert all(ganesha.ls(e.path).returncode == 0 for e in exports)
    finally:
        for export in exports:
            ganesha.helper.remove(export)


def test_the_test_instance_reports_no_problems(ganesha):
    assert ganesha.helper.problems() == [] and ganesha.helper.healthy()
    assert ganesha.nfs_port != 2049


def test_ensure_after_the_daemon_was_killed_brings_every_export_back(ganesha_factory, tmp_path, payload):
    server = ganesha_factory()
    helper = server.helper
    exports = []
    for i, rules in enumerate([(rw(),), (ro(),), (rw("127.0.0.2"),)]):
        (tmp_path / f"e{i}").mkdir()
        exports.append(NfsExport(f"e{i}", str(tmp_path / f"e{i}"), "", rules))
        assert helper.apply(exports[-1]) == {}
    (tmp_path / "other").mkdir()  # exported, but not in the list given to ensure() below
    other = NfsExport("other", str(tmp_path / "other"), "", (rw(),))
    helper.apply(other)

    pid = helper.pid()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while helper.pid() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert helper.pid() is None
    assert server.ls(exports[0].path).returncode != 0  # really down
    assert not helper.healthy()

    helper.ensure(exports)

    assert helper.pid() not in (None, pid)
    assert server.cp(payload, f"{exports[0].path}/back.txt").returncode == 0
    assert server.ls(exports[1].path).returncode == 0
    assert "ROFS" in server.cp(payload, f"{exports[1].path}/no.txt").stderr
    assert "MNT3ERR_ACCES" in server.ls(exports[2].path).stderr
    assert server.ls(other.path).returncode == 0  # kept: ensure() never drops exports
    assert helper.problems() == []


def test_export_ids_survive_a_restart(ganesha_factory, tmp_path):
    server = ganesha_factory()
    for key in ("a", "b"):
        (tmp_path / key).mkdir()
        server.helper.apply(NfsExport(key, str(tmp_path / key), "", (rw(),)))
    before = {f.name: f.read_text() for f in (server.config_dir / "exports.d").iterdir()}
    # A new helper object, as after a restart of Shoal; the daemon restarts too.
    os.kill(server.helper.pid(), signal.SIGTERM)
    fresh = GaneshaHelper(LocalHost(), config_dir=str(server.config_dir), nfs_port=server.nfs_port,
                          mount_port=server.mount_port, graceless=True)
    deadline = time.monotonic() + 10
    while fresh.pid() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    fresh.ensure([NfsExport(k, str(tmp_path / k), "", (rw(),)) for k in ("a", "b")])
    after = {f.name: f.read_text() for f in (server.config_dir / "exports.d").iterdir()}
    assert after == before
    assert server.ls(str(tmp_path / "b")).returncode == 0


def test_a_second_instance_takes_over_rpcbind_until_it_stops(ganesha, ganesha_factory):
    """ganesha unregisters NFS/MOUNT from rpcbind on start and stop, whoever owned
    them: documents the limit, and that the fixture puts the first one back."""

    def mount_ports() -> set[int]:
        out = subprocess.run(["rpcinfo", "-p"], capture_output=True, text=True, timeout=10).stdout
        return {int(f[3]) for f in (line.split() for line in out.splitlines()) if f and f[0] == "100005"}

    before = mount_ports()  # ours, unless another ganesha on this machine started since
    second = ganesha_factory()
    assert mount_ports() == {second.mount_port}
    second.stop()
    assert second.mount_port not in mount_ports()
    assert mount_ports() == before
