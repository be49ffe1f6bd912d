"""Names in the cluster, from Shoal's ids (reference §4.2).

os-brick's connector on a compute host finds a volume by the id in the
connection info and the same rule (`os_to_sp_volume_name`), so the rule is
taken from os-brick rather than written again.
"""

from __future__ import annotations

import re

from os_brick.initiator.storpool_utils import os_to_sp_snapshot_name, os_to_sp_volume_name

from shoal.drivers.base import InvalidRequest

DEFAULT_PREFIX = "os"  # SP_OPENSTACK_VOLUME_PREFIX's default
MIGRATION_SUFFIX = "--temp--mig"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")  # ids end up in URL paths: nothing else gets in


def checked_id(value: str, what: str) -> str:
    if not _ID.fullmatch(value or ""):
        raise InvalidRequest(f"{what} id {value!r} cannot name a StorPool object")
    return value


def volume(prefix: str, volume_id: str) -> str:
    return os_to_sp_volume_name(prefix, checked_id(volume_id, "volume"))


def snapshot(prefix: str, snapshot_id: str) -> str:
    return os_to_sp_snapshot_name(prefix, "snap", checked_id(snapshot_id, "snapshot"))


def clone_snapshot(prefix: str, volume_id: str) -> str:
    """The transient snapshot a clone into another template goes through, named
    by the new volume, so a repeated clone finds the one it made."""
    return os_to_sp_snapshot_name(prefix, "clone", checked_id(volume_id, "volume"))


def migration_temporary(temp_name: str) -> str:
    return temp_name + MIGRATION_SUFFIX
