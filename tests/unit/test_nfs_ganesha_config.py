"""GaneshaHelper's config rendering, Export_Id bookkeeping and reload logic, against a fake host.

The fake host keeps files in a dict and plays ganesha: SIGHUP appends the
reload lines to the log (with a "Could not create export" line for paths
marked missing), starting the binary writes the pidfile. The real daemon is
exercised in tests/integration/test_ganesha_exports.py.
"""

from __future__ import annotations

import ipaddress
import re

import pytest

from shoal.exports.nfs import GaneshaError, NfsClientRule, NfsExport, make_helper
from shoal.exports.nfs import ganesha as ganesha_module
from shoal.exports.nfs.ganesha import (
    GaneshaHelper,
    allocate_id,
    parse_known,
    reload_outcome,
    render_export,
    render_main,
)
from shoal.hosts import CommandResult
from shoal.hosts.watch import Sleeping

CONF_DIR = "/srv/ganesha"
PID = 4242


class FakeGaneshaHost:
    def __init__(self, running: bool = True, binary_present: bool = True):
        self.name = "fake"
        self.files: dict[str, str] = {}
        self.calls: list[list[str]] = []
        self.missing_paths: set[str] = set()
        self.parse_error = False
        self.binary_present = binary_present
        self.rpcinfo = "   100005    3   tcp  20048  mountd\n"
        if running:
            self._start()

    def _start(self) -> None:
        self.files[f"{CONF_DIR}/ganesha.pid"] = f"{PID}\n"
        self.files[f"/proc/{PID}/cmdline"] = f"ganesha.nfsd\0-f\0{CONF_DIR}/ganesha.conf\0-L\0x\0"
        self._log(self._export_lines())

    def crash(self) -> None:
        del self.files[f"/proc/{PID}/cmdline"]

    def _log(self, lines: list[str]) -> None:
        log = f"{CONF_DIR}/ganesha.log"
        self.files[log] = self.files.get(log, "") + "".join(f"23/11/2026 : ganesha[sigmgr] {l}\n" for l in lines)

    def _export_lines(self) -> list[str]:
        conf = self.files.get(f"{CONF_DIR}/ganesha.conf", "")
        lines = []
        for include in re.findall(r'%include "([^"]+)"', conf):
            path = re.search(r'Path = "([^"]+)"', self.files[include]).group(1)
            if path in self.missing_paths:
                lines.append(f"fsal_cfg_commit :CONFIG :CRIT :Could not create export for ({path}) to ({path})")
        return lines

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        rc, out = 0, ""
        cmd = argv[0]
        if cmd == "grep":
            pattern, directory = re.compile(argv[-2]), argv[-1]
            out = "".join(
                f"{path}:{line}\n"
                for path, text in sorted(self.files.items())
                if path.startswith(directory + "/")
                for line in text.splitlines()
                if pattern.search(line)
            )
        elif cmd == "stat":
            out = str(len(self.files.get(argv[-1], "")))
        elif cmd == "tail":
            out = self.files.get(argv[-1], "")[int(argv[2][1:]) - 1 :]
        elif cmd == "kill":
            if self.parse_error:
                self._log(["initiating export list reload", "Error while parsing new configuration file"])
            else:
                self._log(["initiating export list reload", *self._export_lines(), "Reread exports complete"])
        elif cmd == "ganesha.nfsd":
            self._start()
        elif cmd == "ss":
            out = "".join(
                f'LISTEN 0 64 0.0.0.0:{port} 0.0.0.0:* users:(("ganesha.nfsd",pid={PID},fd=9))\n'
                for port in (2049, 20048)
            )
        elif cmd == "which":
            rc = 0 if self.binary_present else 1
        elif cmd == "rpcinfo":
            out = self.rpcinfo
            rc = 0 if out else 1
        result = CommandResult(tuple(argv), rc, out, "", 0.0)
        if rc and check:
            raise AssertionError(f"unexpected failure of {argv}")
        return result

    def write_file(self, path: str, content: str, mode: int = 0o644) -> None:
        self.calls.append(["<write>", path])
        self.files[path] = content

    def read_file(self, path: str) -> str | None:
        return self.files.get(path)

    def remove_file(self, path: str) -> None:
        self.calls.append(["<remove>", path])
        self.files.pop(path, None)

    def write_files(self, directory: str, files: dict[str, str], mode: int = 0o644) -> None:
        for name, content in files.items():
            self.write_file(f"{directory}/{name}", content, mode)

    def remove_files(self, paths: list[str]) -> None:
        for path in paths:
            self.remove_file(path)

    def file_size(self, path: str) -> int:
        return len(self.files.get(path, ""))

    def read_from(self, path: str, offset: int) -> str:
        return self.files.get(path, "")[offset:]

    def signal(self, pid: int, signum: int) -> None:
        assert signum == 1, "only SIGHUP is expected"
        self.run(["kill", "-HUP", str(pid)])

    def watch(self, path: str) -> Sleeping:
        return Sleeping()  # the log is a dict here; its "kill" writes the lines at once

    def hups(self) -> int:
        return sum(1 for c in self.calls if c[:2] == ["kill", "-HUP"])


@pytest.fixture(autouse=True)
def fresh_known_cache():
    """The helper keeps what exports.d holds per (host name, config dir) in this
    process; every test here starts from an empty directory of its own."""
    ganesha_module._KNOWN.clear()
    yield
    ganesha_module._KNOWN.clear()


def rule(rule_id: str, address: str, level: str = "rw") -> NfsClientRule:
    return NfsClientRule(rule_id, address, level)


def export(key: str, path: str | None = None, *rules: NfsClientRule) -> NfsExport:
    return NfsExport(key, path or f"/tank/{key}", f"tank/{key}", tuple(rules))


def helper(host: FakeGaneshaHost, **options) -> GaneshaHelper:
    return GaneshaHelper(host, config_dir=CONF_DIR, **options)


def export_file(key: str) -> str:
    return f"{CONF_DIR}/exports.d/{key}.conf"


def export_id(host: FakeGaneshaHost, key: str) -> int:
    return int(re.search(r"Export_Id = (\d+);", host.files[export_file(key)]).group(1))


# -- rendering ------------------------------------------------------------------------


def test_render_export_has_one_client_block_per_rule_most_specific_first():
    rules = [
        (rule("a", "10.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8")),
        (rule("b", "10.1.2.3", "ro"), ipaddress.ip_network("10.1.2.3/32")),
        (rule("c", "10.1.0.0/16"), ipaddress.ip_network("10.1.0.0/16")),
    ]
    text = render_export("share-1", 7, "/tank/share-1", rules)
    assert "Export_Id = 7;" in text
    assert 'Path = "/tank/share-1";' in text and 'Pseudo = "/tank/share-1";' in text
    assert "Access_Type = None;" in text  # nobody unless a CLIENT block says so
    assert "Squash = No_Root_Squash;" in text and "FSAL { Name = VFS; }" in text
    clients = re.findall(r"CLIENT \{ Clients = (\S+); Access_Type = (RW|RO); \}", text)
    assert clients == [("10.1.2.3", "RO"), ("10.1.0.0/16", "RW"), ("10.0.0.0/8", "RW")]


def test_render_export_without_rules_has_no_client_block():
    text = render_export("k", 2, "/tank/k", [])
    assert "CLIENT" not in text and "Access_Type = None;" in text


def test_render_main_sets_ports_and_includes():
    text = render_main(nfs_port=12049, mount_port=12048, config_dir="/c", includes=["/c/exports.d/a.conf"])
    assert "NFS_Port = 12049;" in text and "MNT_Port = 12048;" in text
    assert "Protocols = 3, 4;" in text
    assert "Enable_NLM = false;" in text and "Enable_RQUOTA = false;" in text
    assert 'RecoveryRoot = "/c/recovery";' in text
    assert "Graceless = false;" in text
    assert text.splitlines()[-1] == '%include "/c/exports.d/a.conf"'


def test_parse_known_reads_ids_and_paths_and_skips_temp_files():
    out = (
        f'{CONF_DIR}/exports.d/a.conf:    Export_Id = 2;\n'
        f'{CONF_DIR}/exports.d/a.conf:    Path = "/tank/a";\n'
        f'{CONF_DIR}/exports.d/b.conf:    Export_Id = 5;\n'
        f'{CONF_DIR}/exports.d/b.conf:    Path = "/tank/b b";\n'
        f'{CONF_DIR}/exports.d/.shoal-x1y2:    Export_Id = 9;\n'
        f'{CONF_DIR}/exports.d/c.conf.shoal-tmp:    Export_Id = 9;\n'
    )
    assert parse_known(out, f"{CONF_DIR}/exports.d") == {"a": (2, "/tank/a"), "b": (5, "/tank/b b")}


def test_allocate_id_takes_the_smallest_free_id_from_2():
    assert allocate_id(set()) == 2
    assert allocate_id({2, 3, 5}) == 4


def test_reload_outcome_needs_a_reload_that_started_after_the_offset():
    assert reload_outcome("") is None
    assert reload_outcome("x Reread exports complete\n") is None  # an earlier reload finishing
    assert reload_outcome("initiating export list reload\n") is None
    assert reload_outcome("Reread exports complete\ninitiating export list reload\n") is None
    ok, lines = reload_outcome("initiating export list reload\nCRIT a\nReread exports complete\n")
    assert ok and lines[1] == "CRIT a"
    assert reload_outcome("initiating export list reload\nError while parsing new configuration file x\n")[0] is False


# -- apply / remove / ensure ----------------------------------------------------------


def test_apply_writes_export_reloads_and_reports_bad_rules():
    host = FakeGaneshaHost()
    errors = helper(host).apply(
        export("s1", None, rule("ok", "127.0.0.1"), rule("mask", "10.0.0.1/33"), rule("lvl", "10.0.0.2", "xx"))
    )
    assert set(errors) == {"mask", "lvl"}
    text = host.files[export_file("s1")]
    assert text.count("CLIENT") == 1 and "Clients = 127.0.0.1; Access_Type = RW;" in text
    assert f'%include "{export_file("s1")}"' in host.files[f"{CONF_DIR}/ganesha.conf"]
    assert ["kill", "-HUP", str(PID)] in host.calls


def test_apply_refuses_a_second_rule_for_the_same_address():
    host = FakeGaneshaHost()
    errors = helper(host).apply(export("s1", None, rule("a", "10.0.0.0/24"), rule("b", "10.0.0.0/24", "ro")))
    assert list(errors) == ["b"] and "rule a" in errors["b"]


def test_export_ids_are_smallest_free_and_stable_across_rewrites_and_restarts():
    host = FakeGaneshaHost()
    h = helper(host)
    for key in ("a", "b", "c"):
        h.apply(export(key))
    assert [export_id(host, k) for k in "abc"] == [2, 3, 4]
    h.remove(export("b"))
    h.apply(export("d"))
    assert export_id(host, "d") == 3
    h.apply(export("a", None, rule("r", "10.0.0.1")))
    assert export_id(host, "a") == 2
    # A new helper object (Shoal restarted) reads the ids back from the files.
    helper(host).apply(export("c", None, rule("r", "10.0.0.1")))
    assert export_id(host, "c") == 4


def test_a_new_path_gets_a_new_export_id():
    host = FakeGaneshaHost()
    h = helper(host)
    h.apply(export("a"))
    h.apply(export("a", "/tank/moved"))
    assert export_id(host, "a") == 3  # ganesha cannot change the Path of an Export_Id in place


def test_two_keys_cannot_export_one_path():
    host = FakeGaneshaHost()
    h = helper(host)
    h.apply(export("a", "/tank/x"))
    with pytest.raises(GaneshaError, match="already exported as a"):
        h.apply(export("b", "/tank/x"))


@pytest.mark.parametrize("key,path", [("../etc", "/tank/x"), ("a b", "/tank/x"), ("ok", 'tank/x'), ("ok", '/t/"x')])
def test_unsafe_keys_and_paths_are_refused(key, path):
    host = FakeGaneshaHost()
    with pytest.raises(GaneshaError):
        helper(host).apply(NfsExport(key, path, "tank/x"))
    assert not any(p.startswith(f"{CONF_DIR}/exports.d") for p in host.files)


def test_apply_raises_when_ganesha_cannot_create_the_export():
    host = FakeGaneshaHost()
    host.missing_paths.add("/tank/gone")
    with pytest.raises(GaneshaError, match="/tank/gone"):
        helper(host).apply(export("gone", "/tank/gone", rule("r", "10.0.0.1")))


def test_apply_raises_when_the_config_does_not_parse():
    host = FakeGaneshaHost()
    host.parse_error = True
    with pytest.raises(GaneshaError, match="rejected"):
        helper(host).apply(export("a"))


def test_remove_drops_include_and_file_and_is_idempotent():
    host = FakeGaneshaHost()
    h = helper(host)
    h.apply(export("a"))
    h.apply(export("b"))
    h.remove(export("a"))
    assert export_file("a") not in host.files
    conf = host.files[f"{CONF_DIR}/ganesha.conf"]
    assert export_file("a") not in conf and export_file("b") in conf
    h.remove(export("a"))  # again: no error
    host.crash()
    hups = host.hups()
    h.remove(export("b"))  # daemon down: files change, nothing to signal
    assert host.hups() == hups and export_file("b") not in host.files


def test_apply_starts_a_managed_daemon_that_is_not_running():
    host = FakeGaneshaHost(running=False)
    helper(host).apply(export("a", None, rule("r", "10.0.0.1")))
    assert ["ganesha.nfsd", "-f", f"{CONF_DIR}/ganesha.conf", "-L", f"{CONF_DIR}/ganesha.log",
            "-p", f"{CONF_DIR}/ganesha.pid"] in host.calls
    assert host.hups() == 0  # a fresh daemon reads the config itself


def test_apply_on_an_unmanaged_daemon_that_is_down_raises():
    host = FakeGaneshaHost(running=False)
    with pytest.raises(GaneshaError, match="not running"):
        helper(host, manage_daemon=False).apply(export("a"))


def test_ensure_rewrites_the_given_exports_keeps_others_and_restarts_the_daemon():
    host = FakeGaneshaHost()
    h = helper(host)
    h.apply(export("keep", None, rule("r", "10.0.0.1")))
    h.apply(export("other"))  # e.g. a share still being created: not in the list, not dropped
    host.files.pop(export_file("keep"))  # lost, as after a crash
    host.crash()
    h.ensure([export("keep", None, rule("r", "10.0.0.1")), export("new", None, rule("r", "10.0.0.2", "ro"))])
    assert "Clients = 10.0.0.1; Access_Type = RW;" in host.files[export_file("keep")]
    assert "Clients = 10.0.0.2; Access_Type = RO;" in host.files[export_file("new")]
    assert export_file("other") in host.files
    conf = host.files[f"{CONF_DIR}/ganesha.conf"]
    assert all(export_file(k) in conf for k in ("keep", "new", "other"))
    assert host.calls.count(["ganesha.nfsd", "-f", f"{CONF_DIR}/ganesha.conf", "-L", f"{CONF_DIR}/ganesha.log",
                             "-p", f"{CONF_DIR}/ganesha.pid"]) == 1


def test_a_pid_that_is_not_our_ganesha_is_not_ours():
    host = FakeGaneshaHost()
    host.files[f"/proc/{PID}/cmdline"] = "ganesha.nfsd\0-f\0/etc/ganesha/ganesha.conf\0"  # someone else's
    assert helper(host).pid() is None
    assert helper(host, manage_daemon=False).pid() == PID


def test_the_pid_is_the_first_line_of_a_pidfile_written_over_a_longer_one():
    """ganesha does not truncate its pidfile: 4242 written over 123457 leaves "4242\n7\n"."""
    host = FakeGaneshaHost()
    host.files[f"{CONF_DIR}/ganesha.pid"] = f"{PID}\n7\n"
    assert helper(host).pid() == PID


def test_three_hundred_rules_render_three_hundred_client_blocks():
    host = FakeGaneshaHost()
    rules = [rule(f"r{i}", f"10.{i // 250}.{i % 250}.1") for i in range(299)] + [rule("me", "127.0.0.1")]
    assert helper(host).apply(export("big", None, *rules)) == {}
    assert host.files[export_file("big")].count("CLIENT {") == 300


# -- problems -------------------------------------------------------------------------


def test_no_problems_when_everything_is_in_place():
    h = helper(FakeGaneshaHost())
    assert h.problems() == [] and h.healthy()


def test_problems_name_the_fix():
    host = FakeGaneshaHost(running=False, binary_present=False)
    host.rpcinfo = ""
    found = helper(host).problems()
    assert any("apt-get install nfs-ganesha nfs-ganesha-vfs" in p for p in found)
    assert any("rpcbind -w" in p for p in found)
    assert any("not running" in p and "ganesha.nfsd -f" in p for p in found)
    assert not helper(host).healthy()


def test_make_helper_builds_each_kind():
    host = FakeGaneshaHost()
    g = make_helper("ganesha", host, config_dir=CONF_DIR, nfs_port=1, mount_port=2, manage_daemon=False,
                    binary="/opt/ganesha.nfsd")
    assert (g.name, g.nfs_port, g.mount_port, g.binary) == ("ganesha", 1, 2, "/opt/ganesha.nfsd")
    assert make_helper("exportfs", host).name == "exportfs"
    assert make_helper("sharenfs", host).name == "sharenfs"
    with pytest.raises(ValueError, match="unknown NFS helper"):
        make_helper("knfsd", host)


def test_ensure_applies_the_good_exports_and_raises_for_the_bad_ones():
    host = FakeGaneshaHost()
    host.missing_paths.add("/tank/gone")
    with pytest.raises(GaneshaError) as caught:
        helper(host).ensure([export("bad key"), export("gone", "/tank/gone"), export("ok", None, rule("r", "10.0.0.1"))])
    assert set(caught.value.failed) == {"bad key", "gone"}
    assert "/tank/gone" in " ".join(caught.value.failed["gone"])
    assert "Clients = 10.0.0.1;" in host.files[export_file("ok")]
    assert export_file("ok") in host.files[f"{CONF_DIR}/ganesha.conf"]


# -- Export_Ids from a store that outlives the files ------------------------------------------


class MemoryIds:
    """An ExportIds as the database keeps them (see services/common/export_ids.py)."""

    def __init__(self, held: dict[str, int] | None = None):
        self.held = dict(held or {})
        self.released: list[str] = []

    def ids_for(self, wanted: dict[str, int | None]) -> dict[str, int]:
        for key, hint in wanted.items():
            if key not in self.held:
                free = hint if hint is not None and hint not in self.held.values() else max(self.held.values(), default=1) + 1
                self.held[key] = free
        return {key: self.held[key] for key in wanted}

    def release(self, key: str) -> None:
        self.released.append(key)
        self.held.pop(key, None)


def test_ids_come_from_the_store_whatever_the_files_say():
    host = FakeGaneshaHost()
    ids = MemoryIds({"a": 40, "b": 7})
    h = helper(host, export_ids=ids)
    h.ensure([export("b"), export("a")])
    assert (export_id(host, "a"), export_id(host, "b")) == (40, 7)
    # The files are lost while the daemon runs; written again, in another order: the same ids.
    for key in ("a", "b"):
        host.files.pop(export_file(key))
    ganesha_module._KNOWN.clear()
    h.ensure([export("a"), export("b")])
    assert (export_id(host, "a"), export_id(host, "b")) == (40, 7)


def test_an_export_the_store_does_not_know_keeps_the_id_its_file_has():
    host = FakeGaneshaHost()
    helper(host).apply(export("old"))  # before the store: an id from the files
    before = export_id(host, "old")
    ids = MemoryIds({"other": 99})
    helper(host, export_ids=ids).ensure([export("old")])
    assert export_id(host, "old") == before == ids.held["old"]


def test_a_leftover_file_holding_a_stored_id_is_dropped():
    host = FakeGaneshaHost()
    helper(host).apply(export("ghost"))  # an export that no longer exists, its file left behind
    ghost_id = export_id(host, "ghost")
    helper(host, export_ids=MemoryIds({"live": ghost_id})).apply(export("live"))
    assert export_id(host, "live") == ghost_id
    assert export_file("ghost") not in host.files
    assert export_file("ghost") not in host.files[f"{CONF_DIR}/ganesha.conf"]


def test_remove_releases_the_id_once_the_daemon_dropped_the_export():
    host = FakeGaneshaHost()
    ids = MemoryIds()
    h = helper(host, export_ids=ids)
    h.apply(export("a"))
    hups = host.hups()
    h.remove(export("a"))
    assert host.hups() == hups + 1 and ids.released == ["a"] and "a" not in ids.held


def test_an_export_that_moves_keeps_its_id_after_the_old_path_is_dropped():
    host = FakeGaneshaHost()
    h = helper(host, export_ids=MemoryIds())
    h.apply(export("a", "/tank/old"))
    first, hups = export_id(host, "a"), host.hups()
    h.apply(export("a", "/tank/new"))
    assert export_id(host, "a") == first
    assert 'Path = "/tank/new";' in host.files[export_file("a")]
    assert host.hups() == hups + 2  # the old path dropped, then the new one made


def test_changes_written_during_a_reload_wait_for_one_reload_together():
    import threading
    import time

    host = FakeGaneshaHost()
    h = helper(host)
    h.apply(export("first"))
    hups = host.hups()
    keys = [f"k{i}" for i in range(5)]
    with h._reload_lock:  # a reload under way: the five write their files meanwhile
        threads = [threading.Thread(target=h.apply, args=(export(key),)) for key in keys]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while not all(export_file(key) in host.files for key in keys) and time.monotonic() < deadline:
            time.sleep(0.01)
    for thread in threads:
        thread.join(10)
    assert all(export_file(key) in host.files[f"{CONF_DIR}/ganesha.conf"] for key in keys)
    assert host.hups() == hups + 1


def test_a_failed_reload_fails_every_change_that_waited_for_it():
    host = FakeGaneshaHost()
    h = helper(host)
    host.parse_error = True
    with pytest.raises(GaneshaError, match="rejected its configuration"):
        h.apply(export("a"))
    host.parse_error = False
    h.apply(export("b"))  # the next reload is a new one
