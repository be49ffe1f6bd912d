"""What GET /volumes/{volume_id}/progress makes of a volume's row
(services/volume/progress.py): which operation runs, and its percentage. The
route itself is tested on a running Shoal in tests/integration/test_volume_progress*.py."""

from __future__ import annotations

import pytest

from shoal.db import models
from shoal.services.volume.progress import percent, progress_of


def row(status: str, progress: str | None = None, migration_status: str | None = None) -> models.Volume:
    return models.Volume(id="v", project_id="p", user_id="u", size=1, status=status, progress=progress,
                         migration_status=migration_status)


@pytest.mark.parametrize(("volume", "operation", "done"), [
    (row("downloading", "42%"), "image_download", 42),
    (row("uploading", "7%"), "image_upload", 7),
    (row("available", "0%", "starting"), "migration", 0),
    (row("retyping", "63%", "migrating"), "migration", 63),  # a retype that migrates
    (row("available", None, "migrating"), "migration", 0),  # before the copy writes any
    (row("in-use", None, "completing"), "migration", 100),  # the copy is over, the volume switches
    (row("available", "100%"), None, None),  # a volume from an image, filled
    (row("available", None, "success"), None, None),
    (row("error", "55%", "error"), None, None),
    (row("available", None, "target:v2"), None, None),  # a migration's hidden target
])
def test_operation_and_percent(volume, operation, done):
    shown = progress_of(volume)
    assert (shown.operation, shown.percent) == (operation, done)
    assert (shown.volume_id, shown.status, shown.migration_status) == ("v", volume.status, volume.migration_status)


@pytest.mark.parametrize(("text", "value"), [("42%", 42), ("0%", 0), ("100%", 100), ("180%", 100), (" 5% ", 5),
                                             ("", None), (None, None), ("half", None)])
def test_percent_text(text, value):
    assert percent(text) == value
