"""LioHelper against a fake host: the exact targetcli argv of every operation.

LIO cannot run on the development machine (no kernel target), so these tests
are what checks the helper here; the fake answers the configfs reads (`ls`,
`find ... readlink`, file reads) the way the kernel lays configfs out.
"""

from __future__ import annotations

import dataclasses

import pytest

from shoal.exports.iscsi import InvalidTarget
from shoal.exports.iscsi.base import Chap, IscsiTarget, Portal
from shoal.exports.iscsi.lio import CONFIGFS, MODULE, LioError, LioHelper, backstore_name, backstore_plugin
from shoal.hosts import CommandError, CommandResult, Secret
from shoal.hosts.runner import masked

IQN = "iqn.2026-11.org.shoal:volume-k1"
TPGT = f"{CONFIGFS}/iscsi/{IQN}/tpgt_1"
TPG = f"/iscsi/{IQN}/tpg1"
HOST1 = "iqn.2026-11.org.client:host1"
HOST2 = "iqn.2026-11.org.client:host2"
PORTAL = "10.0.0.5:3260"


def target(**changes) -> IscsiTarget:
    base = IscsiTarget("k1", IQN, "/pool/volume-k1/disk.img", Chap("user1", "secret123456"), (HOST1,), 0)
    return dataclasses.replace(base, **changes)


class FakeLioHost:
    """configfs as {directory: entries} and {file: text}; every targetcli call succeeds
    unless `fail` names it: [(argv items it contains, rc, stderr)], each used once."""

    def __init__(self):
        self.name = "fake-lio"
        self.dirs: dict[str, list[str]] = {f"{CONFIGFS}/iscsi": ["discovery_auth", "lio_version"]}
        self.files: dict[str, str] = {}
        self.links: dict[str, list[str]] = {}  # target IQN -> what its LUN links resolve to
        self.sizes: dict[str, int] = {}
        self.calls: list[list[str]] = []
        self.inputs: list[str | None] = []
        self.fail: list[tuple[tuple[str, ...], int, str]] = []
        self.mkdir_works = True

    def existing(self, iqn: str = IQN, *, acls=(), luns=("lun_0",), portals=(PORTAL,), store="fileio_3/shoal-k1"):
        self.dirs[f"{CONFIGFS}/iscsi"].append(iqn)
        base = f"{CONFIGFS}/iscsi/{iqn}/tpgt_1"
        self.dirs[base] = ["acls", "lun", "np", "attrib", "auth", "param", "enable"]
        self.dirs[f"{base}/acls"] = list(acls)
        self.dirs[f"{base}/lun"] = list(luns)
        self.dirs[f"{base}/np"] = list(portals)
        self.links[iqn] = [f"{CONFIGFS}/core/{store}"]
        return self

    def auth(self, initiator: str, user: str, secret: str, iqn: str = IQN):
        auth = f"{CONFIGFS}/iscsi/{iqn}/tpgt_1/acls/{initiator}/auth"
        self.files[f"{auth}/userid"] = user + "\n"
        self.files[f"{auth}/password"] = secret + "\n"
        return self

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        self.inputs.append(input)
        rc, out, err = 0, "", ""
        for i, (needle, code, text) in enumerate(self.fail):
            if all(n in argv for n in needle):
                del self.fail[i]
                rc, err = code, text
                break
        else:
            if argv[0] == "ls":
                entries = self.dirs.get(argv[-1])
                rc, out = (2, "") if entries is None else (0, "".join(f"{e}\n" for e in entries))
            elif argv[0] == "find":
                iqn = argv[1].split("/")[-3]
                links = self.links.get(iqn)
                rc, out = (1, "") if links is None else (0, "".join(f"{line}\n" for line in links))
            elif argv[0] == "test":  # test -d A [-o -d B ...]
                paths = [argv[i + 1] for i, a in enumerate(argv) if a == "-d"]
                rc = 0 if any(p in self.dirs for p in paths) else 1
            elif argv[0] == "mkdir" and self.mkdir_works:  # configfs: the kernel makes the fabric
                self.dirs.setdefault(argv[-1], [])
            elif argv[0] == "which":
                rc = 0
        result = CommandResult(tuple(argv), rc, out, err, 0.0)
        if rc and check:
            raise CommandError(result)
        return result

    def read_file(self, path: str) -> str | None:
        return self.files.get(path)

    def file_size(self, path: str) -> int:
        return self.sizes.get(path, 0)

    def changes(self) -> list[list[str]]:
        """The commands that change something (targetcli, tee, modprobe, mkdir), after
        apply's one-session try (`env ... targetcli`, lines on stdin: see
        test_iscsi_lio_batch.py), which this fake's configfs never shows done: what
        is left is the per-command path apply falls back to."""
        return [argv for argv in self.calls if argv[0] not in ("ls", "find", "test", "which", "env")]


def helper(host: FakeLioHost) -> LioHelper:
    return LioHelper(host, portals=[PORTAL], lun=0)


def test_apply_new_target_runs_exactly_these_commands():
    host = FakeLioHost()
    real_run = host.run

    def run(argv, **kw):  # `iscsi create` makes the TPG with targetcli's default portal
        result = real_run(argv, **kw)
        if argv[1:] == ["/iscsi", "create", IQN]:
            host.dirs[f"{TPGT}/np"] = ["0.0.0.0:3260"]
        return result

    host.run = run
    helper(host).apply(target(initiators=(HOST1, HOST2)))
    assert host.changes() == [
        ["targetcli", "/iscsi", "create", IQN],
        ["targetcli", TPG, "set", "attribute", "authentication=1", "generate_node_acls=0", "demo_mode_write_protect=1"],
        ["targetcli", "/backstores/fileio", "delete", "shoal-k1"],
        ["targetcli", "/backstores/fileio", "create", "name=shoal-k1", "file_or_dev=/pool/volume-k1/disk.img",
         "write_back=false"],
        ["targetcli", f"{TPG}/luns", "create", "/backstores/fileio/shoal-k1", "lun=0", "add_mapped_luns=true"],
        ["targetcli", f"{TPG}/portals", "delete", "0.0.0.0", "3260"],
        ["targetcli", f"{TPG}/portals", "create", "10.0.0.5", "3260"],
        ["targetcli", f"{TPG}/acls", "create", HOST1, "add_mapped_luns=true"],
        ["targetcli", f"{TPG}/acls/{HOST1}", "set", "auth", "userid=user1", "password=secret123456"],
        ["targetcli", f"{TPG}/acls", "create", HOST2, "add_mapped_luns=true"],
        ["targetcli", f"{TPG}/acls/{HOST2}", "set", "auth", "userid=user1", "password=secret123456"],
    ]  # fmt: skip


def test_the_secret_is_a_secret_in_argv():
    host = FakeLioHost()
    helper(host).apply(target())
    [argv] = [a for a in host.calls if "auth" in a]
    assert isinstance(argv[-1], Secret)
    assert "secret123456" not in masked(argv)


def test_a_zvol_gets_a_block_backstore():
    host = FakeLioHost()
    helper(host).apply(target(backing="/dev/zvol/pool/volume-k1", initiators=()))
    changes = host.changes()
    made = changes.index(["targetcli", "/backstores/block", "create", "name=shoal-k1", "dev=/dev/zvol/pool/volume-k1"])
    lun = ["targetcli", f"{TPG}/luns", "create", "/backstores/block/shoal-k1", "lun=0", "add_mapped_luns=true"]
    assert changes[made + 1] == lun


def test_apply_of_an_unchanged_target_changes_nothing():
    host = FakeLioHost().existing(acls=[HOST1]).auth(HOST1, "user1", "secret123456")
    helper(host).apply(target())
    assert host.changes() == []


def test_apply_fixes_acls_credentials_luns_and_portals():
    host = FakeLioHost().existing(acls=[HOST1, HOST2], luns=["lun_0", "lun_4"], portals=["0.0.0.0:3260"])
    host.auth(HOST1, "user1", "old-secret").auth(HOST2, "user1", "secret123456")
    helper(host).apply(target(initiators=(HOST1,)))
    assert host.changes() == [
        ["targetcli", f"{TPG}/luns", "delete", "lun=4"],
        ["targetcli", f"{TPG}/portals", "delete", "0.0.0.0", "3260"],
        ["targetcli", f"{TPG}/portals", "create", "10.0.0.5", "3260"],
        ["targetcli", f"{TPG}/acls/{HOST1}", "set", "auth", "userid=user1", "password=secret123456"],
        ["targetcli", f"{TPG}/acls", "delete", HOST2],
    ]


def test_no_initiators_deletes_every_acl():
    host = FakeLioHost().existing(acls=[HOST1, HOST2])
    helper(host).apply(target(initiators=()))
    assert host.changes() == [
        ["targetcli", f"{TPG}/acls", "delete", HOST1],
        ["targetcli", f"{TPG}/acls", "delete", HOST2],
    ]


def test_a_missing_lun_is_recreated_on_an_existing_target():
    host = FakeLioHost().existing(acls=[HOST1], luns=[]).auth(HOST1, "user1", "secret123456")
    helper(host).apply(target())
    assert host.changes() == [
        ["targetcli", "/backstores/fileio", "delete", "shoal-k1"],
        ["targetcli", "/backstores/fileio", "create", "name=shoal-k1", "file_or_dev=/pool/volume-k1/disk.img",
         "write_back=false"],
        ["targetcli", f"{TPG}/luns", "create", "/backstores/fileio/shoal-k1", "lun=0", "add_mapped_luns=true"],
    ]  # fmt: skip


@pytest.mark.parametrize("bad", [{"backing": "/a b"}, {"chap": Chap("user1", "two words")}, {"iqn": "nope"}])
def test_invalid_targets_run_nothing(bad):
    host = FakeLioHost()
    with pytest.raises(InvalidTarget):
        helper(host).apply(target(**bad))
    assert host.calls == []


def test_remove_deletes_the_target_then_its_backstore():
    host = FakeLioHost().existing(store="fileio_3/shoal-k1")
    helper(host).remove("k1")
    assert host.changes() == [
        ["targetcli", "/iscsi", "delete", IQN],
        ["targetcli", "/backstores/fileio", "delete", "shoal-k1"],
    ]


def test_remove_by_iqn_finds_the_backstore_through_the_lun_link():
    host = FakeLioHost().existing(store="iblock_0/some-zvol")
    helper(host).remove(IQN)
    assert host.changes() == [
        ["targetcli", "/iscsi", "delete", IQN],
        ["targetcli", "/backstores/block", "delete", "some-zvol"],
    ]


def test_remove_of_nothing_cleans_a_leftover_backstore_and_is_idempotent():
    host = FakeLioHost()
    helper(host).remove("k1")
    helper(host).remove(IQN)
    assert host.changes() == [
        ["targetcli", "/backstores/fileio", "delete", "shoal-k1"],
        ["targetcli", "/backstores/block", "delete", "shoal-k1"],
    ]


def test_resize_of_a_file_writes_its_new_size_to_control():
    host = FakeLioHost().existing(store="fileio_3/shoal-k1")
    store = f"{CONFIGFS}/core/fileio_3/shoal-k1"
    host.files[f"{store}/udev_path"] = "/pool/volume-k1/disk.img\n"
    host.sizes["/pool/volume-k1/disk.img"] = 128 * 1024 * 1024
    helper(host).resize("k1")
    assert host.changes() == [["tee", f"{store}/control"]]
    assert host.inputs[host.calls.index(["tee", f"{store}/control"])] == "fd_dev_size=134217728\n"


def test_resize_of_a_zvol_needs_nothing_and_of_nothing_raises():
    host = FakeLioHost().existing(store="iblock_2/shoal-k1")
    helper(host).resize("k1")
    assert host.changes() == []
    with pytest.raises(LioError, match="no LIO target"):
        helper(FakeLioHost()).resize("k1")


def test_ensure_applies_all_and_reports_every_failure():
    host = FakeLioHost()
    host.fail.append((("/iscsi", "create", IQN), 1, "Target already exists"))
    two = target(key="k2", iqn="iqn.2026-11.org.shoal:volume-k2")
    with pytest.raises(LioError) as caught:
        helper(host).ensure([target(), two])
    assert list(caught.value.failed) == ["k1"]
    assert ["targetcli", "/iscsi", "create", "iqn.2026-11.org.shoal:volume-k2"] in host.changes()


def test_start_loads_the_module_and_problems_name_the_fix():
    host = FakeLioHost()
    del host.dirs[f"{CONFIGFS}/iscsi"]  # module not loaded, and it cannot be
    host.mkdir_works = False
    with pytest.raises(LioError, match="modprobe iscsi_target_mod"):
        helper(host).start()
    assert host.changes() == [["modprobe", "iscsi_target_mod"], ["mkdir", f"{CONFIGFS}/iscsi"]]
    assert "modprobe iscsi_target_mod" in helper(host).problems()[0]
    host.dirs[f"{CONFIGFS}/iscsi"] = []
    host.calls.clear()
    helper(host).start()
    assert host.changes() == []
    assert helper(host).problems() == []


def test_a_freshly_booted_host_has_the_module_but_no_fabric_directory():
    """Found by the kernel lane: after a boot iscsi_target_mod is loaded, but the
    kernel makes configfs' target/iscsi only when something creates it. That is
    healthy, and start() creates it as targetcli would."""
    host = FakeLioHost()
    del host.dirs[f"{CONFIGFS}/iscsi"]
    host.dirs[MODULE] = []
    assert helper(host).problems() == []
    helper(host).start()
    assert host.changes() == [["modprobe", "iscsi_target_mod"], ["mkdir", f"{CONFIGFS}/iscsi"]]
    assert f"{CONFIGFS}/iscsi" in host.dirs
    assert helper(host).problems() == []


def test_names_and_portals():
    assert backstore_name("1b4e28ba-2fa1-11d2-883f-0016d3cca427") == "shoal-1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert backstore_name("a/b c") == "shoal-a_b_c"
    assert (backstore_plugin("/dev/zvol/p/v"), backstore_plugin("/p/v/disk.img")) == ("block", "fileio")
    assert helper(FakeLioHost()).portals() == [Portal("10.0.0.5", 3260)]


def test_alive_until_lio_lost_every_target_this_helper_made():
    """A restart or `targetctl clear` of the kernel target shows in no process: the
    daemon watch sees it as every target this helper made gone from configfs."""
    host = FakeLioHost()
    lio = helper(host)
    assert lio.alive()  # nothing made: nothing to miss
    lio.apply(target())
    host.existing()  # what the apply made, as configfs shows it
    assert lio.alive()
    host.dirs[f"{CONFIGFS}/iscsi"].remove(IQN)  # cleared
    assert not lio.alive()
    host.existing()
    lio.remove("k1")
    host.dirs[f"{CONFIGFS}/iscsi"].remove(IQN)
    assert lio.alive()  # removed by Shoal: not a loss


def test_a_target_the_pass_could_not_make_again_is_not_waited_for():
    """Else the watch would see LIO "lost" it every second and start a pass each time."""
    host = FakeLioHost()
    lio = helper(host)
    lio.apply(target())
    assert not lio.alive()  # LIO cleared (the fake's configfs never held it)
    host.fail = [(("/iscsi", "create"), 1, "No such path")]
    with pytest.raises(LioError):
        lio.ensure([target()])
    assert lio.alive()
