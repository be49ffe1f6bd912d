"""Volumes from images and images from volumes on the ZFS backend (zfs-fuse: the
volume is a file in its own dataset, exported over iSCSI by Shoal's tgtd).

The story: a qcow2 image uploaded to Shoal's Image API becomes a volume (`imageRef`),
bootable, with Cinder's `volume_image_metadata`; attached, it reads over iscsi:// as
the image, byte for byte (qemu-img compare from outside). Data written to it over
iSCSI goes back into a new image with os-volume_upload_image in every disk format
Cinder offers, each downloaded and compared with the LUN; an in-use volume needs
`force` and returns to in-use. A copy that fails (the pool out of space) leaves the
volume `error` with a user message."""

from __future__ import annotations

import uuid

import pytest

from .volume_helpers import HOST1, GiB, MiB, Lun, fault, messages_for, pattern, volume_api, wait_for_status, zfs
from .volume_image_helpers import download, images, lun_spec, make_image, md5, same_data, upload_image, wait_image

pytestmark = pytest.mark.integration
__all__ = ["images", "volume_api"]

UPLOAD_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx")


def test_a_qcow2_image_becomes_a_bootable_volume_that_reads_as_the_image(volume_api, images, tmp_path):
    source = make_image(tmp_path, "qcow2", GiB, "zfs-image")
    image = upload_image(images, source, "qcow2", min_ram=512, os_distro="debian")

    resp = volume_api.client.post("/volumes", json={"volume": {"size": 1, "imageRef": image["id"], "name": "boot"}})
    assert resp.status_code == 202, resp.text
    created = resp.json()["volume"]
    assert created["status"] == "creating" and "volume_image_metadata" not in created
    volume = volume_api.wait_volume(created["id"], "available", timeout=300)

    assert volume["bootable"] == "true"
    meta = volume["volume_image_metadata"]
    assert meta == {"image_id": image["id"], "image_name": image["name"], "checksum": image["checksum"],
                    "container_format": "bare", "disk_format": "qcow2", "min_disk": "0", "min_ram": "512",
                    "size": str(image["size"]), "os_distro": "debian"}
    shown = volume_api.action(volume["id"], "os-show_image_metadata")
    assert shown.status_code == 200 and shown.json() == {"metadata": meta}

    attachment = volume_api.attach(volume["id"], HOST1)
    same_data(source, "qcow2", lun_spec(attachment, HOST1))
    volume_api.detach(attachment["id"])


def test_without_a_size_the_volume_is_as_large_as_the_image_needs(volume_api, images, tmp_path):
    image = upload_image(images, make_image(tmp_path, "raw", GiB + MiB, "sizeless"), "raw")
    resp = volume_api.client.post("/volumes", json={"volume": {"imageRef": image["id"]}})
    assert resp.status_code == 202, resp.text
    volume = volume_api.wait_volume(resp.json()["volume"]["id"], "available", timeout=300)
    assert volume["size"] == 2  # 1 GiB + 1 MiB, rounded up


def test_the_volume_goes_back_into_images_of_every_format(volume_api, images, tmp_path):
    source = make_image(tmp_path, "qcow2", GiB, "round-trip")
    image = upload_image(images, source, "qcow2")
    volume = volume_api.create_volume(1, imageRef=image["id"], wait=None)
    volume = volume_api.wait_volume(volume["id"], "available", timeout=300)
    attachment = volume_api.attach(volume["id"], HOST1)
    lun = Lun.of(attachment["connection_info"])
    lun.write(HOST1, pattern("written-over-iscsi", 2 * MiB))  # the volume now differs from its image
    volume_api.detach(attachment["id"])

    for disk_format in UPLOAD_FORMATS:
        name = f"from-volume-{disk_format}-{uuid.uuid4().hex[:4]}"
        resp = volume_api.action(volume["id"], "os-volume_upload_image",
                                 {"image_name": name, "disk_format": disk_format, "container_format": "bare",
                                  "visibility": "private", "protected": False})
        assert resp.status_code == 202, resp.text
        answer = resp.json()["os-volume_upload_image"]
        assert answer["id"] == volume["id"] and answer["status"] == "uploading" and answer["image_name"] == name
        assert answer["disk_format"] == disk_format and answer["container_format"] == "bare"
        assert answer["size"] == 1 and answer["visibility"] == "private" and answer["protected"] is False
        assert answer["volume_type"]["name"] == volume["volume_type"]
        uploaded = wait_image(images, answer["image_id"])
        assert volume_api.wait_volume(volume["id"], "available")["status"] == "available"

        # The image service's own upload path recorded it: name, hashes, sizes, the
        # volume's image properties carried over (not the image's own attributes).
        path = download(images, uploaded["id"], tmp_path / f"uploaded.{disk_format}")
        assert uploaded["name"] == name and uploaded["checksum"] == md5(path)
        assert uploaded["size"] == path.stat().st_size and uploaded["virtual_size"] >= GiB
        assert uploaded["disk_format"] == disk_format

        attachment = volume_api.attach(volume["id"], HOST1)
        same_data(path, disk_format, lun_spec(attachment, HOST1))
        volume_api.detach(attachment["id"])
        path.unlink()


def test_an_in_use_volume_uploads_only_with_force_and_stays_in_use(volume_api, images, tmp_path):
    volume = volume_api.create_volume(1)
    attachment = volume_api.attach(volume["id"], HOST1)
    Lun.of(attachment["connection_info"]).write(HOST1, pattern("in-use", MiB))
    assert volume_api.volume(volume["id"])["status"] == "in-use"

    refused = volume_api.action(volume["id"], "os-volume_upload_image", {"image_name": "no-force"})
    assert "Volume status is in-use" in fault(refused, 400)
    assert not [i for i in images.get("/images").json()["images"] if i["name"] == "no-force"]  # nothing made

    resp = volume_api.action(volume["id"], "os-volume_upload_image", {"image_name": "forced", "force": True})
    assert resp.status_code == 202, resp.text
    uploaded = wait_image(images, resp.json()["os-volume_upload_image"]["image_id"])
    assert volume_api.wait_volume(volume["id"], "in-use")["status"] == "in-use"
    path = download(images, uploaded["id"], tmp_path / "forced.raw")
    same_data(path, "raw", lun_spec(attachment, HOST1))
    volume_api.detach(attachment["id"])


def test_upload_refusals_change_nothing(volume_api, images):
    volume = volume_api.create_volume(1)
    before = {i["id"] for i in images.get("/images").json()["images"]}
    for arg, words in (({"image_name": "x", "disk_format": "iso"}, "disk_format"),
                       ({"image_name": "x", "container_format": "ovf"}, "container_format"),
                       ({"disk_format": "raw"}, "image_name"),
                       ({"image_name": "x", "force": "maybe"}, "force")):
        assert words in fault(volume_api.action(volume["id"], "os-volume_upload_image", arg), 400)
    # A volume type naming a store the built-in Image service does not have (it has one: file).
    elsewhere = volume_api.create_type(f"elsewhere-{uuid.uuid4().hex[:4]}", {"image_service:store_id": "elsewhere"})
    other = volume_api.create_volume(1, volume_type=elsewhere["name"])
    assert "store elsewhere" in fault(volume_api.action(other["id"], "os-volume_upload_image", {"image_name": "x"}),
                                      400)
    assert {i["id"] for i in images.get("/images").json()["images"]} == before
    for made in (volume, other):
        assert volume_api.volume(made["id"])["status"] == "available"


def test_image_metadata_actions(volume_api, images, tmp_path):
    image = upload_image(images, make_image(tmp_path, "raw", GiB, "meta"), "raw")
    volume = volume_api.create_volume(1, imageRef=image["id"], wait=None)
    volume_api.wait_volume(volume["id"], "available", timeout=300)

    added = volume_api.action(volume["id"], "os-set_image_metadata", {"metadata": {"hw_disk_bus": "scsi"}})
    assert added.status_code == 200, added.text
    assert added.json()["metadata"]["hw_disk_bus"] == "scsi" and added.json()["metadata"]["image_id"] == image["id"]
    gone = volume_api.action(volume["id"], "os-unset_image_metadata", {"key": "hw_disk_bus"})
    assert gone.status_code == 200, gone.text
    assert "hw_disk_bus" not in volume_api.volume(volume["id"])["volume_image_metadata"]
    fault(volume_api.action(volume["id"], "os-unset_image_metadata", {"key": "hw_disk_bus"}), 404)

    # An image uploaded from it carries the custom property back, not the image's own fields.
    volume_api.action(volume["id"], "os-set_image_metadata", {"metadata": {"os_distro": "alpine"}})
    resp = volume_api.action(volume["id"], "os-volume_upload_image", {"image_name": "meta-back"})
    uploaded = wait_image(images, resp.json()["os-volume_upload_image"]["image_id"])
    assert uploaded["os_distro"] == "alpine" and "image_id" not in uploaded
    volume_api.wait_volume(volume["id"], "available")


def test_a_copy_that_fails_leaves_the_volume_in_error_with_a_message(volume_api, images, tmp_path, shoal_server):
    # Data that does not compress, more than the pool root may take: the write fails. (The
    # headroom still lets the scheduler place a thin 1 GiB volume: 20 x 64 MiB free.)
    source = tmp_path / "big.raw"
    with open(source, "wb") as fh:
        for n in range(96):
            fh.write(pattern(f"big-{n}", MiB))
        fh.truncate(GiB)
    image = upload_image(images, source, "raw")
    root = shoal_server.pool_root
    used = int(zfs("get", "-H", "-p", "-o", "value", "used", root).stdout.strip())
    zfs("set", f"quota={used + 64 * MiB}", root)
    try:
        resp = volume_api.client.post("/volumes", json={"volume": {"size": 1, "imageRef": image["id"]}})
        assert resp.status_code == 202, resp.text
        volume = wait_for_status(volume_api.client, f"/volumes/{resp.json()['volume']['id']}", "error", timeout=300)
    finally:
        zfs("set", "quota=none", root)
    assert volume["bootable"] == "false" and "volume_image_metadata" not in volume
    (message,) = messages_for(volume_api.client, volume["id"])
    assert f"Copying image {image['id']} to the volume failed" in message["user_message"]
    assert "qemu-img: error while writing" in message["user_message"] and "quota" in message["user_message"]
