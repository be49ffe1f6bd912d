"""Capacity as Cinder's StorPool driver reports it (reference §4.6).

Space is counted in allocation groups of 512 MiB on the disks that are up
(`generationLeft == -1`). Free space loses the on-disk checksum overhead
(128 bytes per 4096) and is divided by the replication factor, as if every
new volume had `replication` copies. Every pool reports the same cluster-wide
numbers: templates share the disks.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.drivers.base import PoolStats

from . import specs

MiB = 1024**2
GiB = 1024**3
AG_SIZE = 512 * MiB
DISK_UP = -1


@dataclass(frozen=True)
class ClusterSpace:
    total: float  # bytes
    used: float
    free: float  # usable by a new volume: derated and divided by the replication


def cluster_space(disks: dict, replication: int) -> ClusterSpace:
    total = used = free = 0.0
    for disk in disks.values():
        if disk.get("generationLeft") != DISK_UP:
            continue
        total += disk["agCount"] * AG_SIZE
        used += disk["agAllocated"] * AG_SIZE
        free += disk["agFree"] * AG_SIZE * 4096 / (4096 + 128)
    return ClusterSpace(total, used, free / replication)


def pools(space: ClusterSpace, templates: list[dict], capabilities: dict) -> list[PoolStats]:
    """`default`, then `template_<name>` for every template, each carrying
    `storpool_template` so a type naming one lands in its pool."""
    def one(name: str, extra: dict) -> PoolStats:
        return PoolStats(name=name, total_gb=round(space.total / GiB, 2), free_gb=round(space.free / GiB, 2),
                         allocated_gb=round(space.used / GiB, 2), capabilities={**capabilities, **extra})

    found = [one(specs.DEFAULT_POOL, {})]
    for template in sorted(templates, key=lambda t: t["name"]):
        found.append(one(specs.pool(template["name"]), {specs.TEMPLATE: template["name"]}))
    return found
