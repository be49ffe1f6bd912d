"""How far a volume's long work has come: the image copy of a volume made from an
image (`downloading`), of os-volume_upload_image (`uploading`), or a migration
(migration_status starting, migrating, completing; a retype that migrates too).

The work writes its percentage into the volume's row ("42%": images.py,
migration_flows.py); Cinder's volume view has no key for it (Tempest's schemas
refuse extra keys), so Shoal shows it on its own route
(api/volume/progress.py, the `os-shoal-progress` extension).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shoal.db import models

from .migrations import migrating

IMAGE_COPIES = {"downloading": "image_download", "uploading": "image_upload"}


@dataclass(frozen=True)
class VolumeProgress:
    volume_id: str
    operation: str | None  # image_download, image_upload, migration; None when nothing runs
    percent: int | None  # 0-100 while an operation runs, else None
    status: str
    migration_status: str | None
    updated_at: datetime | None


def operation_of(volume: models.Volume) -> str | None:
    if migrating(volume):
        return "migration"
    return IMAGE_COPIES.get(volume.status)


def percent(text: str | None) -> int | None:
    """"42%" -> 42; None for what is not a percentage."""
    try:
        value = int((text or "").strip().removesuffix("%"))
    except ValueError:
        return None
    return max(0, min(100, value))


def progress_of(volume: models.Volume) -> VolumeProgress:
    """The volume's progress as its row holds it. A migration's copy leaves no
    percentage before it starts (0) nor once it is done and the volume switches
    to the new data (`completing`: 100)."""
    operation = operation_of(volume)
    done = None
    if operation is not None:
        done = percent(volume.progress)
        if done is None:
            done = 100 if volume.migration_status == "completing" else 0
    return VolumeProgress(volume.id, operation, done, volume.status, volume.migration_status, volume.updated_at)
