"""NFS export helpers: one directory, exactly a given set of client rules.

`make_helper("ganesha" | "exportfs" | "sharenfs", host, **options)` builds the
helper a backend's `nfs_helper` setting names; for ganesha the options are the
fields of `GaneshaConfig` (`**settings.ganesha.model_dump()`).
"""

from __future__ import annotations

from shoal.hosts import Host

from .base import InvalidNfsRule, NfsClientRule, NfsExport, NfsHelper
from .exportfs import ExportfsHelper
from .ganesha import GaneshaError, GaneshaHelper
from .sharenfs import SharenfsHelper

HELPERS: dict[str, type[NfsHelper]] = {
    "ganesha": GaneshaHelper,
    "exportfs": ExportfsHelper,
    "sharenfs": SharenfsHelper,
}


def make_helper(kind: str, host: Host, **options) -> NfsHelper:
    try:
        cls = HELPERS[kind]
    except KeyError:
        raise ValueError(f"unknown NFS helper {kind!r}; one of {sorted(HELPERS)}") from None
    return cls(host, **options)


__all__ = [
    "ExportfsHelper", "GaneshaError", "GaneshaHelper", "InvalidNfsRule", "NfsClientRule", "NfsExport",
    "NfsHelper", "SharenfsHelper", "make_helper",
]
