"""Capacity as the ZFSSA drivers report it (reference §3.4, §3.7): from the
project's (iSCSI) or the share's (NFS) space, where `space_total` is what is
used and `space_available` what is left, so the size is their sum."""

from __future__ import annotations

from shoal.drivers.base import PoolStats

GiB = 1024**3


def _gib(value) -> float:
    return round(float(value or 0) / GiB, 2)


def space_pool(name: str, space: dict, capabilities: dict) -> PoolStats:
    """One pool from a project's or share's `space_available` / `space_total` (bytes)."""
    used, free = float(space.get("space_total") or 0), float(space.get("space_available") or 0)
    return PoolStats(name=name, total_gb=_gib(used + free), free_gb=_gib(free), allocated_gb=_gib(used),
                     capabilities=capabilities)


def nfs_reserved_percentage(space: dict, reserved: int, max_over_subscription_ratio: float) -> int:
    """Cinder's NFS rule, kept by the ZFSSA NFS driver: a share used beyond
    (100 - reserved)% of its size, or at least the over-subscription ratio,
    takes no more volumes (100% reserved)."""
    used, free = float(space.get("space_total") or 0), float(space.get("space_available") or 0)
    total = used + free
    ratio = used / total if total else 1.0
    if ratio > (100 - reserved) / 100 or ratio >= max_over_subscription_ratio:
        return 100
    return reserved


def location_info(*parts: str) -> str:
    """`location_info` without credentials (the original put user:password in it)."""
    return ":".join(parts)
