"""LioHelper.ensure's one-session path (exports/iscsi/lio_batch.py) against a fake host:
the state it reads from configfs, the targetcli lines it sends, and what it does
with a target the session left unfinished. The real thing: tests/kernel/test_kernel_lio_bulk.py."""

from __future__ import annotations

import dataclasses

import pytest

from shoal.exports.iscsi import InvalidTarget
from shoal.exports.iscsi.base import Chap, IscsiTarget
from shoal.exports.iscsi.lio import LioError, LioHelper
from shoal.exports.iscsi.lio_batch import (
    CONFIGFS,
    SESSION_PREFS,
    LioState,
    missing,
    plan,
    state_argv,
)
from shoal.hosts import CommandResult

from .test_iscsi_lio import HOST1, HOST2, IQN, PORTAL, TPG

STORE = ("block", "shoal-k1")


def target(**changes) -> IscsiTarget:
    base = IscsiTarget("k1", IQN, "/dev/zvol/tank/volume-k1", Chap("user1", "se:cret#1"), (HOST1,), 1)
    return dataclasses.replace(base, **changes)


def configfs(iqn: str = IQN, key: str = "k1", *, acls=((HOST1, "user1", "se:cret#1"),), portals=(PORTAL,),
             lun: str = "lun_1", attributes=("1", "0", "1")) -> str:
    """What state_argv()'s find prints for one complete target."""
    tpgt = f"{CONFIGFS}/iscsi/{iqn}/tpgt_1"
    lines = [f"/sys/kernel/config/target/core/iblock_0/shoal-{key}/udev_path:/dev/zvol/tank/volume-{key}",
             f"D {tpgt}/lun/{lun}",
             f"L {tpgt}/lun/{lun}/4a1b2c ../../../../../../target/core/iblock_0/shoal-{key}"]
    lines += [f"D {tpgt}/np/{p}" for p in portals]
    for name, user, secret in acls:
        lines += [f"D {tpgt}/acls/{name}", f"{tpgt}/acls/{name}/auth/userid:{user}",
                  f"{tpgt}/acls/{name}/auth/password:{secret}"]
    for attr, value in zip(("authentication", "generate_node_acls", "demo_mode_write_protect"), attributes):
        lines.append(f"{tpgt}/attrib/{attr}:{value}")
    return "\n".join(lines) + "\n"


def test_state_is_parsed_from_one_find():
    argv = state_argv()
    assert argv[0] == "find" and argv.count("{}") == 2  # configfs files read in bulk (grep -H ... +)
    state = LioState.parse(configfs())
    have = state.targets[IQN]
    assert have.acls == [HOST1] and have.luns == ["lun_1"] and have.portals == [PORTAL]
    assert have.auth == {HOST1: {"userid": "user1", "password": "se:cret#1"}}  # ':' in a secret
    assert have.stores == {"lun_1": STORE}
    assert state.backstores == {STORE: "/dev/zvol/tank/volume-k1"}
    assert missing(target(), state, [PORTAL], created=True) == []


def test_a_new_target_gets_the_per_target_commands():
    lines = plan(target(initiators=(HOST1, HOST2)), LioState(), [PORTAL], STORE, fresh=False)
    assert lines == [
        f"/iscsi create {IQN}",
        f"{TPG} set attribute authentication=1 generate_node_acls=0 demo_mode_write_protect=1",
        "/backstores/block create name=shoal-k1 dev=/dev/zvol/tank/volume-k1",
        f"{TPG}/luns create /backstores/block/shoal-k1 lun=1 add_mapped_luns=true",
        f"{TPG}/portals delete 0.0.0.0 3260",
        f"{TPG}/portals create 10.0.0.5 3260",
        f"{TPG}/acls create {HOST1} add_mapped_luns=true",
        f"{TPG}/acls/{HOST1} set auth userid=user1 password=se:cret#1",
        f"{TPG}/acls create {HOST2} add_mapped_luns=true",
        f"{TPG}/acls/{HOST2} set auth userid=user1 password=se:cret#1",
    ]


def test_a_complete_target_needs_nothing_and_a_changed_one_only_the_change():
    state = LioState.parse(configfs())
    assert plan(target(), state, [PORTAL], STORE, fresh=False) == []
    changed = target(chap=Chap("user2", "other"), initiators=(HOST2,))
    assert plan(changed, state, [PORTAL], STORE, fresh=False) == [
        f"{TPG}/acls create {HOST2} add_mapped_luns=true",
        f"{TPG}/acls/{HOST2} set auth userid=user2 password=other",
        f"{TPG}/acls delete {HOST1}",
    ]
    assert missing(changed, state, [PORTAL], created=False) == [
        f"ACLs ['{HOST1}']", f"no CHAP on the ACL of {HOST2}"]


def test_fresh_deletes_target_and_backstore_first():
    lines = plan(target(), LioState.parse(configfs()), [PORTAL], STORE, fresh=True)
    assert lines[:3] == [f"/iscsi delete {IQN}", f"/iscsi create {IQN}",
                         f"{TPG} set attribute authentication=1 generate_node_acls=0 demo_mode_write_protect=1"]
    assert lines[3:5] == ["/backstores/block delete shoal-k1",
                          "/backstores/block create name=shoal-k1 dev=/dev/zvol/tank/volume-k1"]


def test_a_leftover_backstore_is_deleted_before_it_is_made_again():
    state = LioState(backstores={STORE: "/dev/zvol/tank/volume-k1"})
    lines = plan(target(), state, [PORTAL], STORE, fresh=False)
    assert lines.index("/backstores/block delete shoal-k1") < lines.index(
        "/backstores/block create name=shoal-k1 dev=/dev/zvol/tank/volume-k1")


class SessionHost:
    """Answers the state reads with `states` in turn and records every command;
    the per-target path's own reads find nothing, its targetcli calls fail for `broken`."""

    name = "fake-batch"

    def __init__(self, states: list[str], broken: str = ""):
        self.states, self.broken = states, broken
        self.calls: list[list[str]] = []
        self.inputs: list[str | None] = []

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        self.inputs.append(input)
        out, rc = "", 0
        if argv[0] == "find" and argv[-1] == ")":
            out = self.states.pop(0)
        elif argv[0] in ("ls", "find"):
            rc = 2
        elif argv[0] == "targetcli" and self.broken and any(self.broken in a for a in argv):
            from shoal.hosts import CommandError

            raise CommandError(CommandResult(tuple(argv), 1, "", "No such device", 0.0))
        return CommandResult(tuple(argv), rc, out, "", 0.0)

    def read_file(self, path):
        return None


def test_ensure_is_one_session_and_secrets_go_on_its_stdin():
    two = target(key="k2", iqn="iqn.2026-11.org.shoal:volume-k2", backing="/dev/zvol/tank/volume-k2")
    host = SessionHost(["", configfs() + configfs(two.iqn, "k2")])
    LioHelper(host, portals=[PORTAL], lun=1).ensure([target(), two])
    sessions = [argv for argv in host.calls if "targetcli" in argv]
    assert len(sessions) == 1 and sessions[0][0] == "env"
    assert not any("se:cret#1" in a for argv in host.calls for a in argv)
    lines = host.inputs[host.calls.index(sessions[0])].splitlines()
    assert lines[: len(SESSION_PREFS)] == list(SESSION_PREFS)
    assert f"{TPG}/acls/{HOST1} set auth userid=user1 password=se:cret#1" in lines
    assert "/iscsi create iqn.2026-11.org.shoal:volume-k2" in lines


def test_an_unfinished_target_is_applied_on_its_own_and_alone_reported():
    two = target(key="k2", iqn="iqn.2026-11.org.shoal:volume-k2", backing="/dev/zvol/tank/volume-k2")
    host = SessionHost(["", configfs()], broken="volume-k2")  # k2 got nothing from the session
    with pytest.raises(LioError) as caught:
        LioHelper(host, portals=[PORTAL], lun=1).ensure([target(), two])
    assert list(caught.value.failed) == ["k2"]
    assert "No such device" in caught.value.failed["k2"][0]
    alone = [argv for argv in host.calls if argv[0] == "targetcli"]
    assert alone and all(any("volume-k2" in a for a in argv) for argv in alone)


def test_nothing_to_change_runs_no_targetcli():
    host = SessionHost([configfs()])
    LioHelper(host, portals=[PORTAL], lun=1).ensure([target()])
    assert [argv[0] for argv in host.calls] == ["find"]


def test_a_secret_targetcli_would_cut_is_refused_before_anything_runs():
    """Found on the lane: targetcli set `password=ab^cd` as "ab" and said nothing."""
    host = SessionHost([])
    with pytest.raises(LioError) as caught:
        LioHelper(host, portals=[PORTAL], lun=1).ensure([target(chap=Chap("user1", "ab^cd{e"))])
    assert "targetcli cuts" in caught.value.failed["k1"][0]
    assert host.calls == []
    with pytest.raises(InvalidTarget):
        LioHelper(host, portals=[PORTAL], lun=1).apply(target(chap=Chap("user1", "ab^cd")))
    assert host.calls == []


def test_apply_is_one_session_too_and_its_secret_goes_on_stdin():
    """An attach: one read, one targetcli session, one read to check; the CHAP
    secret in no argv (where any local user could read it in /proc)."""
    host = SessionHost(["", configfs()])
    LioHelper(host, portals=[PORTAL], lun=1).apply(target())
    assert [argv[0] for argv in host.calls] == ["find", "env", "find"]
    assert not any("se:cret#1" in a for argv in host.calls for a in argv)
    lines = host.inputs[1].splitlines()
    assert f"/iscsi create {IQN}" in lines and f"{TPG}/acls/{HOST1} set auth userid=user1 password=se:cret#1" in lines


def test_apply_of_a_complete_target_only_reads():
    host = SessionHost([configfs()])
    LioHelper(host, portals=[PORTAL], lun=1).apply(target())
    assert [argv[0] for argv in host.calls] == ["find"]
