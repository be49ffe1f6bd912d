"""Manage: the listing shows every file under the share with Cinder's verdicts
(a raw or qcow2 image is safe; one with a backing file, a vmdk, a symbolic
link are not; a volume Shoal holds is "already managed" with its id, and its
overlays and sidecars are not listed at all); manage renames a safe file to
the volume's name with its size rounded up, and an unsafe one is refused with
nothing changed; unmanage leaves the file, which can be managed again."""

from __future__ import annotations

import os
import subprocess

import pytest

from shoal.drivers.base import InvalidRequest, UnsafeToManage
from shoal.drivers.volume import VolumeRef
from tests.fixtures.remotefs import (
    ADDRESS, active, directory, new_volume, reads, take_snapshot, volume_files, volume_ref, write,
)

pytestmark = pytest.mark.integration

MiB = 1024**2


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def share(remotefs):
    """A driver whose share holds one Shoal volume (with a snapshot) and foreign files."""
    driver = remotefs()
    top = directory(driver)
    (top / "imports").mkdir()
    qemu_img("create", "-f", "raw", str(top / "imports/disk.img"), str(1536 * MiB))
    write(top / "imports/disk.img", "raw", 0x81)
    qemu_img("create", "-f", "qcow2", str(top / "plain.qcow2"), str(2048 * MiB))
    qemu_img("create", "-f", "qcow2", "-b", "plain.qcow2", "-F", "qcow2", str(top / "child.qcow2"))
    qemu_img("create", "-f", "vmdk", str(top / "disk.vmdk"), str(MiB))
    os.symlink("/etc/passwd", top / "link.img")
    owned = new_volume(driver, 1)
    take_snapshot(driver, owned)
    return driver, owned


def test_the_listing_gives_cinders_verdicts(share):
    driver, owned = share
    items = {item.reference: item for item in driver.manageable_volumes([owned])}
    assert set(items) == {f"{ADDRESS}/{name}" for name in
                          ("imports/disk.img", "plain.qcow2", "child.qcow2", "disk.vmdk", f"volume-{owned.id}")}
    verdicts = {ref.rsplit("/", 1)[1]: (i.safe_to_manage, i.reason_not_safe, i.size_gb) for ref, i in items.items()}
    assert verdicts["disk.img"] == (True, None, 2)  # 1.5 GiB rounds up
    assert verdicts["plain.qcow2"] == (True, None, 2)
    assert verdicts["child.qcow2"][:2] == (False, "Backing file present.")
    assert verdicts["disk.vmdk"][:2] == (False, "Unsupported image format: 'vmdk'.")
    assert verdicts[f"volume-{owned.id}"] == (False, "Volume already managed.", 1)
    assert items[f"{ADDRESS}/volume-{owned.id}"].managed_id == owned.id
    # find does not list the symbolic link as a file; managing it by name is refused below
    assert driver.manageable_snapshots([]) == []


def test_manage_renames_and_rounds_up(share):
    driver, _ = share
    volume = volume_ref(1)
    result = driver.manage_existing(volume, {"source-name": f"{ADDRESS}/imports/disk.img"})
    assert (result.provider_location, result.size_gb) == (ADDRESS, 2)
    assert not (directory(driver) / "imports/disk.img").exists()
    volume = VolumeRef(volume.id, ADDRESS, 2, ADDRESS)
    path, fmt = active(driver, volume)
    assert (path.name, fmt) == (f"volume-{volume.id}", "raw") and reads(path, fmt, 0x81)
    assert oct(path.stat().st_mode & 0o777) == oct(0o660)
    assert driver.reference_owner({"source-name": f"{ADDRESS}/volume-{volume.id}"}, [volume]) == volume.id
    assert driver.reference_owner({"source-name": f"{ADDRESS}/plain.qcow2"}, [volume]) is None

    take_snapshot(driver, volume)  # a managed volume is a volume like any other
    driver.delete_volume(volume)
    assert not any(name.startswith(f"volume-{volume.id}") for name in volume_files(driver))


def test_a_managed_qcow2_keeps_its_format(share):
    driver, _ = share
    volume = volume_ref(2)
    driver.manage_existing(volume, {"source-name": f"{ADDRESS}/plain.qcow2"})
    assert active(driver, volume)[1] == "qcow2"
    driver.delete_volume(volume)


@pytest.mark.parametrize("source, reason", [
    ("child.qcow2", "Backing file present."),
    ("disk.vmdk", "Unsupported image format: 'vmdk'."),
    ("link.img", "symbolic link"),
    ("nothing.img", "Volume not found."),
    ("../../etc/passwd", "does not name a file inside share"),
])
def test_unsafe_files_are_refused_and_left_alone(share, source, reason):
    driver, _ = share
    before = volume_files(driver)
    with pytest.raises(UnsafeToManage, match=reason.replace("(", r"\(").replace(".", r"\.")):
        driver.manage_existing(volume_ref(1), {"source-name": f"{ADDRESS}/{source}"})
    assert volume_files(driver) == before


def test_references_off_the_share_and_snapshots_are_refused(share):
    driver, _ = share
    with pytest.raises(UnsafeToManage, match="not on a share"):
        driver.manage_existing(volume_ref(1), {"source-name": "10.9.9.9:/elsewhere/disk.img"})
    with pytest.raises(UnsafeToManage, match="source-name"):
        driver.manage_existing(volume_ref(1), {})
    with pytest.raises(InvalidRequest, match="not supported"):
        driver.manage_existing_snapshot(None, {"source-name": "x"})


def test_an_unmanaged_volume_can_be_managed_again(share):
    driver, owned = share
    fresh = new_volume(driver, 1, 0x82)
    driver.unmanage(fresh)
    assert (directory(driver) / f"volume-{fresh.id}").exists()
    items = {i.reference: i for i in driver.manageable_volumes([owned])}  # Shoal no longer holds it
    assert items[f"{ADDRESS}/volume-{fresh.id}"].safe_to_manage
    again = volume_ref(1)
    driver.manage_existing(again, {"source-name": f"{ADDRESS}/volume-{fresh.id}"})
    assert reads(*active(driver, again), 0x82)
    driver.delete_volume(again)
    assert not any(fresh.id in name or again.id in name for name in volume_files(driver))
