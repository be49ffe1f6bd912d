"""Volumes from images and images from volumes on a ZFS backend whose storage host is
reached over SSH (tests/fixtures/ssh_replication.py: backend `remote`, a private sshd
on 127.0.0.1, its own zpool; the volume a file in its dataset).

The story: a qcow2 image of Shoal's Image service becomes a volume on the SSH host
(the image file staged on that host and converted there); the volume's file, read
from outside, holds the image byte for byte. Data written into it goes back into a
new image with os-volume_upload_image (converted on the host, the result copied
back), which reads as the volume. No staging directory stays on the host.
"""

from __future__ import annotations

import glob
import uuid

import pytest

from shoal.services.volume.image_copy import STAGING_DIR, STAGING_PREFIX
from tests.fixtures.replication import second_zpool  # noqa: F401 - fixture
from tests.fixtures.ssh_replication import replica_sshd, ssh_replica_server  # noqa: F401 - fixtures

from .volume_helpers import GiB, MiB, VolumeApi, backing_file, cinder, pattern
from .volume_image_helpers import (
    download,
    glance,
    make_image,
    same_data,
    upload_image,
    wait_image,
)

pytestmark = pytest.mark.integration
TIMEOUT = 300


@pytest.fixture
def api(ssh_replica_server):
    server = ssh_replica_server.server
    with cinder(server) as client, glance(server) as images:
        api = VolumeApi(server, client)
        api.images = images
        api.remote_type = api.create_type(f"remote-{uuid.uuid4().hex[:4]}", {"volume_backend_name": "remote"})
        yield api
        client.delete(f"/types/{api.remote_type['id']}")


def staging_dirs() -> set[str]:
    return set(glob.glob(f"{STAGING_DIR}/{STAGING_PREFIX}*"))


def test_an_image_becomes_a_volume_on_the_ssh_host_and_goes_back(api, ssh_replica_server, tmp_path):
    staged_before = staging_dirs()
    source = make_image(tmp_path, "qcow2", GiB, "to-the-ssh-host")
    image = upload_image(api.images, source, "qcow2")
    volume = api.create_volume(1, imageRef=image["id"], volume_type=api.remote_type["id"], wait=None)
    volume = api.wait_volume(volume["id"], "available", timeout=TIMEOUT)
    assert volume["bootable"] == "true" and volume["volume_image_metadata"]["image_id"] == image["id"]
    assert volume["os-vol-host-attr:host"].startswith("shoal@remote#")
    dataset = f"{ssh_replica_server.roots[1]}/volume-{volume['id']}"
    volume_file = backing_file(dataset)
    same_data(source, "qcow2", volume_file)  # the file on the SSH host's pool, read from outside

    with open(volume_file, "r+b") as fh:  # new data in the volume, for the way back
        fh.write(pattern("written-on-the-ssh-host", MiB))
    answer = api.action(volume["id"], "os-volume_upload_image", {"image_name": "from-the-ssh-host",
                                                                "disk_format": "qcow2"})
    assert answer.status_code == 202, answer.text
    image_id = answer.json()["os-volume_upload_image"]["image_id"]
    uploaded = wait_image(api.images, image_id)
    assert uploaded["disk_format"] == "qcow2"
    back = download(api.images, image_id, tmp_path / "back.qcow2")
    same_data(back, "qcow2", volume_file)
    assert api.wait_volume(volume["id"], "available")["status"] == "available"
    assert staging_dirs() == staged_before

    api.delete_volume(volume["id"])
    for made in (image["id"], image_id):
        assert api.images.delete(f"/images/{made}").status_code == 204
