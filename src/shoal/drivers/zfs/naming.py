"""Where a ZFS backend's objects live: names built from ids under the
configured pool roots, never from user text. One set of rules for the share
and the volume driver of a backend."""

from __future__ import annotations

from shoal.drivers.base import InvalidRequest


def pool_of(root: str) -> str:
    """The zpool a configured root (`tank` or `tank/shoal`) lives in: the pool's name in stats."""
    return root.split("/")[0]


def pool_root(roots: list[str], pool: str, backend: str) -> str:
    """The configured root for a pool name (the zpool's, or the root itself)."""
    for root in roots:
        if pool_of(root) == pool or root == pool:
            return root
    raise InvalidRequest(f"pool {pool!r} is not part of backend {backend}")


def root_of(roots: list[str], name: str, backend: str) -> str:
    """The configured root a dataset, zvol or snapshot name lies under."""
    for root in roots:
        if name.startswith(root + "/"):
            return root
    raise InvalidRequest(f"{name!r} is not inside any pool of backend {backend}")
