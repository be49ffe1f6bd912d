"""Images that must not become volumes, refused by POST /volumes before anything is
made (400 with the reason; no volume row, no dataset, no message): an image that is
not active, names no image, or whose virtual size or min_disk does not fit; a qcow2
with a backing file, data that is not its disk_format, an image cut short in the
store, and a qcow2 that was truncated before it was uploaded (the image service took
it: its header is intact; qemu-img check finds the tables point past its end).

The store's files are swapped behind the image service's back to stand for data that
changed or was damaged after its upload checks (the upload refuses these itself)."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from .volume_helpers import GiB, MiB, fault, volume_api, zfs_names
from .volume_image_helpers import glance, make_image, store_path, upload_image

pytestmark = pytest.mark.integration
__all__ = ["volume_api"]


@pytest.fixture
def images(shoal_server):
    client = glance(shoal_server)
    made: list[str] = []
    yield client, made
    for image_id in made:
        client.delete(f"/images/{image_id}")
    client.close()


def refused(volume_api, server, image_ref, size=1) -> str:
    """POST /volumes from the image: 400, and nothing made anywhere. Returns the message."""
    before = ({v["id"] for v in volume_api.client.get("/volumes").json()["volumes"]}, zfs_names(server.pool_root))
    body = {"imageRef": image_ref, "name": "never"}
    if size is not None:
        body["size"] = size
    message = fault(volume_api.client.post("/volumes", json={"volume": body}), 400)
    after = ({v["id"] for v in volume_api.client.get("/volumes").json()["volumes"]}, zfs_names(server.pool_root))
    assert after == before
    return message


def swap_in(server, image: dict, path) -> None:
    """Put `path`'s bytes in the store as the image's data, padded with zeros to the
    recorded size (qemu ignores what follows an image's end)."""
    data = path.read_bytes()
    assert len(data) <= image["size"], (len(data), image["size"])
    store_path(server, image["id"]).write_bytes(data + b"\0" * (image["size"] - len(data)))


def test_an_image_that_is_not_active_or_not_there(volume_api, images, shoal_server):
    client, made = images
    queued = client.post("/images", json={"name": "empty", "disk_format": "raw", "container_format": "bare"}).json()
    made.append(queued["id"])
    assert f"Image {queued['id']} is not active" in refused(volume_api, shoal_server, queued["id"])
    assert "Invalid image identifier" in refused(volume_api, shoal_server, str(uuid.uuid4()))
    assert "Invalid image identifier" in refused(volume_api, shoal_server, f"no-such-image-{uuid.uuid4().hex}")


def test_an_image_too_big_for_the_volume(volume_api, images, shoal_server, tmp_path):
    client, made = images
    image = upload_image(client, make_image(tmp_path, "qcow2", 2 * GiB, "two-gib"), "qcow2", min_disk=3)
    made.append(image["id"])
    assert "Image virtual size is 2GB and doesn't fit in a volume of size 1GB" in refused(
        volume_api, shoal_server, image["id"], 1)
    assert "cannot be smaller than the image minDisk size 3GB" in refused(volume_api, shoal_server, image["id"], 2)


def test_a_qcow2_with_a_backing_file(volume_api, images, shoal_server, tmp_path):
    client, made = images
    image = upload_image(client, make_image(tmp_path, "qcow2", GiB, "benign"), "qcow2")
    made.append(image["id"])
    hostile = tmp_path / "hostile.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", str(hostile),
                    str(GiB)], check=True)
    swap_in(shoal_server, image, hostile)
    message = refused(volume_api, shoal_server, image["id"])
    assert "not safe" in message and "backing" in message.lower()


def test_data_that_is_not_its_disk_format(volume_api, images, shoal_server, tmp_path):
    client, made = images
    image = upload_image(client, make_image(tmp_path, "raw", GiB // 4, "plain"), "raw")
    made.append(image["id"])
    swap_in(shoal_server, image, make_image(tmp_path, "qcow2", GiB, "posing-as-raw"))
    assert "does not match disk_format raw" in refused(volume_api, shoal_server, image["id"])


def test_an_image_cut_short_in_the_store(volume_api, images, shoal_server, tmp_path):
    client, made = images
    image = upload_image(client, make_image(tmp_path, "qcow2", GiB, "cut"), "qcow2")
    made.append(image["id"])
    os.truncate(store_path(shoal_server, image["id"]), image["size"] // 2)
    assert "its data is incomplete" in refused(volume_api, shoal_server, image["id"])


def test_a_qcow2_truncated_before_its_upload(volume_api, images, shoal_server, tmp_path):
    client, made = images
    whole = make_image(tmp_path, "qcow2", GiB, "truncated", 8)
    os.truncate(whole, whole.stat().st_size - 4 * MiB)  # the data clusters at its end are gone
    image = upload_image(client, whole, "qcow2")  # the header is intact: the image service takes it
    made.append(image["id"])
    assert "damaged or truncated" in refused(volume_api, shoal_server, image["id"])
