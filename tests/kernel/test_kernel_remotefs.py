"""RemoteFS volumes on a real NFS share, mounted by the driver itself with the
kernel NFS client.

Uses the lane's guest: its kernel NFS server exports a fresh directory
(`/srv/lane-nas/<hex>`, to the guest's own address 10.0.2.15), and a
`driver = "remotefs"` backend -- built by the product's factory from a backend
table as a config file would hold it -- runs against the guest as an `ssh` host
with one share that has only an `address` (`10.0.2.15:/srv/lane-nas/<hex>`).
So the driver mounts it itself (`mount -t nfs`, the guest's kernel client,
nfs-common's mount.nfs) at `<mount_point_base>/<md5 of the address>`, a guest
path, and every image is made and changed by the guest's qemu-img through
that mount. Data is written and checked with the guest's qemu-io, through the
driver's mount, in the server's exported directory itself, and through a
second mount made from the attach's connection info, as a compute host would.
Each test unmounts what it mounted and removes its export and files.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

import pytest

from shoal.config import Settings
from shoal.drivers.remotefs.nas import mount_point
from shoal.drivers.volume import Connector, ExportSpec, VolumeRef, VolumeSnapshotRef
from shoal.services.common.backends import build_drivers

from .lane_tools import GiB, MiB, wait_until

pytestmark = pytest.mark.kernel

EXPORT_ROOT = "/srv/lane-nas"
MOUNT_ROOT = "/var/lib/shoal-lane-remotefs"
EXPORT_OPTIONS = "rw,sync,no_root_squash,no_subtree_check"
INDICATOR = ".cinderSecureEnvIndicator"
QEMU_TIMEOUT = 600


@dataclass
class NasExport:
    tag: str
    export: str  # the exported directory in the guest (the NAS server's side)
    address: str  # host:/export, as the share is configured and clients mount it
    base: str  # mount_point_base for the driver (a guest path)

    @property
    def directory(self) -> str:
        """Where the driver mounts the share (Cinder's rule)."""
        return mount_point(self.base, self.address)


def nfs_mounts(host, under: str) -> list[str]:
    out = host.run("findmnt", "-rn", "-t", "nfs,nfs4", "-o", "TARGET", check=False).stdout
    return [m for m in out.split() if m == under or m.startswith(under + "/")]


@pytest.fixture
def nas(kernel_host):
    """A directory exported by the guest's kernel NFS server, rw and without
    root squashing, to the guest itself (its own address: the client is the
    guest's kernel). The export is also written to /etc/exports.d, so that an
    `exportfs -r` (kernel OpenZFS runs one on every unmount) keeps it."""
    host = kernel_host
    tag = uuid.uuid4().hex[:8]
    export = f"{EXPORT_ROOT}/{tag}"
    client = host.guest_address
    conf = f"/etc/exports.d/lane-remotefs-{tag}.exports"
    host.run("mkdir", "-p", export, f"{MOUNT_ROOT}/{tag}")
    host.ssh.write_file(conf, f"{export} {client}({EXPORT_OPTIONS})\n")
    host.run("exportfs", "-o", EXPORT_OPTIONS, f"{client}:{export}")
    yield NasExport(tag, export, f"{client}:{export}", f"{MOUNT_ROOT}/{tag}")
    for target in sorted(nfs_mounts(host, f"{MOUNT_ROOT}/{tag}"), reverse=True):
        if host.run("umount", target, check=False, timeout=120).returncode:
            host.run("umount", "-l", target, check=False)
    host.run("rm", "-f", conf, check=False)
    host.run("exportfs", "-u", f"{client}:{export}", check=False)
    host.run("rm", "-rf", "--one-file-system", export, f"{MOUNT_ROOT}/{tag}", check=False, timeout=300)


def make_driver(kernel_host, nas: NasExport, tmp_path, **config):
    """The remotefs backend's volume driver, from a backend table with a share
    that has only an address, on the guest as an ssh host."""
    host = kernel_host
    table = {
        "driver": "remotefs",
        "shares": [{"address": nas.address}],
        "mount_point_base": nas.base,
        "host": {"type": "ssh", "address": host.address, "port": host.port, "user": host.user,
                 "key_file": host.key_file},
        **config,
    }
    settings = Settings(state_dir=str(tmp_path), database={"url": f"sqlite:///{tmp_path / 'lane.db'}"},
                        backends={"nas": table})
    shares, volumes = build_drivers(settings)
    assert shares == {}
    return volumes["nas"]


@pytest.fixture
def drivers():
    made = []
    yield made
    for driver in made:
        driver.host.close()


# ---- qemu-io and qemu-img in the guest -------------------------------------------------------


def qemu_io(host, path: str, fmt: str, command: str):
    return host.run("qemu-io", "-f", fmt, "-c", command, path, check=False, timeout=QEMU_TIMEOUT)


def write(host, path: str, fmt: str, pattern: int, offset: int = 0, length: int = MiB) -> None:
    result = qemu_io(host, path, fmt, f"write -P {pattern:#04x} {offset} {length}")
    assert result.returncode == 0, f"qemu-io write to {path}: {result.stderr}{result.stdout}"


def reads(host, path: str, fmt: str, pattern: int, offset: int = 0, length: int = MiB) -> bool:
    """Whether every byte of the range reads as `pattern` (a qcow2 chain is read through)."""
    result = qemu_io(host, path, fmt, f"read -P {pattern:#04x} {offset} {length}")
    if result.returncode not in (0, 1) or "Could not open" in result.stderr:
        raise AssertionError(f"qemu-io could not read {path}: {result.stderr}")
    return result.returncode == 0 and "verification failed" not in result.stdout


def image_info(host, path: str, fmt: str) -> dict:
    out = host.run("qemu-img", "info", "-U", "-f", fmt, "--output=json", path, timeout=QEMU_TIMEOUT).stdout
    return json.loads(out)


def files_in(host, directory: str) -> set[str]:
    return set(host.run("ls", "-1A", directory).stdout.split()) - {INDICATOR}


def fill(host, path: str, fmt: str, layer: int) -> None:
    """Layer k: pattern k over the first MiB, and at MiB k (later layers leave that alone)."""
    write(host, path, fmt, layer, 0, MiB)
    write(host, path, fmt, layer, layer * MiB, MiB)


def holds(host, path: str, fmt: str, layer: int) -> bool:
    """Reads as after `layer` layers were written (and zeros after them)."""
    return (reads(host, path, fmt, layer, 0, MiB)
            and all(reads(host, path, fmt, k, k * MiB, MiB) for k in range(1, layer + 1))
            and reads(host, path, fmt, 0, (layer + 1) * MiB, MiB))


class Volumes:
    """The driver's volumes as a compute host would find them."""

    def __init__(self, host, driver, nas: NasExport):
        self.host, self.driver, self.nas = host, driver, nas

    def new(self, size_gb: int) -> VolumeRef:
        return VolumeRef(str(uuid.uuid4()), self.nas.address, size_gb, self.nas.address)

    def sized(self, volume: VolumeRef, size_gb: int) -> VolumeRef:
        return VolumeRef(volume.id, volume.pool, size_gb, volume.provider_location)

    def active(self, volume: VolumeRef) -> tuple[str, str]:
        """(path through the driver's mount, format) of the image an attach names."""
        data = self.driver.export(volume, ExportSpec()).data
        assert data["export"] == self.nas.address
        return f"{self.nas.directory}/{data['name']}", data["format"]

    def on_server(self, volume: VolumeRef) -> tuple[str, str]:
        """The same image in the NFS server's exported directory (not through NFS)."""
        path, fmt = self.active(volume)
        return f"{self.nas.export}/{path.rsplit('/', 1)[1]}", fmt


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_volumes_on_a_kernel_nfs_mount(kernel_host, nas, tmp_path, drivers, fmt):
    host = kernel_host
    driver = make_driver(host, nas, tmp_path, qcow2_volumes=fmt == "qcow2")
    drivers.append(driver)
    v = Volumes(host, driver, nas)

    # Not mounted until the driver starts; then the kernel NFS client holds it.
    assert nfs_mounts(host, nas.base) == []
    assert any("is not mounted at" in p for p in driver.problems())
    driver.start()
    found = host.run("findmnt", "-n", "-o", "FSTYPE,SOURCE", "--mountpoint", nas.directory).stdout.split()
    assert len(found) == 2 and found[0].startswith("nfs") and found[1] == nas.address, found
    assert driver.problems() == []
    (pool,) = driver.pools()
    assert pool.name == nas.address and pool.total_gb > 1
    assert pool.capabilities["storage_protocol"] == "NFS"

    # A volume: a file in the share, there on the server too.
    volume = v.new(1)
    assert driver.create_volume(volume).provider_location == nas.address
    path, active_fmt = v.active(volume)
    assert path == f"{nas.directory}/volume-{volume.id}" and active_fmt == fmt
    assert files_in(host, nas.export) >= {f"volume-{volume.id}"}
    info = image_info(host, f"{nas.export}/volume-{volume.id}", fmt)
    assert info["format"] == fmt and info["virtual-size"] == GiB

    # Three snapshots, each layer with its own data, and a fourth layer on top.
    snapshots = []
    for layer in (1, 2, 3):
        fill(host, *v.active(volume), layer)
        snapshots.append(VolumeSnapshotRef(str(uuid.uuid4()), volume))
        result = driver.create_snapshot(snapshots[-1])
        assert result.provider_location == f"volume-{volume.id}.{snapshots[-1].id}"
    fill(host, *v.active(volume), 4)
    path, active_fmt = v.active(volume)
    assert path.endswith(f".{snapshots[2].id}") and active_fmt == "qcow2"
    assert holds(host, *v.active(volume), 4)
    assert holds(host, *v.on_server(volume), 4), "the server's directory does not hold what was written over NFS"

    def snapshot_holds(snapshot, layer: int) -> bool:
        copy = v.new(1)
        driver.create_volume_from_snapshot(copy, snapshot)
        try:
            return holds(host, *v.active(copy), layer)
        finally:
            driver.delete_volume(copy)

    def info_file() -> dict:
        text = host.run("cat", f"{nas.directory}/volume-{volume.id}.info", check=False).stdout
        return json.loads(text) if text else {}

    # Delete the middle snapshot: the others and the volume read as before.
    first, middle, top = snapshots
    driver.delete_snapshot(middle)
    assert f"volume-{volume.id}.{middle.id}" not in files_in(host, nas.export)
    assert set(info_file()) - {"active"} == {first.id, top.id}
    assert holds(host, *v.active(volume), 4)
    assert snapshot_holds(first, 1) and snapshot_holds(top, 3)

    # Delete the top one (its overlay is the active image): merged down.
    driver.delete_snapshot(top)
    assert set(info_file()) - {"active"} == {first.id}
    assert f"volume-{volume.id}.{top.id}" not in files_in(host, nas.export)
    assert holds(host, *v.active(volume), 4)
    assert snapshot_holds(first, 1)

    # A bigger volume from the snapshot, and a clone of the live volume.
    from_snap = v.new(2)
    driver.create_volume_from_snapshot(from_snap, first)
    path, copy_fmt = v.active(from_snap)
    assert copy_fmt == fmt and image_info(host, path, fmt)["virtual-size"] == 2 * GiB
    assert holds(host, path, fmt, 1) and reads(host, path, fmt, 0, GiB + 4096, 4096)
    clone = v.new(1)
    before = info_file()
    driver.create_cloned_volume(clone, volume)
    assert holds(host, *v.active(clone), 4)
    assert info_file() == before and not any("tmp-snap" in name for name in files_in(host, nas.export))
    write(host, *v.active(clone), 0x3F)  # independent of its source
    assert holds(host, *v.active(volume), 4)

    # Attach the clone: the connection info is what a compute host mounts and opens.
    attached = driver.export(clone, ExportSpec(None, (Connector(ip=host.guest_address, host="compute"),)))
    data = attached.data
    assert attached.driver_volume_type == "nfs" and data["export"] == nas.address and data["format"] == fmt
    compute = f"{nas.base}/compute"
    host.run("mkdir", "-p", compute)
    host.run("mount", "-t", "nfs", data["export"], compute, timeout=120)
    try:
        assert reads(host, f"{compute}/{data['name']}", fmt, 0x3F)
    finally:
        host.run("umount", compute, timeout=120)
    driver.unexport(clone)

    # Extend with a snapshot: the overlay on top grows, the snapshot keeps its size.
    driver.extend_volume(volume, 2)
    volume = v.sized(volume, 2)
    path, active_fmt = v.active(volume)
    assert path.endswith(f".{first.id}") and image_info(host, path, active_fmt)["virtual-size"] == 2 * GiB
    base_info = image_info(host, f"{nas.directory}/volume-{volume.id}", fmt)
    assert base_info["virtual-size"] == GiB
    write(host, path, active_fmt, 0x44, GiB + 4096, 4096)
    assert reads(host, path, active_fmt, 0x44, GiB + 4096, 4096) and holds(host, path, active_fmt, 4)

    # Revert to the (now latest) snapshot: its data, the volume's size kept.
    driver.revert_to_snapshot(VolumeSnapshotRef(first.id, volume))
    path, active_fmt = v.active(volume)
    assert holds(host, path, active_fmt, 1) and reads(host, path, active_fmt, 0, GiB + 4096, 4096)
    assert image_info(host, path, active_fmt)["virtual-size"] == 2 * GiB

    # The last snapshot gone: the base image is active again, in its own format, 2 GiB.
    driver.delete_snapshot(VolumeSnapshotRef(first.id, volume))
    path, active_fmt = v.active(volume)
    assert path == f"{nas.directory}/volume-{volume.id}" and active_fmt == fmt
    assert image_info(host, path, fmt)["virtual-size"] == 2 * GiB and holds(host, path, fmt, 1)
    assert info_file() == {}
    digest = host.run("sh", "-c", f"head -c {4 * MiB} {nas.export}/volume-{volume.id} | sha256sum").stdout.split()[0]
    if fmt == "raw":  # the server's file is the guest's disk, byte for byte
        expected = bytes([1]) * MiB + bytes([1]) * MiB + bytes(2 * MiB)
        assert digest == hashlib.sha256(expected).hexdigest()

    for each in (volume, from_snap, clone):
        driver.delete_volume(each)
    assert files_in(host, nas.export) == set()
    assert files_in(host, nas.directory) == set()
    wait_until(lambda: nfs_mounts(host, nas.base) == [nas.directory], what="only the driver's mount left")
