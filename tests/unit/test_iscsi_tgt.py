"""TgtHelper against a fake host: the show-output parser (on output recorded from
tgt 1.0.85 on this project's Debian 12 machine) and the exact tgtadm argv of
every operation. The real daemon is exercised in tests/integration/test_tgt_targets.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from shoal.exports.iscsi import InvalidTarget, check_target, iqn_for_key, make_helper
from shoal.exports.iscsi import tgt as tgt_module
from shoal.exports.iscsi.base import Chap, IscsiTarget, Portal
from shoal.exports.iscsi.lio import LioHelper
from shoal.exports.iscsi.tgt import (
    TgtError,
    TgtHelper,
    parse_accounts,
    parse_portals,
    parse_targets,
)
from shoal.hosts import CommandError, CommandResult, Secret
from shoal.hosts.runner import masked, run_with_retry

# `tgtadm -C 517 --op show --mode target` with three targets: one with an
# initiator logged in (qemu-io), one bare, one with an address ACL and an outgoing
# account. "Backing store flags: " lines end with a space, as tgtd prints them.
RECORDED = (
    'Target 1: iqn.2026-11.org.shoal.test:vol1\n'
    '    System information:\n'
    '        Driver: iscsi\n'
    '        State: ready\n'
    '    I_T nexus information:\n'
    '        I_T nexus: 12\n'
    '            Initiator: iqn.2026-11.org.client:host1 alias: none\n'
    '            Connection: 0\n'
    '                IP Address: 127.0.0.1\n'
    '    LUN information:\n'
    '        LUN: 0\n'
    '            Type: controller\n'
    '            SCSI ID: IET     00010000\n'
    '            SCSI SN: beaf10\n'
    '            Size: 0 MB, Block size: 1\n'
    '            Online: Yes\n'
    '            Removable media: No\n'
    '            Prevent removal: No\n'
    '            Readonly: No\n'
    '            SWP: No\n'
    '            Thin-provisioning: No\n'
    '            Backing store type: null\n'
    '            Backing store path: None\n'
    '            Backing store flags: \n'
    '        LUN: 1\n'
    '            Type: disk\n'
    '            SCSI ID: IET     00010001\n'
    '            SCSI SN: beaf11\n'
    '            Size: 134 MB, Block size: 512\n'
    '            Online: Yes\n'
    '            Removable media: No\n'
    '            Prevent removal: No\n'
    '            Readonly: No\n'
    '            SWP: No\n'
    '            Thin-provisioning: No\n'
    '            Backing store type: rdwr\n'
    '            Backing store path: /tmp/tgtexp/disk1.img\n'
    '            Backing store flags: \n'
    '    Account information:\n'
    '        u1\n'
    '    ACL information:\n'
    '        iqn.2026-11.org.client:host1\n'
    'Target 2: iqn.2026-11.org.other:x\n'
    '    System information:\n'
    '        Driver: iscsi\n'
    '        State: ready\n'
    '    I_T nexus information:\n'
    '    LUN information:\n'
    '        LUN: 0\n'
    '            Type: controller\n'
    '            SCSI ID: IET     00020000\n'
    '            SCSI SN: beaf20\n'
    '            Size: 0 MB, Block size: 1\n'
    '            Online: Yes\n'
    '            Removable media: No\n'
    '            Prevent removal: No\n'
    '            Readonly: No\n'
    '            SWP: No\n'
    '            Thin-provisioning: No\n'
    '            Backing store type: null\n'
    '            Backing store path: None\n'
    '            Backing store flags: \n'
    '    Account information:\n'
    '    ACL information:\n'
    'Target 3: iqn.2026-11.org.shoal.test:vol3\n'
    '    System information:\n'
    '        Driver: iscsi\n'
    '        State: ready\n'
    '    I_T nexus information:\n'
    '    LUN information:\n'
    '        LUN: 0\n'
    '            Type: controller\n'
    '            SCSI ID: IET     00030000\n'
    '            SCSI SN: beaf30\n'
    '            Size: 0 MB, Block size: 1\n'
    '            Online: Yes\n'
    '            Removable media: No\n'
    '            Prevent removal: No\n'
    '            Readonly: No\n'
    '            SWP: No\n'
    '            Thin-provisioning: No\n'
    '            Backing store type: null\n'
    '            Backing store path: None\n'
    '            Backing store flags: \n'
    '        LUN: 1\n'
    '            Type: disk\n'
    '            SCSI ID: IET     00030001\n'
    '            SCSI SN: beaf31\n'
    '            Size: 34 MB, Block size: 512\n'
    '            Online: Yes\n'
    '            Removable media: No\n'
    '            Prevent removal: No\n'
    '            Readonly: No\n'
    '            SWP: No\n'
    '            Thin-provisioning: No\n'
    '            Backing store type: rdwr\n'
    '            Backing store path: /tmp/tgtexp/disk2.img\n'
    '            Backing store flags: \n'
    '    Account information:\n'
    '        u1\n'
    '        out1 (outgoing)\n'
    '    ACL information:\n'
    '        127.0.0.1\n'
    '        iqn.2026-11.org.client:host2\n'
)

RECORDED_ACCOUNTS = "Account list:\n    out1\n    u1\n"
RECORDED_PORTALS = "Portal: 127.0.0.1:23262,1\nPortal: 127.0.0.1:23261,1\n"
RECORDED_FALLBACK_PORTALS = "Portal: [::]:3260,1\nPortal: 0.0.0.0:3260,1\n"

IQN = "iqn.2026-11.org.shoal:volume-k1"
HOST1 = "iqn.2026-11.org.client:host1"
HOST2 = "iqn.2026-11.org.client:host2"
PORTAL = "127.0.0.1:3260"
BACKING = "/pool/volume-k1/disk.img"
NOT_CONNECTED = "Transport endpoint is not connected"


def target(**changes) -> IscsiTarget:
    base = IscsiTarget("k1", IQN, "/pool/volume-k1/disk.img", Chap("user1", "secret123456"), (HOST1,), 1)
    return dataclasses.replace(base, **changes)


def show(
    tid: int, iqn: str, *, backing: str | None = None, accounts=(), outgoing=(), acl=(), online=True, sessions=()
) -> str:
    """One target as tgtadm shows it (the shape of RECORDED)."""
    lines = [f"Target {tid}: {iqn}", "    System information:", "        Driver: iscsi", "        State: ready"]
    lines.append("    I_T nexus information:")
    for n, name in enumerate(sessions, 1):
        lines += [f"        I_T nexus: {n}", f"            Initiator: {name} alias: none", "            Connection: 0",
                  "                IP Address: 127.0.0.1"]  # fmt: skip
    lines += ["    LUN information:", "        LUN: 0", "            Type: controller",
              "            Size: 0 MB, Block size: 1", "            Online: Yes",
              "            Backing store type: null", "            Backing store path: None"]  # fmt: skip
    if backing:
        lines += ["        LUN: 1", "            Type: disk", "            Size: 67 MB, Block size: 512",
                  f"            Online: {'Yes' if online else 'No'}", "            Backing store type: rdwr",
                  f"            Backing store path: {backing}", "            Backing store flags: "]  # fmt: skip
    lines.append("    Account information:")
    lines += [f"        {a}" for a in accounts] + [f"        {a} (outgoing)" for a in outgoing]
    lines.append("    ACL information:")
    lines += [f"        {a}" for a in acl]
    return "\n".join(lines) + "\n"


class FakeTgtHost:
    """Answers tgtadm's show commands from strings; every other command succeeds,
    unless `fail` names it: [(argv items it contains, rc, stderr)], each used once."""

    def __init__(self, targets: str = "", accounts: str = "Account list:\n", portals: str = f"Portal: {PORTAL},1\n"):
        self.name = "fake"
        self.shows = {"target": targets, "account": accounts, "portal": portals, "sys": "System:\n    State: ready\n"}
        self.answering = True
        self.installed = True
        self.calls: list[list[str]] = []
        self.fail: list[tuple[tuple[str, ...], int, str]] = []
        self.on_start = None  # called when tgtd is run
        self.on_batch = None  # called when xargs runs a batch of tgtadm lines
        self.files: dict[str, tuple[str, int]] = {}  # path -> (content, mode), as written
        self.removed: list[str] = []
        self.write_fails = False

    def write_file(self, path: str, content: str, mode: int = 0o644) -> None:
        if self.write_fails:
            raise CommandError(CommandResult(("dd", f"of={path}"), 1, "", "dd: Read-only file system", 0.0))
        self.files[path] = (content, mode)

    def remove_file(self, path: str) -> None:
        self.removed.append(path)

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None) -> CommandResult:
        return run_with_retry(self._once, argv, check, retry)  # as a real host does

    def _once(self, argv) -> CommandResult:
        self.calls.append(list(argv))
        rc, out, err = 0, "", ""
        for i, (needle, code, text) in enumerate(self.fail):
            if all(n in argv for n in needle):
                del self.fail[i]
                rc, err = code, text
                break
        else:
            if argv[0] == "which":
                rc = 0 if self.installed else 1
            elif argv[0] == "tgtd":
                if self.on_start:
                    self.on_start()
            elif argv[0] == "xargs":
                if self.on_batch:
                    self.on_batch()
            elif "show" in argv:
                if self.answering:
                    out = self.shows[argv[argv.index("--mode") + 1]]
                else:
                    rc, err = 107, f"tgtadm: failed to send request hdr to tgt daemon, {NOT_CONNECTED}"
        return CommandResult(tuple(argv), rc, out, err, 0.0)

    def changes(self) -> list[list[str]]:
        """The commands run other than shows, without the `tgtadm -C N --lld iscsi` prefix."""
        found = []
        for argv in self.calls:
            if argv[0] == "tgtadm" and "show" not in argv:
                found.append(argv[5:] if argv[3:5] == ["--lld", "iscsi"] else argv[3:])
            elif argv[0] not in ("tgtadm", "which"):
                found.append(argv)
        return found


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    """Each test is a new Shoal process: no remembered secrets or keys."""
    monkeypatch.setattr(tgt_module, "_STATES", {})


def helper(host: FakeTgtHost, **options) -> TgtHelper:
    options.setdefault("portals", [PORTAL])
    return TgtHelper(host, **options)


# -- parser -----------------------------------------------------------------------------


def test_parser_reads_the_recorded_output():
    one, two, three = parse_targets(RECORDED)
    assert (one.tid, one.iqn, one.state) == (1, "iqn.2026-11.org.shoal.test:vol1", "ready")
    sessions = [(s.nexus, s.initiator, s.addresses) for s in one.sessions]
    assert sessions == [(12, "iqn.2026-11.org.client:host1", ["127.0.0.1"])]
    assert [(lun.lun, lun.type, lun.backing_type, lun.backing_path) for lun in one.luns] == [
        (0, "controller", "null", None),
        (1, "disk", "rdwr", "/tmp/tgtexp/disk1.img"),
    ]
    disk = one.lun(1)
    assert (disk.size_mb, disk.block_size, disk.online) == (134, 512, True)
    assert one.accounts == ["u1"] and one.outgoing == [] and one.acl == ["iqn.2026-11.org.client:host1"]
    assert (two.tid, two.iqn, two.accounts, two.acl, two.sessions) == (2, "iqn.2026-11.org.other:x", [], [], [])
    assert [lun.lun for lun in two.luns] == [0] and two.lun(1) is None
    assert three.accounts == ["u1"] and three.outgoing == ["out1"]
    assert three.acl == ["127.0.0.1", "iqn.2026-11.org.client:host2"]
    assert three.address_acl == ["127.0.0.1"] and three.initiator_acl == ["iqn.2026-11.org.client:host2"]


def test_parser_of_an_empty_daemon_and_of_the_test_renderer():
    assert parse_targets("") == []
    text = show(4, IQN, backing="/a b/c", accounts=["u"], outgoing=["o"], acl=[HOST1], online=False, sessions=[HOST2])
    [parsed] = parse_targets(text)
    assert parsed.lun(1).backing_path == "/a b/c" and parsed.lun(1).online is False
    assert (parsed.accounts, parsed.outgoing, parsed.acl) == (["u"], ["o"], [HOST1])
    assert parsed.sessions[0].initiator == HOST2


@pytest.mark.parametrize(
    "text",
    ["Something else\n", "    ACL information:\n", "Target 1: x\n    LUN information:\n        Bogus: 1\n"],
)
def test_parser_refuses_shapes_it_does_not_know(text):
    with pytest.raises(ValueError):
        parse_targets(text)


def test_account_and_portal_lists():
    assert parse_accounts(RECORDED_ACCOUNTS) == ["out1", "u1"]
    assert parse_accounts("Account list:\n") == []
    assert parse_portals(RECORDED_PORTALS) == ["127.0.0.1:23262", "127.0.0.1:23261"]
    assert parse_portals(RECORDED_FALLBACK_PORTALS) == ["[::]:3260", "0.0.0.0:3260"]


# -- apply ------------------------------------------------------------------------------


def test_apply_new_target_runs_exactly_these_commands():
    host = FakeTgtHost()
    helper(host, control_port=517).apply(target(initiators=(HOST1, HOST2)))
    assert host.calls[0] == ["tgtadm", "-C", "517", "--lld", "iscsi", "--op", "show", "--mode", "target"]
    assert host.changes() == [
        ["--op", "new", "--mode", "target", "--tid", "1", "-T", IQN],
        ["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "--bstype", "rdwr", "-b", BACKING],
        ["--op", "new", "--mode", "account", "--user", "user1", "--password", "secret123456"],
        ["--op", "bind", "--mode", "account", "--tid", "1", "--user", "user1"],
        ["--op", "bind", "--mode", "target", "--tid", "1", "-Q", HOST1],
        ["--op", "bind", "--mode", "target", "--tid", "1", "-Q", HOST2],
    ]


def test_the_chap_secret_is_a_secret_in_argv_and_masked_in_logs_and_errors():
    host = FakeTgtHost()
    host.fail.append((("account", "new"), 22, "tgtadm: secret123456 is not liked"))
    with pytest.raises(CommandError) as caught:
        helper(host).apply(target())
    [argv] = [a for a in host.calls if "--password" in a]
    assert isinstance(argv[-1], Secret)
    assert "secret123456" not in masked(argv) and "***" in masked(argv)
    assert "secret123456" not in str(caught.value)


def test_new_target_takes_the_smallest_free_tid():
    host = FakeTgtHost(show(1, "iqn.2026-11.org.x:a") + show(3, "iqn.2026-11.org.x:b"))
    helper(host).apply(target())
    assert host.changes()[0] == ["--op", "new", "--mode", "target", "--tid", "2", "-T", IQN]


def test_a_tid_taken_meanwhile_is_retried_with_the_next_one():
    host = FakeTgtHost()
    host.fail.append((("new", "target", "1"), 22, "tgtadm: this target already exists"))
    real_run = host.run

    def run(argv, **kw):
        result = real_run(argv, **kw)
        if "-T" in argv and result.returncode:  # another process took tid 1 for its own target
            host.shows["target"] = show(1, "iqn.2026-11.org.shoal:volume-other")
        return result

    host.run = run
    helper(host).apply(target())
    news = [c for c in host.changes() if c[:4] == ["--op", "new", "--mode", "target"]]
    assert [c[5] for c in news] == ["1", "2"]
    assert ["--op", "bind", "--mode", "account", "--tid", "2", "--user", "user1"] in host.changes()


def test_a_target_made_meanwhile_by_another_process_is_used():
    host = FakeTgtHost()
    host.fail.append((("new", "target"), 22, "tgtadm: this target already exists"))
    real_run = host.run

    def run(argv, **kw):
        result = real_run(argv, **kw)
        if "-T" in argv:  # the other process created it: now shown at tid 1
            host.shows["target"] = show(1, IQN)
        return result

    host.run = run
    helper(host).apply(target())
    assert ["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "--bstype", "rdwr", "-b",
            "/pool/volume-k1/disk.img"] in host.changes()  # fmt: skip


def test_apply_again_in_the_same_process_changes_nothing():
    host = FakeTgtHost()
    tgt = helper(host)
    tgt.apply(target())
    host.shows["target"] = show(1, IQN, backing="/pool/volume-k1/disk.img", accounts=["user1"], acl=[HOST1])
    host.shows["account"] = "Account list:\n    user1\n"
    host.calls.clear()
    tgt.apply(target())
    assert host.changes() == []
    assert len(host.calls) == 2  # show target, show account


def test_apply_fixes_acl_accounts_and_outgoing_to_exactly_the_target():
    host = FakeTgtHost(
        show(5, IQN, backing="/pool/volume-k1/disk.img", accounts=["user1", "olduser"], outgoing=["out1"],
             acl=["ALL", HOST2, "10.0.0.1"]),
        "Account list:\n    olduser\n    out1\n    user1\n",
    )  # fmt: skip
    tgt = helper(host)
    tgt._state.secrets["user1"] = tgt_module._digest("user1", "secret123456")  # set earlier by this process
    tgt.apply(target())
    assert host.changes() == [
        ["--op", "unbind", "--mode", "account", "--tid", "5", "--user", "olduser"],
        ["--op", "delete", "--mode", "account", "--user", "olduser"],
        ["--op", "unbind", "--mode", "account", "--tid", "5", "--user", "out1", "--outgoing"],
        ["--op", "bind", "--mode", "target", "--tid", "5", "-Q", HOST1],
        ["--op", "unbind", "--mode", "target", "--tid", "5", "-Q", HOST2],
        ["--op", "unbind", "--mode", "target", "--tid", "5", "-I", "ALL"],
        ["--op", "unbind", "--mode", "target", "--tid", "5", "-I", "10.0.0.1"],
    ]


def test_no_initiators_unbinds_every_acl_entry():
    host = FakeTgtHost(show(1, IQN, backing="/pool/volume-k1/disk.img", accounts=["user1"], acl=[HOST1, HOST2]),
                       "Account list:\n    user1\n")  # fmt: skip
    tgt = helper(host)
    tgt._state.secrets["user1"] = tgt_module._digest("user1", "secret123456")
    tgt.apply(target(initiators=()))
    assert host.changes() == [
        ["--op", "unbind", "--mode", "target", "--tid", "1", "-Q", HOST1],
        ["--op", "unbind", "--mode", "target", "--tid", "1", "-Q", HOST2],
    ]


def test_an_unknown_secret_is_reset_behind_a_guard_account():
    """The only account of a target with an ACL: deleting it would open the
    target without CHAP, so a guard with a random secret is bound meanwhile."""
    host = FakeTgtHost(show(2, IQN, backing="/pool/volume-k1/disk.img", accounts=["user1"], acl=[HOST1]),
                       "Account list:\n    user1\n")  # fmt: skip
    helper(host).apply(target())
    changes = host.changes()
    assert changes[0][:6] == ["--op", "new", "--mode", "account", "--user", "shoal-guard-2"]
    assert isinstance(changes[0][-1], Secret) and len(changes[0][-1]) == 32
    assert changes[1:] == [
        ["--op", "bind", "--mode", "account", "--tid", "2", "--user", "shoal-guard-2"],
        ["--op", "delete", "--mode", "account", "--user", "user1"],
        ["--op", "new", "--mode", "account", "--user", "user1", "--password", "secret123456"],
        ["--op", "bind", "--mode", "account", "--tid", "2", "--user", "user1"],
        ["--op", "unbind", "--mode", "account", "--tid", "2", "--user", "shoal-guard-2"],
        ["--op", "delete", "--mode", "account", "--user", "shoal-guard-2"],
    ]


def test_a_changed_secret_is_reset_too():
    host = FakeTgtHost(show(2, IQN, backing="/pool/volume-k1/disk.img", accounts=["user1"], acl=[]),
                       "Account list:\n    user1\n")  # fmt: skip
    tgt = helper(host)
    tgt._state.secrets["user1"] = tgt_module._digest("user1", "old-secret-1234")
    tgt.apply(target(initiators=()))
    assert host.changes() == [  # no ACL: nobody can log in meanwhile, no guard needed
        ["--op", "delete", "--mode", "account", "--user", "user1"],
        ["--op", "new", "--mode", "account", "--user", "user1", "--password", "secret123456"],
        ["--op", "bind", "--mode", "account", "--tid", "2", "--user", "user1"],
    ]


def test_a_chap_user_bound_to_another_target_is_refused():
    host = FakeTgtHost(show(1, "iqn.2026-11.org.shoal:volume-other", accounts=["user1"]), "Account list:\n    user1\n")
    with pytest.raises(TgtError, match="already bound to target iqn.2026-11.org.shoal:volume-other"):
        helper(host).apply(target())
    assert ["--op", "delete", "--mode", "target", "--tid", "2", "--force"] in host.changes()  # the half-made one


def test_a_changed_or_offline_backing_is_reopened_and_other_luns_dropped():
    host = FakeTgtHost(show(1, IQN, backing="/old/path.img", accounts=["user1"], acl=[HOST1]).replace(
        "    Account information:", "        LUN: 2\n            Type: disk\n    Account information:"),
        "Account list:\n    user1\n")  # fmt: skip
    tgt = helper(host)
    tgt._state.secrets["user1"] = tgt_module._digest("user1", "secret123456")
    tgt.apply(target())
    assert host.changes() == [
        ["--op", "delete", "--mode", "logicalunit", "--tid", "1", "--lun", "2"],
        ["--op", "update", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "--params",
         "online=0,path=/pool/volume-k1/disk.img"],
    ]  # fmt: skip


def test_a_backing_tgtd_cannot_open_fails_and_deletes_the_new_target():
    host = FakeTgtHost()
    host.fail.append((("logicalunit", "new"), 22, "tgtadm: invalid request"))
    with pytest.raises(TgtError, match="cannot open /pool/volume-k1/disk.img"):
        helper(host).apply(target())
    assert host.changes()[-1] == ["--op", "delete", "--mode", "target", "--tid", "1", "--force"]


@pytest.mark.parametrize(
    "bad",
    [
        {"lun": 0},
        {"iqn": "volume-1"},
        {"initiators": ("not an iqn",)},
        {"backing": "relative/path"},
        {"backing": "/with space"},
        {"backing": "/with,comma"},
        {"chap": Chap("user one", "secret123456")},
        {"chap": Chap("user1", "has space")},
        {"chap": Chap("user1", "")},
    ],
)
def test_invalid_targets_run_nothing(bad):
    host = FakeTgtHost()
    with pytest.raises(InvalidTarget):
        helper(host).apply(target(**bad))
    assert host.calls == []


def test_check_target_accepts_lun_0_for_lio_and_eui_initiators():
    assert check_target(target(lun=0, initiators=("eui.0123456789ABCDEF",))).lun == 0


# -- remove, resize ----------------------------------------------------------------------


def test_remove_deletes_the_target_and_its_unshared_accounts():
    host = FakeTgtHost(
        show(3, IQN, backing="/b", accounts=["user1", "shared"], outgoing=["out1"], sessions=[HOST1])
        + show(4, "iqn.2026-11.org.x:other", accounts=["shared"]),
        "Account list:\n    out1\n    shared\n    user1\n",
    )
    helper(host).remove("k1")
    assert host.changes() == [
        ["--op", "delete", "--mode", "target", "--tid", "3", "--force"],
        ["--op", "delete", "--mode", "account", "--user", "out1"],
        ["--op", "delete", "--mode", "account", "--user", "user1"],
    ]


def test_remove_waits_out_a_lun_with_commands_in_flight_and_nothing_else(monkeypatch):
    busy = (("delete", "target"), 22, "tgtadm: this logical unit is still active")
    host = FakeTgtHost(show(3, IQN, backing="/b", sessions=[HOST1]))
    host.fail = [busy, busy]  # an initiator's I/O at that very moment, twice
    helper(host).remove("k1")
    assert host.changes().count(["--op", "delete", "--mode", "target", "--tid", "3", "--force"]) == 3
    monkeypatch.setattr(tgt_module, "_STATES", {})  # a new process reads tgtd afresh
    host = FakeTgtHost(show(3, IQN, backing="/b"))
    host.fail = [(("delete", "target"), 22, "tgtadm: out of memory")]
    with pytest.raises(TgtError, match="out of memory"):
        helper(host).remove("k1")
    assert host.changes() == [["--op", "delete", "--mode", "target", "--tid", "3", "--force"]]


def test_remove_of_nothing_and_by_iqn(monkeypatch):
    host = FakeTgtHost()
    tgt = helper(host)
    tgt.remove("k1")
    tgt.remove(IQN)
    assert host.changes() == []
    host.shows["target"] = show(7, IQN)
    monkeypatch.setattr(tgt_module, "_STATES", {})  # a new process reads tgtd afresh
    helper(host).remove(IQN)
    assert host.changes() == [["--op", "delete", "--mode", "target", "--tid", "7", "--force"]]


# -- what the helper remembers of an owned tgtd ----------------------------------------


def shows(host: FakeTgtHost) -> int:
    return sum(1 for argv in host.calls if "show" in argv)


def test_new_targets_after_the_first_are_made_from_memory():
    host = FakeTgtHost()
    tgt = helper(host)
    tgt.apply(target())
    assert shows(host) == 2  # targets and accounts, once
    tgt.apply(target(key="k2", iqn="iqn.2026-11.org.shoal.test:vol2", chap=Chap("user2", "secret223456")))
    assert shows(host) == 2
    assert host.changes()[-5] == ["--op", "new", "--mode", "target", "--tid", "2", "-T", "iqn.2026-11.org.shoal.test:vol2"]


def test_an_existing_target_is_always_checked_against_tgtd():
    host = FakeTgtHost()
    tgt = helper(host)
    tgt.apply(target())
    tgt.apply(target(initiators=(HOST1, HOST2)))
    assert shows(host) == 4


def test_stale_memory_is_read_again_and_the_apply_retried():
    host = FakeTgtHost()
    tgt = helper(host)
    tgt.apply(target())
    # Someone else took tid 2 and made user2 behind Shoal's back.
    host.shows["target"] = show(1, IQN, backing=BACKING, accounts=["user1"]) + show(2, "iqn.2026-11.org.other:x")
    host.shows["account"] = "Account list:\n    user1\n    user2\n"
    host.fail = [(("new", "target", "2"), 22, "tgtadm: this target already exists"),
                 (("new", "account", "user2"), 22, "tgtadm: this account already exists")]
    tgt.apply(target(key="k2", iqn="iqn.2026-11.org.shoal.test:vol2", chap=Chap("user2", "secret223456")))
    assert shows(host) > 2
    changes = host.changes()
    assert ["--op", "new", "--mode", "target", "--tid", "3", "-T", "iqn.2026-11.org.shoal.test:vol2"] in changes
    assert ["--op", "delete", "--mode", "account", "--user", "user2"] in changes  # reset: its secret is unknown


def test_removing_what_was_never_exported_runs_nothing():
    host = FakeTgtHost()
    tgt = helper(host)
    tgt.apply(target())
    before = len(host.calls)
    tgt.remove("never-exported")
    assert len(host.calls) == before
    host.shows["target"] = show(1, IQN, backing=BACKING, accounts=["user1"], acl=[HOST1])
    host.shows["account"] = "Account list:\n    user1\n"
    tgt.remove("k1")  # one that is there is deleted after reading tgtd
    assert host.changes()[-2:] == [["--op", "delete", "--mode", "target", "--tid", "1", "--force"],
                                   ["--op", "delete", "--mode", "account", "--user", "user1"]]


def test_start_and_an_unowned_daemon_forget_the_memory():
    host = FakeTgtHost()
    tgt = helper(host)
    tgt.apply(target())
    tgt.start()
    tgt.apply(target(key="k2", iqn="iqn.2026-11.org.shoal.test:vol2", chap=Chap("user2", "secret223456")))
    assert shows(host) > 2
    other = FakeTgtHost()
    unowned = helper(other, manage_daemon=False, control_port=9)
    unowned.apply(target())
    unowned.apply(target(key="k2", iqn="iqn.2026-11.org.shoal.test:vol2", chap=Chap("user2", "secret223456")))
    assert shows(other) == 4


def test_remove_after_a_half_done_apply_deletes_the_known_account():
    host = FakeTgtHost()
    tgt = helper(host)
    tgt.apply(target())
    host.shows["account"] = "Account list:\n    user1\n"  # target gone (shows empty), account left
    host.calls.clear()
    tgt.remove("k1")
    assert host.changes() == [["--op", "delete", "--mode", "account", "--user", "user1"]]


def test_remove_refuses_an_ambiguous_key():
    host = FakeTgtHost(show(1, "iqn.2026-11.org.a:volume-k1") + show(2, "iqn.2026-11.org.b:volume-k1"))
    with pytest.raises(TgtError, match="several targets"):
        helper(host).remove("k1")
    assert host.changes() == []


def test_resize_reopens_the_backing():
    host = FakeTgtHost(show(2, IQN, backing="/pool/volume-k1/disk.img"))
    helper(host).resize("k1")
    assert host.changes() == [
        ["--op", "update", "--mode", "logicalunit", "--tid", "2", "--lun", "1", "--params",
         "online=0,path=/pool/volume-k1/disk.img"],
    ]  # fmt: skip


def test_a_failed_resize_brings_the_lun_back_online_and_raises():
    host = FakeTgtHost(show(2, IQN, backing="/pool/volume-k1/disk.img"))
    host.fail.append((("update", "online=0,path=/pool/volume-k1/disk.img"), 22, "tgtadm: invalid request"))
    with pytest.raises(TgtError, match="cannot re-open"):
        helper(host).resize("k1")
    back_online = ["--op", "update", "--mode", "logicalunit", "--tid", "2", "--lun", "1", "--params", "online=1"]
    assert host.changes()[-1] == back_online


def test_resize_of_an_unknown_target_raises():
    with pytest.raises(TgtError, match="no tgt target"):
        helper(FakeTgtHost()).resize("k1")


# -- ensure ---------------------------------------------------------------------------------


def test_ensure_reads_once_applies_all_and_reports_every_failure():
    host = FakeTgtHost()
    two = target(key="k2", iqn="iqn.2026-11.org.shoal:volume-k2", chap=Chap("user2", "secret654321"))
    bad = target(key="k3", lun=0)
    host.fail.append((("logicalunit", "new", "1"), 22, "tgtadm: invalid request"))  # the first target's LUN
    host.fail.append((("xargs",), 123, ""))  # the batch made nothing: the per-target path makes both
    with pytest.raises(TgtError) as caught:
        helper(host).ensure([target(), bad, two])
    assert set(caught.value.failed) == {"k1", "k3"}
    assert sum(1 for c in host.calls if "show" in c and "target" in c) == 2  # before and after the batch
    assert ["--op", "new", "--mode", "target", "--tid", "1", "-T", "iqn.2026-11.org.shoal:volume-k2"] in host.changes()


def test_ensure_makes_the_targets_tgtd_lacks_in_one_batch_where_tgtadm_is_a_process():
    """Not on this machine's own tgtd (its socket is spoken directly): on a host where
    each request is a tgtadm process, the targets tgtd lacks go into one argument file
    run by xargs; the secrets are in that 0600 file, never in an argv, and it is removed."""
    host = FakeTgtHost()
    two = target(key="k2", iqn="iqn.2026-11.org.shoal:volume-k2", chap=Chap("user2", "secret654321"),
                 initiators=(HOST1, HOST2))
    host.on_batch = lambda: host.shows.update(
        target=show(1, IQN, backing="/pool/volume-k1/disk.img", accounts=["user1"], acl=[HOST1])
        + show(2, two.iqn, backing="/pool/volume-k1/disk.img", accounts=["user2"], acl=[HOST1, HOST2]),
        account="Account list:\n    user1\n    user2\n")
    helper(host, control_port=9).ensure([target(), two])
    (path,) = host.files
    content, mode = host.files[path]
    assert mode == 0o600 and host.removed == [path] and path.startswith("/run/")
    assert ["xargs", "-a", path, "-L", "1", "tgtadm", "-C", "9", "--lld", "iscsi"] in host.changes()
    assert content.splitlines() == [
        f"--op new --mode target --tid 1 -T {IQN}",
        "--op new --mode logicalunit --tid 1 --lun 1 --bstype rdwr -b /pool/volume-k1/disk.img",
        "--op new --mode account --user user1 --password secret123456",
        "--op bind --mode account --tid 1 --user user1",
        f"--op bind --mode target --tid 1 -Q {HOST1}",
        "--op new --mode target --tid 2 -T iqn.2026-11.org.shoal:volume-k2",
        "--op new --mode logicalunit --tid 2 --lun 1 --bstype rdwr -b /pool/volume-k1/disk.img",
        "--op new --mode account --user user2 --password secret654321",
        "--op bind --mode account --tid 2 --user user2",
        f"--op bind --mode target --tid 2 -Q {HOST1}",
        f"--op bind --mode target --tid 2 -Q {HOST2}",
    ]
    assert [c[0] for c in host.changes()] == ["xargs"]  # what the batch made is checked, and holds
    assert not any("secret123456" in " ".join(c) or "secret654321" in " ".join(c) for c in host.calls)


def test_a_batch_that_cannot_be_written_leaves_every_target_to_the_per_target_path():
    host = FakeTgtHost()
    host.write_fails = True
    two = target(key="k2", iqn="iqn.2026-11.org.shoal:volume-k2", chap=Chap("user2", "secret654321"))
    helper(host).ensure([target(), two])  # no error: the batch is only a shortcut
    assert not any(c[0] == "xargs" for c in host.calls)
    assert ["--op", "new", "--mode", "target", "--tid", "2", "-T", "iqn.2026-11.org.shoal:volume-k2"] in host.changes()


def test_ensure_leaves_unlisted_targets_alone():
    stale = show(1, "iqn.2026-11.org.shoal:volume-stale", backing="/x", accounts=["u9"])
    host = FakeTgtHost(stale, "Account list:\n    u9\n")
    helper(host).ensure([target()])
    assert not any("--tid" in c and c[c.index("--tid") + 1] == "1" for c in host.changes())


def test_ensure_starts_a_dead_daemon_it_owns():
    host = FakeTgtHost()
    host.answering = False
    host.on_start = lambda: setattr(host, "answering", True)
    helper(host, control_port=9).ensure([])
    assert ["tgtd", "--iscsi", f"portal={PORTAL}", "--control-port", "9"] in host.changes()


# -- daemon ---------------------------------------------------------------------------------


def test_start_runs_tgtd_with_every_portal_and_waits_for_it():
    host = FakeTgtHost(portals="Portal: 10.0.0.1:3260,1\nPortal: 10.0.0.2:3261,1\n")
    host.answering = False
    host.on_start = lambda: setattr(host, "answering", True)
    helper(host, portals=["10.0.0.1:3260", "10.0.0.2:3261"], control_port=7).start()
    assert host.changes() == [["tgtd", "--iscsi", "portal=10.0.0.1:3260,portal=10.0.0.2:3261", "--control-port", "7"]]


def test_start_closes_tgtds_wildcard_fallback_and_stops_when_the_portal_is_taken():
    host = FakeTgtHost(portals=RECORDED_FALLBACK_PORTALS)
    host.answering = False
    host.on_start = lambda: setattr(host, "answering", True)
    host.fail.append((("new", "portal"), 22, "tgtadm: invalid request"))
    with pytest.raises(TgtError, match="cannot listen on 127.0.0.1:3260"):
        helper(host, control_port=7).start()
    assert host.changes()[1:] == [
        ["--op", "delete", "--mode", "portal", "--param", "portal=[::]:3260"],
        ["--op", "delete", "--mode", "portal", "--param", "portal=0.0.0.0:3260"],
        ["--op", "new", "--mode", "portal", "--param", f"portal={PORTAL}"],
        ["--op", "delete", "--mode", "system"],
    ]


def test_start_with_a_running_daemon_only_adds_missing_portals():
    host = FakeTgtHost(portals="Portal: 127.0.0.1:3260,1\n")
    helper(host, portals=[PORTAL, "127.0.0.2:3260"]).start()
    assert host.changes() == [["--op", "new", "--mode", "portal", "--param", "portal=127.0.0.2:3260"]]


def test_start_gives_up_when_tgtd_never_answers(monkeypatch):
    monkeypatch.setattr(tgt_module.time, "sleep", lambda _: None)
    host = FakeTgtHost()
    host.answering = False
    with pytest.raises(TgtError, match="did not answer on control port 3"):
        helper(host, control_port=3, start_timeout=0.01).start()


def test_start_does_not_start_a_daemon_it_does_not_own():
    host = FakeTgtHost()
    host.answering = False
    with pytest.raises(TgtError, match="start it: tgtd --iscsi portal=127.0.0.1:3260 --control-port 0"):
        helper(host, manage_daemon=False).start()
    assert host.changes() == []


def test_problems_name_the_fix():
    host = FakeTgtHost()
    host.installed = False
    assert helper(host).problems() == [
        "tgtadm is not installed: apt-get install tgt (scripts/host-setup installs it)",
        "tgtd is not installed: apt-get install tgt (scripts/host-setup installs it)",
    ]
    host.installed, host.answering = True, False
    [down] = helper(host, control_port=5).problems()
    assert "does not answer on control port 5" in down and "tgtd --iscsi portal=127.0.0.1:3260 --control-port 5" in down
    host.answering = True
    host.shows["portal"] = "Portal: 0.0.0.0:3260,1\n"
    missing, extra = helper(host, control_port=5).problems()
    assert missing.endswith("tgtadm -C 5 --lld iscsi --op new --mode portal --param portal=127.0.0.1:3260")
    assert extra.endswith("tgtadm -C 5 --lld iscsi --op delete --mode portal --param portal=0.0.0.0:3260")
    assert "LUN 0" in helper(FakeTgtHost(), lun=0).problems()[0]
    assert helper(FakeTgtHost()).healthy()


def test_portals_from_settings():
    assert helper(FakeTgtHost(), portals=["10.0.0.1:3260", "[fd00::1]:3261"]).portals() == [
        Portal("10.0.0.1", 3260),
        Portal("[fd00::1]", 3261),
    ]


# -- shared helpers ---------------------------------------------------------------------------


def test_iqn_for_key():
    iqns = ["iqn.2026-11.org.shoal:volume-abc", "iqn.2026-11.org.shoal:volume-xabc", "iqn.2026-11.org.shoal:abc2"]
    assert iqn_for_key(IQN, {}, iqns) == IQN
    assert iqn_for_key("k", {"k": "iqn.2026-11.org.x:y"}, iqns) == "iqn.2026-11.org.x:y"
    assert iqn_for_key("abc", {}, iqns) == "iqn.2026-11.org.shoal:volume-abc"
    assert iqn_for_key("bc", {}, iqns) is None
    with pytest.raises(ValueError):
        iqn_for_key("abc", {}, iqns + ["iqn.2026-11.org.other:abc"])


def test_make_helper_builds_from_settings():
    from shoal.config import IscsiConfig

    host = FakeTgtHost()
    options = IscsiConfig(portals=["10.0.0.1:3260"], control_port=12).model_dump(exclude={"helper"})
    made = make_helper("tgt", host, **options)
    assert isinstance(made, TgtHelper) and made.control_port == 12 and made.portal_specs == ["10.0.0.1:3260"]
    lio = make_helper("lio", host, **options)
    assert isinstance(lio, LioHelper) and lio.portal_specs == ["10.0.0.1:3260"]
    with pytest.raises(ValueError, match="unknown iSCSI helper"):
        make_helper("iet", host)


class SocketHost(FakeTgtHost):
    """A host that gives streams to tgtd's socket: `reachable` says whether one
    connects (a refusal looks the same whether sshd or the socket refused)."""

    def __init__(self):
        super().__init__()
        self.reachable = True

    def connect_unix(self, path: str, timeout: float):
        if not self.reachable:
            raise ConnectionRefusedError(111, f"{path}: open failed")
        raise AssertionError("not reached: the test only looks at refusals")


def test_a_refused_socket_is_checked_with_tgtadm_only_until_it_has_answered_once(monkeypatch):
    host = SocketHost()
    tgt = helper(host)
    host.reachable, host.answering = False, False  # tgtd down: tgtadm fails too
    assert not tgt.answering()
    assert [c[0] for c in host.calls] == ["tgtadm"]  # the one look that tells sshd's refusal from tgtd's absence
    assert tgt._socket is not None
    answered = CommandResult(("tgtadm",), 0, "System:\n", "", 0.0)
    monkeypatch.setattr(tgt._socket, "run", lambda *a, **k: answered)
    assert tgt.answering()  # the socket answered once: a refusal from now on is tgtd's
    monkeypatch.undo()
    host.calls.clear()
    assert not tgt.answering() and not tgt.answering()
    assert host.calls == []  # no tgtadm started on each look at a tgtd that is down
