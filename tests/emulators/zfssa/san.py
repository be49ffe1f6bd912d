"""ZFSSA emulator: the iSCSI SAN configuration, ``/api/san/v1/iscsi/...``.

- ``initiators`` (POST ``{initiator, alias, [chapuser, chapsecret]}``), looked
  up as ``initiators/<iqn>`` or ``initiators/alias=<alias>``;
- ``initiator-groups`` (POST ``{name, initiators}``, PUT ``{initiators}`` replaces);
- ``targets`` (POST ``{alias, [iqn], [auth: 'chap', targetchapuser,
  targetchapsecret], [interfaces]}``; the IQN is made up when not given), looked
  up as ``targets/<iqn>`` or ``targets/alias=<alias>``;
- ``target-groups`` (POST ``{name, targets}``, PUT ``{targets}`` replaces).

``default`` names the built-in groups: every initiator, every target. The
configuration lives in the emulator's memory; what it means for tgtd is in
``exports``. A group still used by a LUN cannot be deleted (403).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.zfssa import luns
from tests.emulators.zfssa.appliance import Appliance
from tests.emulators.zfssa.faults import (
    denied,
    exists,
    invalid,
    missing_arg,
    not_found,
    unknown_arg,
)

IQN_PREFIX = "iqn.1986-03.com.sun:02:"
MIN_CHAP_SECRET = 12  # RFC 3720 (and the appliance) want CHAP secrets of 12 to 16+ characters


@dataclass
class San:
    initiators: dict[str, dict[str, Any]] = field(default_factory=dict)  # iqn -> properties
    initiator_groups: dict[str, list[str]] = field(default_factory=dict)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)  # iqn -> properties
    target_groups: dict[str, list[str]] = field(default_factory=dict)


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise invalid(f"{what}: expected a list of names, got {value!r}")
    return list(dict.fromkeys(value))


def _check_keys(body: dict[str, Any], allowed: set[str]) -> None:
    for key in body:
        if key not in allowed:
            raise unknown_arg(key)


def _chap(body: dict[str, Any], user_key: str, secret_key: str) -> None:
    secret = body.get(secret_key)
    if secret and (not isinstance(secret, str) or len(secret) < MIN_CHAP_SECRET):
        raise invalid(f"{secret_key}: a CHAP secret needs at least {MIN_CHAP_SECRET} characters")
    if bool(body.get(user_key)) != bool(secret):
        raise invalid(f"{user_key} and {secret_key} go together")


# ---- initiators -----------------------------------------------------------------


def _initiator_view(props: dict[str, Any]) -> dict[str, Any]:
    return {"href": f"/api/san/v1/iscsi/initiators/{props['initiator']}", "initiator": props["initiator"],
            "alias": props.get("alias", ""), "chapuser": props.get("chapuser", ""),
            "chapsecret": "*****" if props.get("chapsecret") else ""}


def _find_initiator(app: Appliance, key: str) -> dict[str, Any]:
    if key.startswith("alias="):
        found = [p for p in app.san.initiators.values() if p.get("alias") == key[len("alias="):]]
        if found:
            return found[0]
    elif key in app.san.initiators:
        return app.san.initiators[key]
    raise not_found(f"initiator \"{key}\"")


def list_initiators(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"initiators": [_initiator_view(p) for p in app.san.initiators.values()]}


def get_initiator(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"initiator": _initiator_view(_find_initiator(app, args["key"]))}


def create_initiator(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    body = body or {}
    _check_keys(body, {"initiator", "alias", "chapuser", "chapsecret"})
    if "initiator" not in body:
        raise missing_arg("initiator")
    iqn = body["initiator"]
    if not isinstance(iqn, str) or not iqn.startswith(("iqn.", "eui.", "naa.")):
        raise invalid(f"initiator {iqn!r} is not an iSCSI name")
    _chap(body, "chapuser", "chapsecret")
    if iqn in app.san.initiators:
        raise exists(f"initiator \"{iqn}\"")
    app.san.initiators[iqn] = {k: body[k] for k in body}
    return 201, {"initiator": _initiator_view(app.san.initiators[iqn])}


def modify_initiator(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    props = _find_initiator(app, args["key"])
    body = body or {}
    _check_keys(body, {"alias", "chapuser", "chapsecret"})
    _chap({**props, **body}, "chapuser", "chapsecret")
    props.update(body)
    return 202, {"initiator": _initiator_view(props)}


def delete_initiator(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    props = _find_initiator(app, args["key"])
    del app.san.initiators[props["initiator"]]
    return 204, None


# ---- groups -----------------------------------------------------------------------


def _used_groups(app: Appliance, kind: str) -> set[str]:
    out: set[str] = set()
    for node in app.pool.read().values():
        if node.kind == "lun":
            if kind == "initiator":
                out.update(luns.groups_of(node))
            else:
                out.add(node.emu("targetgroup", "default"))
    return out


def _group_api(kind: str) -> dict[str, Any]:
    member = "initiators" if kind == "initiator" else "targets"
    base = f"/api/san/v1/iscsi/{kind}-groups"

    def table(app: Appliance) -> dict[str, list[str]]:
        return app.san.initiator_groups if kind == "initiator" else app.san.target_groups

    def group_view(name: str, members: list[str]) -> dict[str, Any]:
        return {"href": f"{base}/{name}", "name": name, member: list(members)}

    def members(app: Appliance, value: Any) -> list[str]:
        names = _strings(value, member)
        if kind == "target":
            for iqn in names:
                if iqn not in app.san.targets:
                    raise invalid(f"targets: no target \"{iqn}\"")
        return names

    def get(app: Appliance, name: str) -> list[str]:
        if name not in table(app):
            raise not_found(f"{kind} group \"{name}\"")
        return table(app)[name]

    def list_groups(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
        return 200, {"groups": [group_view(n, m) for n, m in table(app).items()]}

    def get_group(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
        return 200, {"group": group_view(args["name"], get(app, args["name"]))}

    def create_group(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
        body = body or {}
        _check_keys(body, {"name", member})
        if "name" not in body:
            raise missing_arg("name")
        name = body["name"]
        if not isinstance(name, str) or not name or name == "default" or "/" in name:
            raise invalid(f"invalid {kind} group name {name!r}")
        names = members(app, body.get(member, []))
        if name in table(app):
            raise exists(f"{kind} group \"{name}\"")
        table(app)[name] = names
        app.exports.sync()
        return 201, {"group": group_view(name, names)}

    def modify_group(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
        get(app, args["name"])
        body = body or {}
        _check_keys(body, {member})
        if member in body:
            table(app)[args["name"]] = members(app, body[member])
        app.exports.sync()
        return 202, {"group": group_view(args["name"], table(app)[args["name"]])}

    def delete_group(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
        get(app, args["name"])
        if args["name"] in _used_groups(app, kind):
            raise denied(f"{kind} group \"{args['name']}\" is in use by a LUN")
        del table(app)[args["name"]]
        app.exports.sync()
        return 204, None

    one = base[len("/api"):] + r"/(?P<name>[^/]+)"
    return [("GET", base[len("/api"):], list_groups), ("POST", base[len("/api"):], create_group),
            ("GET", one, get_group), ("PUT", one, modify_group), ("DELETE", one, delete_group)]


# ---- targets ----------------------------------------------------------------------

TARGET_KEYS = {"alias", "iqn", "auth", "targetchapuser", "targetchapsecret", "interfaces"}


def _target_view(props: dict[str, Any]) -> dict[str, Any]:
    return {"href": f"/api/san/v1/iscsi/targets/{props['iqn']}", "alias": props.get("alias", ""),
            "iqn": props["iqn"], "auth": props.get("auth", "none"),
            "targetchapuser": props.get("targetchapuser", ""),
            "targetchapsecret": "*****" if props.get("targetchapsecret") else "",
            "interfaces": props.get("interfaces", [])}


def _find_target(app: Appliance, key: str) -> dict[str, Any]:
    if key.startswith("alias="):
        found = [p for p in app.san.targets.values() if p.get("alias") == key[len("alias="):]]
        if found:
            return found[0]
    elif key in app.san.targets:
        return app.san.targets[key]
    raise not_found(f"target \"{key}\"")


def _check_target(props: dict[str, Any]) -> None:
    if props.get("auth", "none") not in ("none", "chap"):
        raise invalid(f"auth: {props['auth']!r} is not one of none, chap")
    _chap(props, "targetchapuser", "targetchapsecret")
    if props.get("auth") == "chap" and not props.get("targetchapuser"):
        raise invalid("auth 'chap' needs targetchapuser and targetchapsecret")
    if "interfaces" in props:
        _strings(props["interfaces"], "interfaces")


def list_targets(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"targets": [_target_view(p) for p in app.san.targets.values()]}


def get_target(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"target": _target_view(_find_target(app, args["key"]))}


def create_target(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    body = dict(body or {})
    _check_keys(body, TARGET_KEYS)
    if "alias" in body and any(p.get("alias") == body["alias"] for p in app.san.targets.values()):
        raise exists(f"target with alias \"{body['alias']}\"")
    if body.get("iqn", "auto") == "auto":
        body["iqn"] = IQN_PREFIX + secrets.token_hex(16)
    elif not isinstance(body["iqn"], str) or not body["iqn"].startswith("iqn."):
        raise invalid(f"iqn {body['iqn']!r} is not an iqn. name")
    _check_target(body)
    if body["iqn"] in app.san.targets:
        raise exists(f"target \"{body['iqn']}\"")
    app.san.targets[body["iqn"]] = body
    app.exports.sync()
    return 201, {"target": _target_view(body)}


def modify_target(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    props = _find_target(app, args["key"])
    body = body or {}
    _check_keys(body, TARGET_KEYS - {"iqn"})
    _check_target({**props, **body})
    props.update(body)
    app.exports.sync()
    return 202, {"target": _target_view(props)}


def delete_target(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    props = _find_target(app, args["key"])
    if any(props["iqn"] in members for members in app.san.target_groups.values()):
        raise denied(f"target \"{props['iqn']}\" is in a target group")
    del app.san.targets[props["iqn"]]
    app.exports.sync()
    return 204, None


I = r"/san/v1/iscsi"
ROUTES = [
    ("GET", I + r"/initiators", list_initiators),
    ("POST", I + r"/initiators", create_initiator),
    ("GET", I + r"/initiators/(?P<key>[^/]+)", get_initiator),
    ("PUT", I + r"/initiators/(?P<key>[^/]+)", modify_initiator),
    ("DELETE", I + r"/initiators/(?P<key>[^/]+)", delete_initiator),
    *_group_api("initiator"),
    *_group_api("target"),
    ("GET", I + r"/targets", list_targets),
    ("POST", I + r"/targets", create_target),
    ("GET", I + r"/targets/(?P<key>[^/]+)", get_target),
    ("PUT", I + r"/targets/(?P<key>[^/]+)", modify_target),
    ("DELETE", I + r"/targets/(?P<key>[^/]+)", delete_target),
]
