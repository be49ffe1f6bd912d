"""Client tour, StorPool, against the StorPool API emulator
(tests/emulators/storpool: /ctrl/1.0/... over real storage, a volume attached
to this host as a loop device under /dev/storpool-byid). A tour Shoal of its
own has a `storpool` backend on the emulator; types naming a template are how
the unmodified `openstack` and `cinder` clients reach it. Every volume's data
goes through os-brick's own StorPoolConnector with the connection info
`cinder attachment-create` hands out, as a compute host attaches it; images
go to and from StorPool volumes with `openstack volume create --image` and
`openstack image create --volume`."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.e2e.attach_cli import attached, from_snapshot_and_clone
from tests.e2e.tour_fixtures import (
    VOLUMES,
    remove,
    tour_shoal,
    wait_deleted,
    wait_status,
    wait_until,
)
from tests.fixtures.shoal import backend_table
from tests.integration.storpool_helpers import Attached

pytestmark = pytest.mark.e2e
SP = "sp"
GiB = 1024**3
MiB = 1024**2
HERE = {"host": platform.node(), "ip": "127.0.0.1"}  # SP_OURID=1 in the emulator's /etc/storpool.conf


@pytest.fixture(scope="module")
def storpool(zpool, tmp_path_factory, storpool_emulator_session):
    """A tour Shoal with a StorPool backend on the emulator and public types
    for its `ssd` and `hybrid` templates."""
    emulator = storpool_emulator_session
    table = {"driver": "storpool", "api_host": emulator.host, "api_port": emulator.port,
             "auth_token": emulator.token}
    with tour_shoal(zpool, tmp_path_factory, "tour-storpool", backend_table(SP, table)) as tour:
        made = tour.osc_batch("admin", *[
            ["volume", "type", "create", "--public", "--property", f"volume_backend_name={SP}", "--property",
             f"storpool_template={template}", f"sp-{template}", "-f", "json"] for template in ("ssd", "hybrid")])
        try:
            yield SimpleNamespace(tour=tour, types={t["name"].removeprefix("sp-"): t["name"] for t in made})
        finally:
            tour.osc("admin", "volume", "type", "delete", *[t["id"] for t in made], check=False)


def summary(emulator, volume_id: str) -> dict:
    return emulator.store.volumes[f"os--volume-{volume_id}"].summary()


class Device:
    """The volume attached on this host for the block: os-brick's connector on
    the connection info of a `cinder attachment-create`."""

    def __init__(self, tour, volume_id: str):
        self.tour, self.volume_id = tour, volume_id

    def __enter__(self) -> Attached:
        self._attachment = attached(self.tour, "a-member", self.volume_id, HERE)
        kind, data = self._attachment.__enter__()
        assert (kind, data) == ("storpool", {"client_id": 1, "volume": self.volume_id, "access_mode": "rw"})
        self.device = Attached(data)
        assert self.device.path.startswith("/dev/storpool-byid/")
        return self.device

    def __exit__(self, *exc) -> None:
        try:
            self.device.close()
        finally:
            self._attachment.__exit__(*exc)


def test_storpool_volume_tour(storpool, storpool_emulator):
    """emulator: create in a template's pool, snapshot, a larger volume from
    it, clone, extend (the connector sees the new size), revert, retype to
    another template in place, unmanage and delete with the real clients; data
    written and read through os-brick's StorPoolConnector."""
    tour, types = storpool.tour, storpool.types
    a = tour.sdk("a-member").block_storage
    created = tour.osc_json("a-member", "volume", "create", "--type", types["ssd"], "--size", "1", "sp-vol")
    vol, made = created["id"], [created["id"]]
    try:
        wait_status(a.get_volume, vol, "available")
        assert tour.osc_json("admin", "volume", "show", vol)["os-vol-host-attr:host"] == f"shoal@{SP}#template_ssd"
        assert summary(storpool_emulator, vol)["templateName"] == "ssd"
        with Device(tour, vol) as device:
            device.write(4096, b"first")
        assert storpool_emulator.store.volumes[f"os--volume-{vol}"].attachments == {}  # detached again

        snap = tour.osc_json("a-member", "volume", "snapshot", "create", "--volume", vol, "sp-snap")
        wait_status(a.get_snapshot, snap["id"], "available")
        with Device(tour, vol) as device:
            device.write(4096, b"later")

        from_snap, clone = from_snapshot_and_clone(tour, "a-member", snap["id"], vol, types["ssd"], "sp")
        made += [from_snap, clone]
        with Device(tour, from_snap) as device:
            assert device.read(4096, 5) == b"first"
        assert summary(storpool_emulator, from_snap)["size"] == 2 * GiB
        with Device(tour, clone) as device:
            assert device.read(4096, 5) == b"later"

        tour.osc("a-member", "volume", "set", "--size", "2", vol)
        wait_until("sp-vol to be 2 GiB", lambda: a.get_volume(vol).size == 2 and a.get_volume(vol).status == "available")
        with Device(tour, vol) as device:
            assert device.connector.extend_volume(device.properties) == 2 * GiB
            device.write(GiB + 512, b"grown")

        tour.osc("a-member", "--os-volume-api-version", "3.40", "volume", "revert", snap["id"])
        wait_status(a.get_volume, vol, "available")
        assert summary(storpool_emulator, vol)["size"] == 2 * GiB
        with Device(tour, vol) as device:
            assert device.read(4096, 5) == b"first"
            assert device.read(GiB + 512, 5) == bytes(5)  # written after the snapshot

        tour.osc("a-member", "volume", "set", "--type", types["hybrid"], "--migration-policy", "never", vol)
        wait_until("sp-vol to have the new type",
                   lambda: (v := a.get_volume(vol)).volume_type == types["hybrid"] and v.status == "available")
        assert summary(storpool_emulator, vol)["templateName"] == "hybrid"
        assert tour.osc_json("admin", "volume", "show", vol)["os-vol-host-attr:host"] == \
            f"shoal@{SP}#template_hybrid"
        with Device(tour, vol) as device:
            assert device.read(4096, 5) == b"first"

        tour.osc("a-member", "volume", "snapshot", "delete", snap["id"])
        wait_deleted(a.get_snapshot, snap["id"])
        tour.osc("a-member", "volume", "delete", from_snap, clone)
        for volume_id in (from_snap, clone):
            wait_deleted(a.get_volume, volume_id)
        # Unmanage (Cinder's StorPool driver has no manage): Shoal forgets the
        # volume, the cluster keeps it under its name.
        tour.osc("admin", "volume", "delete", "--remote", vol)
        wait_deleted(a.get_volume, vol)
        made = []
        assert list(storpool_emulator.store.volumes) == [f"os--volume-{vol}"]
        assert storpool_emulator.store.snapshots == {} or all(s.startswith("*") for s in storpool_emulator.store.snapshots)
    finally:
        remove(a, VOLUMES, made)


def test_storpool_manage_is_refused_with_a_message(storpool, storpool_emulator):
    """emulator: `openstack volume create --remote-source` on the StorPool
    backend ends in error with a message saying why; nothing in the cluster changes."""
    tour = storpool.tour
    admin = tour.sdk("admin").block_storage
    managed = tour.osc_json("admin", "volume", "create", "--remote-source", "source-name=someone-elses", "--host",
                            f"shoal@{SP}#default", "--type", storpool.types["ssd"], "sp-manage")
    try:
        wait_until("the manage to fail", lambda: admin.get_volume(managed["id"]).status.startswith("error"))
        with tour.http(tour.token_id("admin")) as http:
            messages = http.get(f"/volume/v3/{tour.projects['admin']}/messages",
                                headers={"OpenStack-API-Version": "volume 3.3"}).json()["messages"]
        notes = [m["user_message"] for m in messages if m["resource_uuid"] == managed["id"]]
        assert notes and "not supported" in " ".join(notes), notes
        assert storpool_emulator.store.volumes == {}
    finally:
        remove(admin, VOLUMES, [managed["id"]])


def test_storpool_volume_from_an_image_and_an_image_from_it_with_openstack(storpool, storpool_emulator, tmp_path):
    """emulator: `openstack volume create --image` onto a StorPool type and
    `openstack image create --volume` back; the volume's device (os-brick's
    connector) reads as the image, the saved image as the first one, byte for
    byte; Shoal's own attachments for the copies are gone."""
    tour = storpool.tour
    sdk = tour.sdk("a-member")
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as fh:
        fh.write(os.urandom(2 * MiB))
        fh.seek(GiB // 2)
        fh.write(b"storpool-middle" * 100)
        fh.truncate(GiB)
    source = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(source)], check=True)
    images, volumes = [], []
    try:
        image = tour.osc_json("a-member", "image", "create", "--file", str(source), "--disk-format", "qcow2",
                              "--container-format", "bare", "sp-tour-image")
        images.append(image["id"])
        created = tour.osc_json("a-member", "volume", "create", "--image", image["id"], "--type", storpool.types["ssd"],
                                "--size", "1", "sp-from-image")
        volumes.append(created["id"])
        wait_status(sdk.block_storage.get_volume, created["id"], "available")
        assert str(tour.osc_json("a-member", "volume", "show", created["id"])["bootable"]).lower() == "true"
        assert storpool_emulator.store.volumes[f"os--volume-{created['id']}"].attachments == {}
        with Device(tour, created["id"]) as device:
            same(source, "qcow2", device.path, "raw")

        uploaded = tour.osc_json("a-member", "image", "create", "--volume", created["id"], "--disk-format", "qcow2",
                                 "--container-format", "bare", "sp-tour-back")
        images.append(uploaded["image_id"])
        wait_status(sdk.image.get_image, uploaded["image_id"], "active")
        wait_status(sdk.block_storage.get_volume, created["id"], "available")
        assert storpool_emulator.store.volumes[f"os--volume-{created['id']}"].attachments == {}
        saved = tmp_path / "saved.qcow2"
        tour.osc("a-member", "image", "save", "--file", str(saved), uploaded["image_id"])
        same(source, "qcow2", str(saved), "qcow2")
    finally:
        remove(sdk.block_storage, VOLUMES, volumes)
        for image_id in images:
            sdk.image.delete_image(image_id, ignore_missing=True)


def same(image: Path, fmt: str, other: str, other_fmt: str) -> None:
    compared = subprocess.run(["qemu-img", "compare", "-f", fmt, "-F", other_fmt, str(image), other], check=False,
                              capture_output=True, text=True, timeout=600)
    assert compared.returncode == 0, compared.stdout + compared.stderr
