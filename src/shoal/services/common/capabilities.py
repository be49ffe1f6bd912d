"""Does a pool offer what a type's extra specs ask? Cinder's and Manila's
capabilities filter, with their spec operators.

A spec without a scope (`multiattach`) or in the `capabilities:` scope
(`capabilities:thin_provisioning_support`) names a capability the pool must
report; a spec in any other scope (`provisioning:type`, `zfs:compression`,
`RESKEY:availability_zones`) is for the driver or another filter, not matched
here. A capability the pool does not report fails the match, as upstream. A
capability reported as a list (a ZFS pool offers `compression` on and off)
matches when any of its values does.

Operators (the requirement's first word): `<is>` (boolean), `<in>` (substring),
`<all-in>` (every word a member), `<or>` (any alternative), `==` `!=` `>=` `<=`
`<` `>` (numbers), `s==` `s!=` `s<` `s<=` `s>` `s>=` (strings); a plain value
is compared as a string, except that a boolean capability also takes
"true"/"false" in any case.
"""

from __future__ import annotations

import operator
from typing import Any

CAPABILITIES_SCOPE = "capabilities"

_NUMERIC = {"==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le, "<": operator.lt, ">": operator.gt}
_STRING = {"s==": operator.eq, "s!=": operator.ne, "s<": operator.lt, "s<=": operator.le, "s>": operator.gt,
           "s>=": operator.ge}


def capability_key(spec_key: str) -> str | None:
    """The capability a spec key names, or None when the key is not for this filter."""
    scope, sep, rest = spec_key.partition(":")
    if not sep:
        return spec_key
    return rest if scope == CAPABILITIES_SCOPE and rest and ":" not in rest else None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}.get(text)


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def matches(value: Any, requirement: str) -> bool:
    """One capability value against one requirement string."""
    if isinstance(value, (list, tuple, set)):
        return any(matches(v, requirement) for v in value)
    words = str(requirement).split()
    if not words:
        return str(value) == ""
    op, args = words[0], words[1:]
    if op == "<is>":
        want = _as_bool(" ".join(args))
        return want is not None and _as_bool(value) == want
    if op == "<in>":
        return bool(args) and " ".join(args) in str(value)
    if op == "<all-in>":
        members = value if isinstance(value, (list, tuple, set)) else str(value).split()
        return bool(args) and all(a in members for a in args)
    if op == "<or>":
        alternatives = [a for a in args if a != "<or>"]
        return str(value) in alternatives
    if op in _NUMERIC:
        have, want = _as_float(value), _as_float(" ".join(args))
        return have is not None and want is not None and _NUMERIC[op](have, want)
    if op in _STRING:
        return _STRING[op](str(value), " ".join(args))
    if isinstance(value, bool) or _as_bool(requirement) is not None and _as_bool(value) is not None:
        return _as_bool(value) == _as_bool(requirement)
    return str(value) == str(requirement).strip()


def unmet(extra_specs: dict[str, str], capabilities: dict[str, Any], skip: frozenset[str] = frozenset()) -> str | None:
    """Why `capabilities` do not satisfy `extra_specs` (the first spec that fails), or None."""
    for key, requirement in extra_specs.items():
        name = capability_key(key)
        if name is None or name in skip:
            continue
        if name not in capabilities:
            return f"{key}={requirement!r}: the pool does not report {name!r}"
        if not matches(capabilities[name], requirement):
            return f"{key}={requirement!r}: the pool has {name}={capabilities[name]!r}"
    return None
