"""Volumes from images and images from volumes on RemoteFS backends: one keeps raw
volume files, one qcow2 (`qcow2_volumes`), each on a share directory that a test
nfs-ganesha exports, so the volume file the connection info names is read from
outside over nfs:// and compared with the image byte for byte (qemu-img compare).

An image uploaded from a volume with snapshots holds the volume's current data: the
active overlay read through its chain (Cinder's way); the driver refuses to write an
image into a volume that has snapshots (its snapshots' data would show through)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from shoal.drivers.base import InvalidRequest
from shoal.exports.nfs import NfsClientRule, NfsExport
from tests.fixtures.remotefs import new_volume, take_snapshot
from tests.fixtures.shoal import running_shoal

from .volume_helpers import GiB, MiB, VolumeApi, cinder, pattern
from .volume_image_helpers import download, glance, make_image, same_data, upload_image, wait_image

pytestmark = pytest.mark.integration
BACKENDS = {"nasraw": "", "nasqcow": "qcow2_volumes = true\n"}


def backends_toml(shares: dict) -> str:
    return "".join(f"""
[backends.{name}]
driver = "remotefs"
{extra}[[backends.{name}.shares]]
address = "127.0.0.1:{shares[name]}"
path = "{shares[name]}"
""" for name, extra in BACKENDS.items())


@pytest.fixture(scope="module")
def nas(zpool, tmp_path_factory):
    shares = {name: tmp_path_factory.mktemp(name) for name in BACKENDS}
    with running_shoal(zpool, tmp_path_factory, "volimg-nas", extra_config=backends_toml(shares)) as server:
        server.shares = shares
        yield server


@pytest.fixture
def api(nas, ganesha_factory):
    """A VolumeApi with a type per backend; the share directories exported over NFS by a
    ganesha of the test's own, started last (qemu's nfs:// asks rpcbind for it)."""
    ganesha = ganesha_factory()
    exports = [NfsExport(f"volimg-{name}-{os.getpid()}", str(path), "", (NfsClientRule("rw", "127.0.0.1", "rw"),))
               for name, path in nas.shares.items()]
    for export in exports:
        assert ganesha.helper.apply(export) == {}
    with cinder(nas) as client, glance(nas) as images:
        api = VolumeApi(nas, client)
        api.types = {name: api.create_type(f"{name}-{uuid.uuid4().hex[:4]}", {"volume_backend_name": name})
                     for name in BACKENDS}
        api.images = images
        made_before = {v["id"] for v in client.get("/volumes").json()["volumes"]}
        yield api
        for volume in client.get("/volumes").json()["volumes"]:
            if volume["id"] not in made_before:
                client.post(f"/volumes/{volume['id']}/action", json={"os-force_delete": None})
        for image in images.get("/images").json()["images"]:
            images.delete(f"/images/{image['id']}")
    for export in exports:
        ganesha.helper.remove(export)


def nfs_url(server, backend: str, name: str) -> str:
    return f"nfs://127.0.0.1{server.shares[backend]}/{name}"


@pytest.mark.parametrize("backend,volume_format", [("nasraw", "raw"), ("nasqcow", "qcow2")])
def test_an_image_becomes_a_volume_file_that_reads_as_the_image_over_nfs(api, nas, tmp_path, backend, volume_format):
    source = make_image(tmp_path, "qcow2", GiB, f"nas-{backend}")
    image = upload_image(api.images, source, "qcow2")
    volume = api.create_volume(1, imageRef=image["id"], volume_type=api.types[backend]["id"], wait=None)
    volume = api.wait_volume(volume["id"], "available", timeout=300)
    assert volume["bootable"] == "true" and volume["volume_image_metadata"]["image_id"] == image["id"]

    attachment = api.attach(volume["id"], complete=True)
    data = attachment["connection_info"]["data"]
    assert (data["name"], data["format"]) == (f"volume-{volume['id']}", volume_format)
    url = nfs_url(nas, backend, data["name"])
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", "-f", volume_format, url],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["virtual-size"] == GiB and not info.get("backing-filename")
    same_data(source, "qcow2", url, volume_format)
    api.detach(attachment["id"])

    # Back into an image: the image service records it, and it reads as the volume.
    resp = api.action(volume["id"], "os-volume_upload_image", {"image_name": f"back-{backend}", "disk_format": "vmdk"})
    assert resp.status_code == 202, resp.text
    uploaded = wait_image(api.images, resp.json()["os-volume_upload_image"]["image_id"])
    api.wait_volume(volume["id"], "available")
    path = download(api.images, uploaded["id"], tmp_path / "back.vmdk")
    same_data(path, "vmdk", url, volume_format)


def test_an_image_from_a_volume_with_snapshots_holds_its_current_data(api, nas, tmp_path):
    backend = "nasraw"
    volume = api.create_volume(1, volume_type=api.types[backend]["id"])
    base = nas.shares[backend] / f"volume-{volume['id']}"
    subprocess.run(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", _raw(tmp_path, "before"), str(base)],
                   check=True)
    snap = api.create_snapshot(volume["id"])
    top = nas.shares[backend] / f"volume-{volume['id']}.{snap['id']}"
    # The guest's later writes land in the active overlay on top of the snapshot.
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a {MiB} {MiB}", str(top)], check=True,
                   capture_output=True)

    resp = api.action(volume["id"], "os-volume_upload_image", {"image_name": "with-snapshots"})
    assert resp.status_code == 202, resp.text
    uploaded = wait_image(api.images, resp.json()["os-volume_upload_image"]["image_id"])
    api.wait_volume(volume["id"], "available")
    path = download(api.images, uploaded["id"], tmp_path / "current.raw")
    same_data(path, "raw", str(top), "qcow2")  # the chain, read through: the volume as it is now
    assert path.read_bytes()[MiB:MiB + 16] == b"\x5a" * 16
    api.delete_snapshot(snap["id"])


def _raw(tmp_path, seed: str) -> str:
    path = tmp_path / f"{seed}.raw"
    path.write_bytes(pattern(seed, 2 * MiB))
    return str(path)


def test_the_driver_opens_the_active_image_and_refuses_to_overwrite_one_with_snapshots(remotefs):
    driver = remotefs()
    volume = new_volume(driver, 1, 0x33)
    with driver.open_data(volume, writable=True) as data:
        assert data.path.endswith(f"volume-{volume.id}") and data.format == "raw"
    snapshot = take_snapshot(driver, volume)
    with driver.open_data(volume, writable=False) as data:
        assert data.path.endswith(f"volume-{volume.id}.{snapshot.id}") and data.format == "qcow2"
    with pytest.raises(InvalidRequest, match="has snapshots"):
        with driver.open_data(volume, writable=True):
            pass
    driver.delete_snapshot(snapshot)
    driver.delete_volume(volume)
