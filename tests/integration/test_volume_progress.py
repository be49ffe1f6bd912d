"""GET /volumes/{volume_id}/progress (Shoal's `os-shoal-progress` extension) on the
ZFS backend, read while the work runs.

The story: an image holding 512 MiB of random data (every other MiB of a GiB)
becomes a volume; while the image is copied the volume's progress names
`image_download` with a percentage that climbs and never goes back; once the
volume is available nothing runs (operation and percent null). The volume then goes back into an image
(os-volume_upload_image): `image_upload` while it is `uploading`, null again
once it is back. Another project gets the 404 a volume show gives it, and
/extensions lists the route's extension."""

from __future__ import annotations

import os
import uuid

import pytest

from .progress_helpers import percents, progress, watch
from .volume_helpers import GiB, MiB, cinder, fault, volume_api
from .volume_image_helpers import images, upload_image, wait_image

pytestmark = pytest.mark.integration
__all__ = ["images", "volume_api"]

COPY_TIMEOUT = 600.0  # a copy of 512 MiB on a busy 2-core machine
STEADY = ("available", "error")


def random_image(path, size: int, every: int):
    """A sparse raw file of `size` bytes with a MiB of random data (nothing to compress)
    at every `every` MiB: spread, the copy's percentage moves all along."""
    with open(path, "wb") as fh:
        for offset in range(0, size, every * MiB):
            fh.seek(offset)
            fh.write(os.urandom(MiB))
        fh.truncate(size)
    return path


def test_an_image_copy_shows_its_progress_until_the_volume_is_available(volume_api, images, tmp_path):
    image = upload_image(images, random_image(tmp_path / "random.raw", GiB, every=2), "raw")
    resp = volume_api.client.post("/volumes", json={"volume": {"size": 1, "imageRef": image["id"]}})
    assert resp.status_code == 202, resp.text
    vid = resp.json()["volume"]["id"]

    seen = watch(volume_api.client, vid, lambda a: a["status"] in STEADY, COPY_TIMEOUT)
    assert seen[-1]["status"] == "available", seen[-1]
    copying = [a for a in seen if a["status"] == "downloading"]
    assert copying and all(a["operation"] == "image_download" for a in copying), seen
    climbed = percents(seen, "image_download")
    assert len(set(climbed)) >= 2, f"no increase seen in {climbed}"
    assert {a["volume_id"] for a in seen} == {vid} and seen[-1]["migration_status"] is None
    assert (seen[-1]["operation"], seen[-1]["percent"]) == (None, None)
    assert seen[-1]["updated_at"] == volume_api.volume(vid)["updated_at"]

    resp = volume_api.action(vid, "os-volume_upload_image", {"image_name": f"back-{uuid.uuid4().hex[:6]}"})
    assert resp.status_code == 202, resp.text
    seen = watch(volume_api.client, vid, lambda a: a["status"] in STEADY, COPY_TIMEOUT)
    uploading = [a for a in seen if a["status"] == "uploading"]
    assert uploading and all(a["operation"] == "image_upload" for a in uploading), seen
    percents(seen, "image_upload")
    assert (seen[-1]["status"], seen[-1]["operation"], seen[-1]["percent"]) == ("available", None, None)
    wait_image(images, resp.json()["os-volume_upload_image"]["image_id"])
    volume_api.delete_volume(vid)


def test_a_volume_with_nothing_running_and_another_projects_volume(volume_api):
    volume = volume_api.create_volume(1)
    shown = progress(volume_api.client, volume["id"])
    assert shown == {"volume_id": volume["id"], "operation": None, "percent": None, "status": "available",
                     "migration_status": None, "updated_at": volume_api.volume(volume["id"])["updated_at"]}

    # Found and refused as a show: another project's volume, and one that does not exist, are 404s.
    with cinder(volume_api.server, project=uuid.uuid4().hex) as other:
        assert "could not be found" in fault(other.get(f"/volumes/{volume['id']}/progress"), 404, "itemNotFound")
        fault(other.get(f"/volumes/{volume['id']}"), 404)
    fault(volume_api.client.get(f"/volumes/{uuid.uuid4()}/progress"), 404, "itemNotFound")

    listed = {e["alias"]: e for e in volume_api.client.get("/extensions").json()["extensions"]}
    assert "/progress" in listed["os-shoal-progress"]["description"]
    volume_api.delete_volume(volume["id"])
