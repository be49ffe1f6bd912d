"""Many LIO targets in one pass: LIO's state in one `find`, every change in one
targetcli session, then one `find` to see what each target got.

The per-target path (LioHelper.apply) runs ~9 `targetcli` processes and a few
configfs reads per target; re-making hundreds after LIO was cleared took
minutes (issue 20). Here the same commands, in the same order per target, go
as lines on one targetcli's stdin (targetcli reads commands from a stdin that
is not a terminal), and CHAP secrets travel on that stdin, never in an argv.

targetcli saves LIO's whole configuration when such a session ends
(`auto_save_on_exit`). A saved file that later goes stale would bring back,
at LIO's next restore, a target Shoal has since removed, with its old ACLs
and CHAP: so the session runs with preferences of its own (HOME and
TARGETCLI_HOME point to SESSION_HOME), where it turns that off first, and
keeps the command lines (with their secrets) out of targetcli's log file.

A failing line does not stop the session (targetcli logs the error and reads
on), and its output does not say which target a line was for: what counts is
the state read after it. A target that did not get everything is handed back
to the caller, which applies it on its own to report its exact error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CONFIGFS = "/sys/kernel/config/target"
SESSION_HOME = "/var/lib/shoal/targetcli"
SESSION_PREFS = (
    "set global auto_save_on_exit=false",  # see the module's docstring
    "set global loglevel_file=info",  # command lines are logged at 'verbose'
)
SECURE_ATTRIBUTES = {"authentication": "1", "generate_node_acls": "0", "demo_mode_write_protect": "1"}
DEFAULT_PORTAL = "0.0.0.0:3260"  # what `/iscsi create` adds (auto_add_default_portal)
_FILE = re.compile(r"^(/.*?/(?:auth/(?:userid|password)|attrib/\w+|udev_path)):(.*)$")


def session_argv() -> list[str]:
    return ["env", f"HOME={SESSION_HOME}", f"TARGETCLI_HOME={SESSION_HOME}/.targetcli", "targetcli"]


def state_argv() -> list[str]:
    """One `find` for what the batch needs: each target's ACLs, LUNs, portals,
    CHAP and security attributes, where its LUNs link, and every backstore's
    device. Backstores' own subdirectories are not walked."""
    iscsi, core = f"{CONFIGFS}/iscsi", f"{CONFIGFS}/core"
    tpg = f"{iscsi}/[^/]+/tpgt_1"
    grep = ["-exec", "grep", "-H", "", "{}", "+"]
    return [
        "find", iscsi, core, "-maxdepth", "6", "-regextype", "posix-extended",
        "(", "-regex", f"{core}/[^/]+/[^/]+/udev_path", *grep, ")",
        "-o", "(", "-regex", f"{core}/[^/]+/[^/]+/.+", "-prune", ")",
        "-o", "(", "-regex", f"{tpg}/(acls|lun|np)/[^/]+", "-printf", "D %p\\n", ")",
        "-o", "(", "-regex", f"{tpg}/lun/[^/]+/[^/]+", "-type", "l", "-printf", "L %p %l\\n", ")",
        "-o", "(", "-regex", f"{tpg}/(acls/[^/]+/auth/(userid|password)|attrib/({'|'.join(SECURE_ATTRIBUTES)}))",
        *grep, ")",
    ]  # fmt: skip


@dataclass
class TargetState:
    acls: list[str] = field(default_factory=list)
    luns: list[str] = field(default_factory=list)
    portals: list[str] = field(default_factory=list)
    auth: dict[str, dict[str, str]] = field(default_factory=dict)  # initiator -> {userid, password}
    attributes: dict[str, str] = field(default_factory=dict)
    stores: dict[str, tuple[str, str]] = field(default_factory=dict)  # lun_N -> (plugin, backstore name)


@dataclass
class LioState:
    targets: dict[str, TargetState] = field(default_factory=dict)
    backstores: dict[tuple[str, str], str] = field(default_factory=dict)  # (plugin, name) -> udev_path

    @classmethod
    def parse(cls, text: str) -> LioState:
        state = cls()
        for line in text.splitlines():
            if line.startswith(("D ", "L ")):
                kind, path, *link = line.split(" ")
                parts = path[len(CONFIGFS) + 1:].split("/")  # iscsi IQN tpgt_1 KIND ENTRY [LINK]
                if len(parts) < 5 or parts[0] != "iscsi":
                    continue
                target = state.targets.setdefault(parts[1], TargetState())
                if kind == "D":
                    getattr(target, {"acls": "acls", "lun": "luns", "np": "portals"}[parts[3]]).append(parts[4])
                elif link and (store := _store(link[0])):
                    target.stores[parts[4]] = store
                continue
            found = _FILE.match(line)
            if not found:
                continue
            path, value = found.groups()
            parts = path[len(CONFIGFS) + 1:].split("/")
            if parts[0] == "core" and len(parts) == 4 and (plugin := _plugin(parts[1])):
                state.backstores[(plugin, parts[2])] = value
            elif parts[0] == "iscsi" and len(parts) in (5, 7):  # IQN tpgt_1 attrib NAME | acls INIT auth NAME
                target = state.targets.setdefault(parts[1], TargetState())
                if parts[3] == "attrib":
                    target.attributes[parts[4]] = value
                elif parts[3] == "acls":
                    target.auth.setdefault(parts[4], {})[parts[6]] = value
        return state


def _plugin(hba: str) -> str:
    return "block" if hba.startswith("iblock_") else "fileio" if hba.startswith("fileio_") else ""


def _store(link: str) -> tuple[str, str] | None:
    """(plugin, name) of a LUN's link, which ends in core/{iblock,fileio}_K/NAME."""
    hba, _, name = link.rstrip("/").rpartition("/")
    plugin = _plugin(hba.rpartition("/")[2])
    return (plugin, name) if plugin and name else None


def plan(target, state: LioState, portals: list[str], store: tuple[str, str], fresh: bool) -> list[str]:
    """The targetcli lines that take `target` from `state` to what
    LioHelper.apply makes: the same commands in the same order. `store` is the
    (plugin, name) of its backstore; `fresh`: delete it all first."""
    iqn, tpg = target.iqn, f"/iscsi/{target.iqn}/tpg1"
    have = state.targets.get(iqn)
    lines: list[str] = []
    stores = {store} & set(state.backstores)  # a leftover of a half-done apply
    if fresh and have is not None:
        lines.append(f"/iscsi delete {iqn}")
        stores |= set(have.stores.values())
        have = None
    if have is None:
        lines += [f"/iscsi create {iqn}",
                  f"{tpg} set attribute " + " ".join(f"{k}={v}" for k, v in SECURE_ATTRIBUTES.items())]
        have = TargetState(portals=[DEFAULT_PORTAL])
    lun = f"lun_{target.lun}"
    for entry in have.luns:
        if entry != lun:
            lines.append(f"{tpg}/luns delete lun={entry.removeprefix('lun_')}")
    if lun not in have.luns:
        plugin, name = store
        lines += [f"/backstores/{p} delete {n}" for p, n in sorted(stores)]
        if plugin == "block":
            lines.append(f"/backstores/block create name={name} dev={target.backing}")
        else:
            lines.append(f"/backstores/fileio create name={name} file_or_dev={target.backing} write_back=false")
        lines.append(f"{tpg}/luns create /backstores/{plugin}/{name} lun={target.lun} add_mapped_luns=true")
    for entry in have.portals:
        if entry not in portals:
            address, _, port = entry.rpartition(":")
            lines.append(f"{tpg}/portals delete {address.strip('[]')} {port}")
    for spec in portals:
        if spec not in have.portals:
            address, _, port = spec.rpartition(":")
            lines.append(f"{tpg}/portals create {address.strip('[]')} {port}")
    user, secret = target.chap.user, target.chap.secret
    wanted = list(dict.fromkeys(target.initiators))
    for name in wanted:
        if name not in have.acls:
            lines.append(f"{tpg}/acls create {name} add_mapped_luns=true")
        elif have.auth.get(name) == {"userid": user, "password": secret}:
            continue
        lines.append(f"{tpg}/acls/{name} set auth userid={user} password={secret}")
    for name in have.acls:
        if name not in wanted:
            lines.append(f"{tpg}/acls delete {name}")
    return lines


def missing(target, state: LioState, portals: list[str], created: bool) -> list[str]:
    """What `target` lacks in `state` (empty: it is as apply() would leave it).
    `created`: it was made by this pass, so its security attributes are checked too."""
    have = state.targets.get(target.iqn)
    if have is None:
        return ["no target"]
    lacks = []
    if f"lun_{target.lun}" not in have.luns or f"lun_{target.lun}" not in have.stores:
        lacks.append(f"no LUN {target.lun}")
    if sorted(have.portals) != sorted(portals):
        lacks.append(f"portals {sorted(have.portals)}")
    wanted = list(dict.fromkeys(target.initiators))
    if sorted(have.acls) != sorted(wanted):
        lacks.append(f"ACLs {sorted(have.acls)}")
    chap = {"userid": target.chap.user, "password": target.chap.secret}
    lacks += [f"no CHAP on the ACL of {name}" for name in wanted if have.auth.get(name) != chap]
    if created and any(have.attributes.get(k) != v for k, v in SECURE_ATTRIBUTES.items()):
        lacks.append("TPG attributes not set")
    return lacks
