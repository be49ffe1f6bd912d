"""Client tour, volumes and images: the unmodified `openstack volume create --image` and
`openstack image create --volume` as a member of tour-a. A qcow2 image becomes a bootable
volume with its image metadata; the volume goes back into a new image, which the client
saves and which reads byte for byte as the first image (qemu-img compare)."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.tour_fixtures import wait_status

pytestmark = pytest.mark.e2e
MiB = 1 << 20
GiB = 1 << 30


@pytest.fixture
def image_file(tmp_path):
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as fh:
        fh.write(subprocess.run(["head", "-c", str(3 * MiB), "/dev/urandom"], capture_output=True).stdout)
        fh.seek(GiB // 2)
        fh.write(b"middle" * 1000)
        fh.truncate(GiB)
    qcow2 = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    raw.unlink()
    return qcow2


def test_a_volume_from_an_image_and_an_image_from_the_volume_with_openstack(tour, image_file, tmp_path):
    sdk = tour.sdk("a-member")
    images, volumes = [], []
    try:
        image = tour.osc_json("a-member", "image", "create", "--file", str(image_file), "--disk-format", "qcow2",
                              "--container-format", "bare", "--property", "os_distro=tour", "tour-vi-image")
        images.append(image["id"])
        created = tour.osc_json("a-member", "volume", "create", "--image", "tour-vi-image", "--size", "1",
                                "tour-vi-volume")
        volumes.append(created["id"])
        wait_status(sdk.block_storage.get_volume, created["id"], "available")
        shown = tour.osc_json("a-member", "volume", "show", "tour-vi-volume")
        assert str(shown["bootable"]).lower() == "true"  # the client shows it as a boolean
        meta = shown["volume_image_metadata"]
        assert meta["image_id"] == image["id"] and meta["os_distro"] == "tour" and meta["disk_format"] == "qcow2"

        # openstack image create --volume: os-volume_upload_image, answered as Cinder answers.
        uploaded = tour.osc_json("a-member", "image", "create", "--volume", "tour-vi-volume", "--disk-format", "qcow2",
                                 "--container-format", "bare", "tour-vi-back")
        images.append(uploaded["image_id"])
        assert uploaded["id"] == created["id"] and uploaded["image_name"] == "tour-vi-back"
        assert uploaded["status"] == "uploading" and uploaded["disk_format"] == "qcow2"
        wait_status(sdk.image.get_image, uploaded["image_id"], "active")
        wait_status(sdk.block_storage.get_volume, created["id"], "available")

        saved = tmp_path / "saved.qcow2"
        tour.osc("a-member", "image", "save", "--file", str(saved), uploaded["image_id"])
        back = tour.osc_json("a-member", "image", "show", uploaded["image_id"])
        assert back["virtual_size"] == GiB and back["size"] == saved.stat().st_size
        assert back["properties"]["os_distro"] == "tour"  # the volume's image property went along
        compared = subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", str(image_file), str(saved)],
                                  capture_output=True, text=True, timeout=300)
        assert compared.returncode == 0, compared.stdout + compared.stderr
    finally:
        for volume_id in volumes:
            sdk.block_storage.delete_volume(volume_id, ignore_missing=True)
        for image_id in images:
            sdk.image.delete_image(image_id, ignore_missing=True)
