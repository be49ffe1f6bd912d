"""Share types filtered by their extra specs (`GET /types?extra_specs=...`, Manila 2.43+).

As Manila's share_types.get_all_types: every given spec must be set to that value,
except `availability_zones`, which matches a type whose zones include all the
zones asked for, or a type with no zones at all (it may be used in any zone)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..common.errors import Invalid

ZONES = "availability_zones"


def parse_search(wanted: Any) -> tuple[dict[str, str], list[str]]:
    """({spec: value}, [zones]) from the filter as a client sends it (a dict)."""
    if not isinstance(wanted, dict):
        raise Invalid("extra_specs filter must be a dictionary")
    specs = {str(k): str(v) for k, v in wanted.items()}
    zones = specs.pop(ZONES, "")
    return specs, [z.strip() for z in zones.split(",") if z.strip()]


def matching(types: Iterable, wanted: Any) -> list:
    """The types of `types` (rows with `extra_specs`) that `wanted` selects."""
    specs, zones = parse_search(wanted)
    out = []
    for stype in types:
        have = stype.extra_specs or {}
        if any(have.get(k) != v for k, v in specs.items()):
            continue
        type_zones = {z.strip() for z in have.get(ZONES, "").split(",") if z.strip()}
        if zones and type_zones and not set(zones) <= type_zones:
            continue
        out.append(stype)
    return out
