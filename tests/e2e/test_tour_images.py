"""Client tour, images: the unmodified `openstack image …` commands and openstacksdk against
Shoal's built-in Image service (found through the token catalog), as members of tour-a
and tour-b and the admin: create with a file, list, show, save byte for byte, set, share
with another project that accepts, community and public visibility, delete."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

pytestmark = pytest.mark.e2e
MiB = 1 << 20


@pytest.fixture
def image_files(tmp_path):
    raw = tmp_path / "disk.raw"
    raw.write_bytes(os.urandom(2 * MiB) + b"\0" * MiB)
    qcow2 = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    return raw, qcow2


def _cleanup(tour, made: list[tuple[str, str]]) -> None:
    for cloud, image_id in made:
        tour.sdk(cloud).image.delete_image(image_id, ignore_missing=True)


def test_image_tour_with_openstack(tour, image_files, tmp_path):
    raw, qcow2 = image_files
    made: list[tuple[str, str]] = []
    try:
        created = tour.osc_json("a-member", "image", "create", "--file", str(qcow2), "--disk-format", "qcow2",
                                "--container-format", "bare", "--property", "os_distro=debian", "--tag", "tour",
                                "tour-image")
        made.append(("a-member", created["id"]))
        assert created["status"] == "active" and created["disk_format"] == "qcow2"
        assert created["checksum"] == hashlib.md5(qcow2.read_bytes()).hexdigest()

        listed, shown = tour.osc_batch("a-member", ["image", "list", "-f", "json"],
                                       ["image", "show", created["id"], "-f", "json"])
        assert created["id"] in {i["ID"] for i in listed}
        assert shown["name"] == "tour-image" and shown["size"] == qcow2.stat().st_size
        assert shown["virtual_size"] == 3 * MiB and shown["visibility"] == "shared"
        hashes = {**shown, **shown.get("properties", {})}  # the client shows these among the properties
        assert hashes["os_hash_algo"] == "sha512"
        assert hashes["os_hash_value"] == hashlib.sha512(qcow2.read_bytes()).hexdigest()

        saved = tmp_path / "saved.qcow2"
        tour.osc("a-member", "image", "save", "--file", str(saved), created["id"])
        assert saved.read_bytes() == qcow2.read_bytes()

        tour.osc("a-member", "image", "set", "--name", "tour-image2", "--property", "hw_disk_bus=scsi",
                 "--min-disk", "1", created["id"])
        after = tour.osc_json("a-member", "image", "show", created["id"])
        props = after["properties"]
        assert after["name"] == "tour-image2" and after["min_disk"] == 1
        assert props["hw_disk_bus"] == "scsi" and props["os_distro"] == "debian"

        # tour-b cannot see the shared image until it is offered and accepted.
        b_project = tour.projects["tour-b"]
        hidden = tour.osc_fails("b-member", "image", "show", created["id"])
        assert "No Image found" in hidden or "NotFoundException: 404" in hidden, hidden
        member = tour.osc_json("a-member", "image", "add", "project", created["id"], b_project)
        assert member["status"] == "pending"
        b_ids = {i["ID"] for i in tour.osc_json("b-member", "image", "list")}
        assert created["id"] not in b_ids  # pending: not in the default list
        tour.osc("b-member", "image", "set", "--accept", created["id"])
        b_ids = {i["ID"] for i in tour.osc_json("b-member", "image", "list")}
        assert created["id"] in b_ids
        b_saved = tmp_path / "b-saved"
        tour.osc("b-member", "image", "save", "--file", str(b_saved), created["id"])
        assert b_saved.read_bytes() == qcow2.read_bytes()
        # ... but may not change or delete it.
        assert "403" in tour.osc_fails("b-member", "image", "set", "--name", "stolen", created["id"])
        assert "403" in tour.osc_fails("b-member", "image", "delete", created["id"])
        # A member may not publish; the admin may.
        assert "403" in tour.osc_fails("a-member", "image", "set", "--public", created["id"])
        tour.osc("admin", "image", "set", "--public", created["id"])
        tour.osc("a-member", "image", "delete", created["id"])
        gone = tour.osc_fails("a-member", "image", "show", created["id"])
        assert "No Image found" in gone or "NotFoundException: 404" in gone, gone
        assert created["id"] not in {i["ID"] for i in tour.osc_json("a-member", "image", "list")}
    finally:
        _cleanup(tour, made)


def test_image_tour_with_openstacksdk(tour, image_files, tmp_path):
    raw, _ = image_files
    a, b = tour.sdk("a-member").image, tour.sdk("b-member").image
    made: list[tuple[str, str]] = []
    try:
        image = tour.sdk("a-member").create_image("sdk-image", filename=str(raw), disk_format="raw",
                                                  container_format="bare", visibility="community", wait=True)
        made.append(("a-member", image.id))
        assert image.status == "active" and image.size == raw.stat().st_size
        # Community: anyone may use it by id, and list it with visibility=community.
        found = b.get_image(image.id)
        assert found.checksum == hashlib.md5(raw.read_bytes()).hexdigest()
        assert image.id in {i.id for i in b.images(visibility="community")}
        assert image.id not in {i.id for i in b.images()}
        out = tmp_path / "sdk.raw"
        b.download_image(image.id, output=str(out))
        assert out.read_bytes() == raw.read_bytes()

        # Staged upload and glance-direct import through the SDK.
        staged = a.create_image(name="sdk-staged", disk_format="raw", container_format="bare")
        made.append(("a-member", staged.id))
        a.stage_image(staged, data=raw.open("rb"))
        a.import_image(staged, method="glance-direct")
        from tests.e2e.tour_fixtures import wait_status

        done = wait_status(a.get_image, staged.id, "active")
        assert done.hash_value == hashlib.sha512(raw.read_bytes()).hexdigest()

        a.deactivate_image(staged)
        assert a.get_image(staged.id).status == "deactivated"
        a.reactivate_image(staged)
        a.add_tag(staged, "sdk")
        assert "sdk" in a.get_image(staged.id).tags
    finally:
        _cleanup(tour, made)
