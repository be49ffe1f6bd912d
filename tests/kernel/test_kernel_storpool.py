"""The StorPool driver on kernel zvols: the StorPool API emulator
(tests/emulators/storpool) in its zvol mode, with os-brick's own
StorPoolConnector (from PyPI, unmodified).

The emulator serves the API here, on the host, and keeps its volumes,
snapshots and clones as zvols in the lane guest's kernel OpenZFS (its
commands run there over SSH). Attaching a volume to this client id makes the
zvol's block device appear in the guest as /dev/storpool/<name> and
/dev/storpool-byid/<globalId>, as a StorPool client's storpool_block does.
Shoal's StorPool driver hands out the connection info; the connector makes
its API calls from here and runs its commands (blockdev) in the guest, where
the devices are, through its `execute` parameter; data goes through the
device in the guest with dd.
"""

from __future__ import annotations

import base64
import os
import platform
import uuid

import pytest
from os_brick.initiator import storpool_utils
from os_brick.initiator.connectors.storpool import StorPoolConnector
from oslo_concurrency import processutils

from shoal.drivers.storpool.config import StorPoolBackendConfig
from shoal.drivers.storpool.volumes import StorPoolVolumeDriver
from shoal.drivers.volume import Connector, ExportSpec, VolumeRef, VolumeSnapshotRef
from tests.emulators.storpool import EmulatorRefused, StorPoolEmulator
from tests.fixtures.storpool import (
    OTHER_HOSTS,
    OURID,
    claim_client_config,
    release_client_config,
)
from tests.kernel.lane_tools import GiB, MiB, pattern

pytestmark = pytest.mark.kernel

HERE = Connector(host=platform.node(), ip="127.0.0.1")  # SP_OURID=1: the emulator's local client
COMMAND_TIMEOUT = 300  # an emulated guest under load is slow


@pytest.fixture
def zvol_emulator(kernel_host, lane_root, monkeypatch):
    """The StorPool emulator with its zvols under the test's dataset in the guest;
    /etc/storpool.conf and the environment point os-brick here, at its API."""
    if os.geteuid() != 0:
        pytest.skip("the StorPool emulator writes /etc/storpool.conf: run as root")
    claim_client_config()
    try:
        emulator = StorPoolEmulator(
            lane_root, local_client_id=OURID, other_clients=tuple(OTHER_HOSTS.values()),
            zvols_on=lambda argv: kernel_host.ssh.run(argv, check=False, timeout=COMMAND_TIMEOUT))
        try:
            emulator.start()
        except EmulatorRefused as exc:
            pytest.fail(f"the lane guest has /dev/storpool entries of its own: {exc}")
        for key, value in emulator.env.items():
            monkeypatch.setenv(key, value)
        try:
            yield emulator
        finally:
            emulator.stop()
    finally:
        release_client_config()


def guest_execute(host):
    """os-brick's `execute` parameter: its commands run in the guest, as root."""

    def execute(*cmd, **kwargs):
        argv = [str(c) for c in cmd]
        result = host.run(*argv, check=False, timeout=COMMAND_TIMEOUT)
        if result.returncode and kwargs.get("check_exit_code", True) is not False:
            raise processutils.ProcessExecutionError(stdout=result.stdout, stderr=result.stderr,
                                                     exit_code=result.returncode, cmd=" ".join(argv))
        return result.stdout, result.stderr

    return execute


class GuestAttached:
    """A volume attached by os-brick's StorPoolConnector, read and written in the guest."""

    def __init__(self, host, properties: dict):
        self.host = host
        self.connector = StorPoolConnector(None, execute=guest_execute(host))
        self.properties = properties
        self.device = self.connector.connect_volume(properties)
        self.path = self.device["path"]

    def write(self, offset: int, data: bytes) -> None:
        self.host.run("sh", "-c", 'base64 -d | dd of="$1" bs=64K oflag=seek_bytes seek="$2" conv=notrunc,fsync '
                      "status=none", "sh", self.path, str(offset),
                      input=base64.b64encode(data).decode(), timeout=COMMAND_TIMEOUT)

    def read(self, offset: int, length: int) -> bytes:
        out = self.host.run("sh", "-c", 'dd if="$1" bs=64K iflag=skip_bytes,count_bytes skip="$2" count="$3" '
                            "status=none | base64 -w0", "sh", self.path, str(offset), str(length),
                            timeout=COMMAND_TIMEOUT).stdout
        return base64.b64decode(out)

    def close(self) -> None:
        self.connector.disconnect_volume(self.properties, self.device)


def make_driver() -> StorPoolVolumeDriver:
    return StorPoolVolumeDriver("sp", StorPoolBackendConfig(driver="storpool"))


def vol(size: int) -> VolumeRef:
    volume_id = str(uuid.uuid4())
    return VolumeRef(volume_id, "default", size, provider_location=f"os--volume-{volume_id}")


def sp_name(volume: VolumeRef) -> str:
    return f"os--volume-{volume.id}"


def attach(host, driver, volume) -> GuestAttached:
    return GuestAttached(host, driver.export(volume, ExportSpec(connectors=(HERE,))).data)


def read_back(host, driver, volume, offset: int, length: int) -> bytes:
    device = attach(host, driver, volume)
    try:
        return device.read(offset, length)
    finally:
        device.close()


def test_data_through_os_brick_on_zvols_survives_snapshot_clone_extend_and_revert(kernel_host, zvol_emulator):
    """Emulator (zvol mode): os-brick attaches each volume as the guest's
    /dev/storpool-byid/<globalId>, a kernel zvol's block device."""
    host, store = kernel_host, zvol_emulator.store
    driver = make_driver()
    volume = vol(1)
    driver.create_volume(volume)
    dataset = store.volumes[sp_name(volume)].dataset
    assert host.run("zfs", "get", "-H", "-o", "value", "type", dataset).stdout.strip() == "volume"
    device = attach(host, driver, volume)
    gid = store.volumes[sp_name(volume)].globalId
    assert device.path == f"/dev/storpool-byid/{gid}"
    # both links lead to the zvol's kernel device
    real = {host.run("readlink", "-f", p).stdout.strip() for p in (device.path, f"/dev/storpool/{sp_name(volume)}")}
    assert real == {host.run("readlink", "-f", f"/dev/zvol/{dataset}").stdout.strip()}
    assert next(iter(real)).startswith("/dev/zd"), real

    data = pattern("storpool-zvol", MiB)
    device.write(MiB, data)
    device.write(4096, b"first")
    snapshot = VolumeSnapshotRef(str(uuid.uuid4()), volume)
    driver.create_snapshot(snapshot)
    device.write(4096, b"later")

    # A volume from the snapshot, bigger; a clone of the volume as it is now: both zvol clones.
    from_snapshot, clone = vol(2), vol(1)
    driver.create_volume_from_snapshot(from_snapshot, snapshot)
    driver.create_cloned_volume(clone, volume)
    for v in (from_snapshot, clone):
        origin = host.run("zfs", "get", "-H", "-o", "value", "origin", store.volumes[sp_name(v)].dataset).stdout
        assert origin.startswith(f"{dataset}@"), origin
    assert read_back(host, driver, from_snapshot, 4096, 5) == b"first"
    assert read_back(host, driver, clone, 4096, 5) == b"later"
    assert read_back(host, driver, clone, MiB, MiB) == data
    grown = attach(host, driver, from_snapshot)
    assert host.run("blockdev", "--getsize64", grown.path).stdout.strip() == str(2 * GiB)
    grown.close()

    # Extend while attached: os-brick's extend_volume sees the zvol's new size.
    driver.extend_volume(volume, 3)
    assert device.connector.extend_volume(device.properties) == 3 * GiB
    device.write(2 * GiB + 512, b"grown")
    assert device.read(2 * GiB + 512, 5) == b"grown"
    device.close()
    assert host.run("test", "-e", device.path, check=False).returncode != 0

    # Revert (detached, as StorPool wants): the snapshot's data, the volume's size kept.
    driver.revert_to_snapshot(VolumeSnapshotRef(snapshot.id, VolumeRef(volume.id, "default", 3)))
    assert store.volumes[sp_name(volume)].size == 3 * GiB
    assert read_back(host, driver, volume, 4096, 5) == b"first"
    assert read_back(host, driver, volume, MiB, MiB) == data
    assert read_back(host, driver, volume, 2 * GiB + 512, 5) == bytes(5)  # written after the snapshot: gone

    for v in (clone, from_snapshot):
        driver.delete_volume(v)
    driver.delete_snapshot(snapshot)
    driver.delete_volume(volume)
    assert store.volumes == {} and store.snapshots == {}
    left = host.run("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", zvol_emulator.root).stdout.split()
    assert left == [zvol_emulator.root]
    assert host.run("ls", "-A", "/dev/storpool", "/dev/storpool-byid").stdout.split() == \
        ["/dev/storpool:", "/dev/storpool-byid:"]


def test_zvol_attachments_busy_while_open_and_snapshots_read_only(kernel_host, zvol_emulator):
    """Emulator (zvol mode): sizes are whole volblocks; a detach is refused ('busy ... is
    open at') while a guest process holds the zvol open; a snapshot attaches read-only
    with its data."""
    host = kernel_host
    api = storpool_utils.StorPoolAPI("127.0.0.1", zvol_emulator.port, zvol_emulator.token)
    with pytest.raises(storpool_utils.StorPoolAPIError, match="multiple of 4096"):  # a zvol's volblocksize
        api.volume_create({"name": "odd", "size": GiB + 512})
    api.volume_create({"name": "held", "size": GiB})
    api.volumes_reassign_wait({"reassign": [{"volume": "held", "rw": [OURID]}]})
    path = "/dev/storpool/held"
    host.run("sh", "-c", 'printf snapdata | dd of="$1" conv=notrunc,fsync status=none', "sh", path)
    pid = host.run("sh", "-c", 'exec 3<"$1"; sleep 120 </dev/null >/dev/null 2>&1 & echo $!', "sh", path,
                   timeout=COMMAND_TIMEOUT).stdout.strip()
    try:
        with pytest.raises(storpool_utils.StorPoolAPIError) as err:
            api.volumes_reassign([{"volume": "held", "detach": [OURID]}])
        assert err.value.name == "busy" and "is open at client 1" in err.value.desc
    finally:
        host.run("sh", "-c", 'kill "$1"; while kill -0 "$1" 2>/dev/null; do sleep 0.1; done', "sh", pid,
                 check=False, timeout=COMMAND_TIMEOUT)
    api.volumes_reassign_wait({"reassign": [{"volume": "held", "detach": [OURID]}]})
    assert host.run("test", "-e", path, check=False).returncode != 0

    api.snapshot_create("held", {"name": "held-snap"})
    api.volumes_reassign([{"snapshot": "held-snap", "ro": [OURID]}])
    snap_path = "/dev/storpool/held-snap"
    assert host.run("blockdev", "--getro", snap_path).stdout.strip() == "1"
    assert host.run("dd", f"if={snap_path}", "bs=8", "count=1", "status=none").stdout == "snapdata"
    refused = host.run("sh", "-c", 'printf x | dd of="$1" conv=notrunc status=none', "sh", snap_path, check=False)
    assert refused.returncode != 0
    api.volumes_reassign([{"snapshot": "held-snap", "detach": "all"}])
    api.snapshot_delete("held-snap")
    api.volume_delete("held")
    left = host.run("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", zvol_emulator.root).stdout.split()
    assert left == [zvol_emulator.root]
