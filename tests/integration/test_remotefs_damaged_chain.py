"""A damaged chain is reported, never silently fixed or ignored: a file the
.info names is missing, an overlay's backing file is outside the volume's
chain (another volume, /etc/passwd), an image qemu-img cannot read, an .info
file that is not JSON. Each raises DriverError with the reason, on the next
change and on attach, and the files stay as they were."""

from __future__ import annotations

import subprocess

import pytest

from shoal.drivers.base import DriverError
from shoal.drivers.volume import ExportSpec
from tests.fixtures.remotefs import active, directory, snapshot_ref, volume_ref, write

pytestmark = pytest.mark.integration


def rebase(path, backing: str, fmt: str) -> None:
    subprocess.run(["qemu-img", "rebase", "-u", "-f", "qcow2", "-b", backing, "-F", fmt, str(path)], check=True,
                   timeout=60)


def snapshot_files(driver):
    """A volume with two snapshots; its directory and the two overlays."""
    volume = volume_ref(1)
    driver.create_volume(volume)
    first, second = snapshot_ref(volume), snapshot_ref(volume)
    driver.create_snapshot(first)
    write(*active(driver, volume), 0x71)
    driver.create_snapshot(second)
    share = directory(driver)
    return volume, first, second, share / f"volume-{volume.id}.{first.id}", share / f"volume-{volume.id}.{second.id}"


def damage_missing_file(driver, share, volume, first_file, second_file):
    first_file.unlink()
    return "cannot read"


def damage_foreign_backing(driver, share, volume, first_file, second_file):
    other = volume_ref(1)
    driver.create_volume(other)
    rebase(second_file, f"volume-{other.id}", "raw")
    return "not part of this volume's chain"


def damage_system_file(driver, share, volume, first_file, second_file):
    rebase(second_file, "/etc/passwd", "raw")
    return "'/etc/passwd' is not part of this volume's chain"


def damage_garbage_image(driver, share, volume, first_file, second_file):
    first_file.write_bytes(b"QFI\xfb" + b"\xff" * 508)  # a qcow2 magic with a nonsense header
    return "cannot read"


def damage_info_file(driver, share, volume, first_file, second_file):
    (share / f"volume-{volume.id}.info").write_text("{not json")
    return "not JSON"


@pytest.mark.parametrize("damage", [damage_missing_file, damage_foreign_backing, damage_system_file,
                                    damage_garbage_image, damage_info_file])
def test_a_damaged_chain_is_reported_with_its_reason(remotefs, damage):
    driver = remotefs()
    volume, first, second, first_file, second_file = snapshot_files(driver)
    reason = damage(driver, directory(driver), volume, first_file, second_file)
    before = {p.name: p.stat().st_mtime_ns for p in directory(driver).iterdir()}

    for attempt in (lambda: driver.delete_snapshot(first), lambda: driver.create_snapshot(snapshot_ref(volume)),
                    lambda: driver.export(volume, ExportSpec()), lambda: driver.extend_volume(volume, 2),
                    lambda: driver.create_cloned_volume(volume_ref(1), volume)):
        with pytest.raises(DriverError, match="snapshot chain is damaged") as caught:
            attempt()
        assert reason in str(caught.value)
    assert {p.name: p.stat().st_mtime_ns for p in directory(driver).iterdir()} == before

    driver.delete_volume(volume)  # a damaged volume can still be deleted
    assert not any(p.name.startswith(f"volume-{volume.id}") for p in directory(driver).iterdir())
