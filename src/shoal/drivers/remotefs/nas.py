"""The NAS shares that hold a backend's volume files: where each one is on the
storage host, mounting it, its capacity, and Cinder's choice of a share for a
new volume (reference §2.1, §2.2, §2.4).

A share with a `path` is a directory used as it is. A share with only an
`address` is mounted at `<mount_point_base>/<md5 hex of the address>`, the
mount point Cinder (os-brick's RemoteFsClient) uses, so Cinder and Shoal find
the same files at the same place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shoal.hosts import Host

from .config import NasShareConfig

GiB = 1024**3
MOUNT_TIMEOUT = 60.0
STAT_TIMEOUT = 60.0
DU_TIMEOUT = 600.0  # du walks every file of the share


def mount_point(base: str, address: str) -> str:
    return f"{base.rstrip('/')}/{hashlib.md5(address.encode()).hexdigest()}"


@dataclass(frozen=True)
class Share:
    config: NasShareConfig
    directory: str  # where the volume files are on the storage host

    @property
    def address(self) -> str:
        return self.config.address

    @property
    def mounted_by_us(self) -> bool:
        return self.config.path is None


def shares_of(configs: list[NasShareConfig], mount_point_base: str) -> dict[str, Share]:
    """Address -> Share, in configured order."""
    return {c.address: Share(c, c.path or mount_point(mount_point_base, c.address)) for c in configs}


# ---- argv builders --------------------------------------------------------------------------


def mount(share: Share) -> list[str]:
    options = ["-o", share.config.mount_options] if share.config.mount_options else []
    return ["mount", "-t", "nfs", *options, share.address, share.directory]


def is_mounted(directory: str) -> list[str]:
    return ["mountpoint", "-q", directory]


def make_dir(directory: str) -> list[str]:
    return ["mkdir", "-p", "--", directory]


def capacity(directory: str) -> list[str]:
    """Block size, total blocks and blocks available to an unprivileged user."""
    return ["stat", "-f", "-c", "%S %b %a", directory]


def allocated(directory: str) -> list[str]:
    """What the volumes claim (apparent sizes, so a sparse file counts whole);
    Cinder leaves out anything named like a snapshot."""
    return ["du", "-sb", "--apparent-size", "--exclude", "*snapshot*", directory]


def writable(directory: str) -> list[str]:
    return ["test", "-w", directory]


# ---- parsing and arithmetic ---------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    total: int  # bytes
    free: int
    allocated: int  # apparent size of the volume files


def parse_capacity(text: str) -> tuple[int, int]:
    """(total, free) bytes from `stat -f -c '%S %b %a'`."""
    block, blocks, available = (int(x) for x in text.split())
    return block * blocks, block * available


def parse_allocated(text: str) -> int:
    return int(text.split()[0])


def read_space(host: Host, directory: str) -> Space:
    total, free = parse_capacity(host.run(capacity(directory), timeout=STAT_TIMEOUT).stdout)
    used = parse_allocated(host.run(allocated(directory), timeout=DU_TIMEOUT).stdout)
    return Space(total, free, used)


def eligible(space: Space, size: int, reserved_percentage: int, max_over_subscription_ratio: float) -> bool:
    """Cinder's NFS rule: a share takes a volume of `size` bytes unless it is
    fuller than its reserve allows, or its over-subscribed capacity left is not
    more than the request, or it is over-subscribed already."""
    if space.total <= 0:
        return False
    if (space.total - space.free) / space.total > (100 - reserved_percentage) / 100:
        return False
    apparent_free = max(0.0, space.total * max_over_subscription_ratio - space.allocated)
    if apparent_free <= size:
        return False
    return space.allocated / space.total < max_over_subscription_ratio


def choose(spaces: dict[str, Space], size: int, reserved_percentage: int,
           max_over_subscription_ratio: float) -> str | None:
    """Among the eligible shares, the one with the least allocated (first wins a tie)."""
    best: str | None = None
    for address, space in spaces.items():
        if eligible(space, size, reserved_percentage, max_over_subscription_ratio):
            if best is None or space.allocated < spaces[best].allocated:
                best = address
    return best
