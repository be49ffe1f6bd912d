"""Share and project properties of the ZFSSA emulator: which a body may carry,
how they are kept on the dataset, and how they read back.

The appliance keeps inheritable properties (compression, logbias, sharenfs,
sharedav, custom properties) on the project and lets a share override them;
``source`` says which. The emulator keeps them as ZFS user properties, so ZFS's
own inheritance does the same, and ``{"unset": [...]}`` is ``zfs inherit``.
Custom properties must be defined in the schema first (``POST
/api/storage/v1/schema``), and take values of the schema's type.
"""

from __future__ import annotations

from typing import Any

from tests.emulators.zfssa import values
from tests.emulators.zfssa.faults import invalid, unknown_arg
from tests.emulators.zfssa.zpool import CUSTOM, EMU, Node

INHERITED = ("compression", "logbias", "sharenfs", "sharedav")
DEFAULTS = {"compression": "off", "logbias": "latency", "sharenfs": "on", "sharedav": "off"}
SHARENFS_WORDS = ("off", "on", "rw", "ro")


def sharenfs(value: Any) -> str:
    """'off', 'on', 'rw', 'ro', or options such as 'sec=sys,rw=@127.0.0.1/32:@10.0.0.0/8,ro=@...'."""
    if not isinstance(value, str) or not value:
        raise invalid(f"sharenfs: expected a string, got {value!r}")
    if value in SHARENFS_WORDS:
        return value
    for option in value.split(","):
        key, _, arg = option.partition("=")
        if key == "sec" and arg in ("sys", "none"):
            continue
        if key not in ("rw", "ro", "root") or not arg or not all(h.startswith("@") for h in arg.split(":")):
            raise invalid(f"sharenfs: cannot read option {option!r} (rw=@ADDR[/LEN][:...], ro=..., sec=sys)")
    return value


def inheritable(key: str, value: Any) -> str:
    """The stored form of one inheritable property (validated)."""
    if key == "compression":
        return values.choice(value, values.COMPRESSION, "compression")
    if key == "logbias":
        return values.choice(value, values.LOGBIAS, "logbias")
    if key == "sharenfs":
        return sharenfs(value)
    if key == "sharedav":
        return values.choice(value, ("off", "rw", "ro"), "sharedav")
    raise unknown_arg(key)


def zfs_props(key: str, stored: str) -> dict[str, str]:
    """ZFS properties to set for one inheritable property, next to the user property."""
    out = {EMU + key: stored}
    if key == "compression":
        out["compression"] = values.zfs_compression(stored)
    elif key == "logbias":
        out["logbias"] = stored
    return out


def custom(schema: dict[str, dict[str, str]], key: str, value: Any) -> str:
    """The stored (string) form of custom:<prop>, checked against the schema."""
    prop = key[len(CUSTOM):]
    if prop not in schema:
        raise unknown_arg(key)
    kind = schema[prop]["type"]
    if kind == "Boolean":
        return "true" if values.boolean(value, key) else "false"
    if kind in ("Integer", "PositiveInteger"):
        if isinstance(value, bool) or not isinstance(value, int) or (kind == "PositiveInteger" and value <= 0):
            raise invalid(f"{key}: expected an {kind}, got {value!r}")
        return str(value)
    if not isinstance(value, str):
        raise invalid(f"{key}: expected a string, got {value!r}")
    return value


def read_custom(schema: dict[str, dict[str, str]], node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in node.custom().items():
        kind = schema.get(key[len(CUSTOM):], {}).get("type", "String")
        if kind == "Boolean":
            out[key] = raw == "true"
        elif kind in ("Integer", "PositiveInteger") and raw.lstrip("-").isdigit():
            out[key] = int(raw)
        else:
            out[key] = raw
    return out


def common(schema: dict[str, dict[str, str]], body: dict[str, Any], allowed: set[str]) -> dict[str, str]:
    """ZFS properties for the inheritable and custom properties of `body`; every
    other key must be in `allowed` (the caller's own), else ERR_UNKNOWN_ARG."""
    out: dict[str, str] = {}
    for key, value in body.items():
        if key in INHERITED:
            out.update(zfs_props(key, inheritable(key, value)))
        elif key.startswith(CUSTOM):
            out[key] = custom(schema, key, value)
        elif key not in allowed:
            raise unknown_arg(key)
    return out


def unset_names(body: dict[str, Any]) -> list[str]:
    """The ZFS properties `{"unset": [...]}` puts back to inherited."""
    names = body.get("unset", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise invalid("unset: expected a list of property names")
    out = []
    for name in names:
        if name in INHERITED:
            out += list(zfs_props(name, "x"))
        elif name.startswith(CUSTOM):
            out.append(name)
        else:
            raise invalid(f"unset: {name} is not an inheritable property")
    return out


def inherited_view(node: Node) -> tuple[dict[str, str], dict[str, str]]:
    """The inheritable properties of a dataset and their `source` (local/inherited/default)."""
    props, source = {}, {}
    for key in INHERITED:
        raw = node.values.get(EMU + key)
        props[key] = raw if raw not in (None, "-") else DEFAULTS[key]
        source[key] = "local" if EMU + key in node.own else ("inherited" if raw not in (None, "-") else "default")
    return props, source
