"""StorPool volumes from images, images from StorPool volumes, and generic
migration between ZFS and StorPool, against the StorPool API emulator
(tests/emulators/storpool: /ctrl/1.0/... over real storage, a volume attached
to this host as a loop device behind /dev/storpool-byid/<globalId>).

Shoal reaches a StorPool volume's data as Cinder's generic path does: the
driver's `open_data` attaches it on Shoal's host with os-brick's own
StorPoolConnector and detaches it after the copy, also when the copy fails.
Each story checks the bytes from outside -- the StorPool volume through the
same unmodified connector on the connection info the attachment API hands out
(as a compute host reads it), the ZFS volume over iSCSI -- and that the
emulator holds no attachment of Shoal's afterwards."""

from __future__ import annotations

import platform
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shoal.drivers.base import DriverError, NotFoundOnBackend
from shoal.drivers.storpool.config import StorPoolBackendConfig
from shoal.drivers.storpool.volumes import StorPoolVolumeDriver
from shoal.drivers.volume import VolumeRef
from tests.fixtures.shoal import backend_table, running_shoal
from tests.integration.storpool_helpers import Attached

from .migration_helpers import (
    Migrations,
    reference_image,
    zfs_copies_collected,
    zfs_volumes,
)
from .volume_helpers import GiB, MiB, _remove_leftovers, cinder, messages_for, pattern
from .volume_image_helpers import (
    download,
    glance,
    make_image,
    same_data,
    upload_image,
    wait_image,
)

pytestmark = pytest.mark.integration

SP = "sp"
HERE = platform.node()  # SP_OURID=1 in the emulator's /etc/storpool.conf
COPY_TIMEOUT = 600.0  # a GiB through a loop device on a busy 2-core machine


def sp_name(volume_id: str) -> str:
    return f"os--volume-{volume_id}"


def attachments_of(emulator, volume_id: str) -> dict:
    """The emulator's record of the clients holding the volume, its local device, and its
    entries under /dev/storpool and /dev/storpool-byid."""
    vol = emulator.store.volumes[sp_name(volume_id)]
    paths = (Path("/dev/storpool") / vol.name, Path("/dev/storpool-byid") / vol.globalId)
    return {"clients": dict(vol.attachments), "device": vol.device,
            "links": [str(p) for p in paths if p.is_symlink() or p.exists()]}


def nothing_attached(emulator, volume_id: str) -> None:
    assert attachments_of(emulator, volume_id) == {"clients": {}, "device": None, "links": []}


# ---- the driver alone ---------------------------------------------------------------------------


def make_driver() -> StorPoolVolumeDriver:
    return StorPoolVolumeDriver(SP, StorPoolBackendConfig(driver="storpool"))


def new_volume(driver: StorPoolVolumeDriver, size_gb: int = 1) -> VolumeRef:
    ref = VolumeRef(str(uuid.uuid4()), "default", size_gb)
    return VolumeRef(ref.id, ref.pool, size_gb, driver.create_volume(ref).provider_location)


def test_open_data_attaches_for_the_block_and_detaches_after(storpool_emulator):
    """Emulator: the data is the volume's device, attached rw to this host's client
    for the block; written there, it is what a compute host reads later."""
    driver = make_driver()
    volume = new_volume(driver)
    with driver.open_data(volume, writable=True) as data:
        assert (data.format, data.path.startswith("/dev/storpool-byid/")) == ("raw", True)
        assert attachments_of(storpool_emulator, volume.id)["clients"] == {1: "rw"}
        with open(data.path, "r+b") as device:
            device.seek(MiB)
            device.write(b"written by open_data")
    nothing_attached(storpool_emulator, volume.id)
    device = Attached({"client_id": 1, "volume": volume.id, "access_mode": "rw"})
    try:
        assert device.read(MiB, 20) == b"written by open_data"
    finally:
        device.close()
    driver.delete_volume(volume)


def test_a_copy_that_fails_still_detaches(storpool_emulator):
    """Emulator: the block raises; the volume is detached all the same, also
    when the detach meets a transient API error first (retried with a fresh call)."""
    driver = make_driver()
    volume = new_volume(driver)
    with pytest.raises(RuntimeError, match="copy broke"), driver.open_data(volume, writable=False):
        storpool_emulator.fail_next(1, calls={"VolumesReassignWait"})
        raise RuntimeError("copy broke")
    nothing_attached(storpool_emulator, volume.id)
    detaches = [body for _, _, body in storpool_emulator.calls("VolumesReassignWait")][1:]
    # the injected error, os-brick's own retry (its body re-encoded: refused), Shoal's fresh call
    assert [isinstance(body, dict) for body in detaches] == [True, False, True]
    driver.delete_volume(volume)


def test_an_attach_that_fails_halfway_is_undone(storpool_emulator):
    """Emulator: the connector's attach succeeds, its next call (VolumeGetInfo)
    fails: the attachment it made is removed and the error says why."""
    driver = make_driver()
    volume = new_volume(driver)
    storpool_emulator.fail_next(1, name="invalidParam", descr="emulated failure", transient=False,
                                calls={"VolumeGetInfo"})
    with pytest.raises(DriverError, match="could not attach StorPool volume .*emulated failure"), \
            driver.open_data(volume, writable=True):
        pytest.fail("the block must not run")
    nothing_attached(storpool_emulator, volume.id)
    driver.delete_volume(volume)


def test_a_volume_attached_here_already_is_read_in_place_and_left_attached(storpool_emulator):
    """Emulator: a compute host on this machine holds the volume; a forced upload
    reads its device and leaves that attachment alone."""
    driver = make_driver()
    volume = new_volume(driver)
    device = Attached({"client_id": 1, "volume": volume.id, "access_mode": "rw"})
    try:
        device.write(0, b"in use")
        with driver.open_data(volume, writable=False) as data:
            assert Path(data.path).resolve() == Path(device.path).resolve()
        assert attachments_of(storpool_emulator, volume.id)["clients"] == {1: "rw"}
        assert device.read(0, 6) == b"in use"
    finally:
        device.close()
    driver.delete_volume(volume)


def test_missing_volume_and_foreign_client_config_are_refused_before_any_attach(storpool_emulator):
    """Emulator: a volume not in the cluster, and a backend on another API address
    than this host's StorPool client reads: nothing is attached."""
    driver = make_driver()
    missing = VolumeRef("0f0e0d0c-0000-4000-8000-000000000001", "default", 1)
    with pytest.raises(NotFoundOnBackend), driver.open_data(missing, writable=False):
        pytest.fail("the block must not run")
    elsewhere = StorPoolVolumeDriver(SP, StorPoolBackendConfig(driver="storpool", api_port=1,
                                                              auth_token=storpool_emulator.token))
    volume = new_volume(driver)
    with pytest.raises(DriverError, match="this host's StorPool client .* must agree"), \
            elsewhere.open_data(volume, writable=False):
        pytest.fail("the block must not run")
    assert storpool_emulator.calls("VolumesReassignWait") == []
    driver.delete_volume(volume)


# ---- through Shoal ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sp_server(zpool, tmp_path_factory, storpool_emulator_session):
    """A Shoal with its ZFS backend `test` and a StorPool backend `sp` on the emulator."""
    emulator = storpool_emulator_session
    table = {"driver": "storpool", "api_host": emulator.host, "api_port": emulator.port,
             "auth_token": emulator.token}
    with running_shoal(zpool, tmp_path_factory, "storpool-images", extra_config=backend_table(SP, table)) as server:
        server.sp_host = f"shoal@{SP}#default"
        server.zfs_host = f"shoal@test#{zpool}"
        yield server


@pytest.fixture
def api(sp_server, storpool_emulator):
    """A Migrations client; volumes, attachments and images the test made are removed after it."""
    with cinder(sp_server) as client, glance(sp_server) as images:
        volumes = Migrations(sp_server, client)
        before = volumes.state()
        images_before = {i["id"] for i in images.get("/images", params={"limit": 1000}).json()["images"]}
        volumes.images = images
        yield volumes
        for image in images.get("/images", params={"limit": 1000}).json()["images"]:
            if image["id"] not in images_before:
                images.delete(f"/images/{image['id']}")
    with cinder(sp_server) as client:
        problems = _remove_leftovers(Migrations(sp_server, client), before)
    assert not problems, f"clean-up left things behind: {problems}"


@contextmanager
def storpool_device(api: Migrations, volume_id: str) -> Iterator[Attached]:
    """The volume attached as a compute host on this machine attaches it: an
    attachment through the API, then os-brick's connector on its connection info."""
    attachment = api.attach(volume_id, host=HERE)
    info = attachment["connection_info"]
    assert (info["driver_volume_type"], info["data"]) == \
        ("storpool", {"client_id": 1, "volume": volume_id, "access_mode": "rw"})
    device = Attached(info["data"])
    try:
        yield device
    finally:
        try:
            device.close()
        finally:
            api.detach(attachment["id"])


def sp_volume(api: Migrations, **fields) -> dict:
    volume = api.create_volume(1, wait=None, **fields)
    volume = api.wait_volume(volume["id"], "available", timeout=COPY_TIMEOUT)
    assert volume["os-vol-host-attr:host"].startswith(f"shoal@{SP}#"), volume  # the most room: the emulator's
    return volume


def test_a_volume_from_an_image_reads_as_the_image_through_the_connector(api, storpool_emulator, tmp_path):
    """Emulator: a qcow2 image becomes a StorPool volume, bootable, whose device
    reads as the image byte for byte; Shoal's attachment for the copy is gone."""
    source = make_image(tmp_path, "qcow2", GiB, "sp-from-image")
    image = upload_image(api.images, source, "qcow2")
    volume = sp_volume(api, imageRef=image["id"])
    assert volume["bootable"] == "true" and volume["volume_image_metadata"]["image_id"] == image["id"]
    nothing_attached(storpool_emulator, volume["id"])
    reassigns = [body["reassign"][0] for _, _, body in storpool_emulator.calls("VolumesReassignWait")]
    assert reassigns[:2] == [{"volume": sp_name(volume["id"]), "rw": ["1"]},
                             {"volume": f"~{storpool_emulator.store.volumes[sp_name(volume['id'])].globalId}",
                              "detach": ["1"], "force": False}]
    with storpool_device(api, volume["id"]) as device:
        same_data(source, "qcow2", device.path)


def test_an_image_from_a_volume_holds_the_volumes_bytes(api, storpool_emulator, tmp_path):
    """Emulator: bytes written through the connector go into a qcow2 image with
    os-volume_upload_image; the volume is available again, not attached."""
    volume = sp_volume(api)
    reference = reference_image(tmp_path / "ref.raw", GiB, [])
    with storpool_device(api, volume["id"]) as device, reference.open("r+b") as ref:
        for offset, seed in ((0, "head"), (GiB // 2 + 4096, "middle"), (GiB - MiB, "tail")):
            data = pattern(f"sp-upload-{seed}", MiB)
            device.write(offset, data)
            ref.seek(offset)
            ref.write(data)
    resp = api.action(volume["id"], "os-volume_upload_image", {"image_name": "from-sp", "disk_format": "qcow2",
                                                               "container_format": "bare"})
    assert resp.status_code == 202, resp.text
    image_id = resp.json()["os-volume_upload_image"]["image_id"]
    image = wait_image(api.images, image_id, timeout=COPY_TIMEOUT)
    assert image["disk_format"] == "qcow2"
    assert api.wait_volume(volume["id"], "available")["status"] == "available"
    nothing_attached(storpool_emulator, volume["id"])
    same_data(download(api.images, image_id, tmp_path / "from-sp.qcow2"), "qcow2", str(reference))


def test_a_failed_copy_into_a_volume_leaves_it_detached_in_error(api, storpool_emulator, tmp_path):
    """Emulator: the attach for the copy fails halfway (VolumeGetInfo refused):
    the volume ends `error` with a user message, and holds no attachment."""
    image = upload_image(api.images, make_image(tmp_path, "raw", MiB * 8, "sp-fails"), "raw")
    storpool_emulator.fail_next(1, name="invalidParam", descr="emulated failure", transient=False,
                                calls={"VolumeGetInfo"})
    volume = api.create_volume(1, wait=None, imageRef=image["id"])
    failed = api.wait_volume(volume["id"], "error", timeout=COPY_TIMEOUT)
    assert failed["os-vol-host-attr:host"].startswith(f"shoal@{SP}#")
    (message,) = messages_for(api.client, volume["id"])
    assert f"Copying image {image['id']} to the volume failed" in message["user_message"]
    assert "emulated failure" in message["user_message"]
    nothing_attached(storpool_emulator, volume["id"])


def test_a_volume_goes_from_storpool_to_zfs_and_back_with_its_bytes(api, storpool_emulator, tmp_path):
    """Emulator: generic (host-copy) migration StorPool -> ZFS -> StorPool, the
    data written through the connector read over iSCSI on ZFS and through the
    connector again at the end; the volume keeps its id and StorPool name."""
    server = api.server
    chunks = [(0, 4 * MiB), (GiB // 2, 3 * MiB), (GiB - MiB, MiB)]
    reference = reference_image(tmp_path / "ref.raw", GiB, chunks)
    volume = sp_volume(api, name="travels")
    vid = volume["id"]
    with storpool_device(api, vid) as device, reference.open("rb") as ref:
        for offset, length in chunks:
            ref.seek(offset)
            device.write(offset, ref.read(length))

    assert api.migrate(vid, server.zfs_host).status_code == 202
    moved = api.wait_migrated(vid)
    assert (moved["migration_status"], moved["status"], moved["os-vol-host-attr:host"]) == \
        ("success", "available", server.zfs_host), moved
    assert sp_name(vid) not in storpool_emulator.store.volumes  # the old copy is gone
    assert zfs_volumes(server, vid) == [f"{server.pool_root}/volume-{vid}"]
    api.holds(vid, reference)  # over iSCSI

    assert api.migrate(vid, server.sp_host, force_host_copy=True).status_code == 202
    back = api.wait_migrated(vid)
    assert (back["migration_status"], back["status"], back["os-vol-host-attr:host"]) == \
        ("success", "available", server.sp_host), back
    assert back["os-vol-mig-status-attr:name_id"] is None  # renamed to the volume's own StorPool name
    assert list(storpool_emulator.store.volumes) == [sp_name(vid)]
    nothing_attached(storpool_emulator, vid)
    zfs_copies_collected(server, vid)
    with storpool_device(api, vid) as device:
        same_data(reference, "raw", device.path)
    api.delete_volume(vid)
    assert storpool_emulator.store.volumes == {}
