"""Names on the appliance, from Shoal's ids (Cinder's templates, reference §3.4, §3.7)."""

from __future__ import annotations

import re

from shoal.drivers.base import InvalidRequest

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")  # ids end up in URL paths and file names: nothing else gets in
CLONE_SNAPSHOT_PREFIX = "tmp-snapshot-"
UNMANAGED_PREFIX = "unmanaged-"


def checked_id(value: str, what: str) -> str:
    if not _ID.fullmatch(value or ""):
        raise InvalidRequest(f"{what} id {value!r} cannot name an object on the appliance")
    return value


def volume(prefix: str, volume_id: str) -> str:
    return prefix + checked_id(volume_id, "volume")


def snapshot(snapshot_id: str) -> str:
    return "snapshot-" + checked_id(snapshot_id, "snapshot")


def clone_snapshot(volume_id: str) -> str:
    """The temporary snapshot a clone is made from, named by the new volume."""
    return CLONE_SNAPSHOT_PREFIX + checked_id(volume_id, "volume")


def unmanaged(name: str) -> str:
    return UNMANAGED_PREFIX + name


def volume_id_of(prefix: str, name: str) -> str | None:
    """The id a Shoal-made name carries, or None."""
    if name.startswith(prefix) and _ID.fullmatch(name[len(prefix):]):
        return name[len(prefix):]
    return None


MIGRATION_PROJECT_PREFIX = "shoal-migrating-"


def migration_project(volume_id: str) -> str:
    """The project a migration's replication package is severed into on the
    destination, named by the volume it is made for (the hidden target)."""
    return MIGRATION_PROJECT_PREFIX + checked_id(volume_id, "volume")


def migration_project_id(name: str) -> str | None:
    """The volume id a staging project's name carries, or None when Shoal did not name it."""
    return volume_id_of(MIGRATION_PROJECT_PREFIX, name)
