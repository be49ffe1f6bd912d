"""Revert to the latest snapshot: the volume reads the snapshot's data again,
keeps its size (also after an extend), and the snapshot stays usable; an older
snapshot is refused, changing nothing."""

from __future__ import annotations

import pytest

from shoal.drivers.base import InvalidRequest
from shoal.drivers.volume import ExportSpec, VolumeRef
from tests.fixtures.remotefs import active, new_volume, reads, take_snapshot, volume_files, write

pytestmark = pytest.mark.integration

GiB = 1024**3


@pytest.mark.parametrize("config", [{}, {"qcow2_volumes": True}], ids=["raw", "qcow2"])
def test_revert_to_the_latest_snapshot(remotefs, config):
    driver = remotefs(**config)
    volume = new_volume(driver, 1, 0x61)
    older = take_snapshot(driver, volume)
    write(*active(driver, volume), 0x62)
    latest = take_snapshot(driver, volume)
    write(*active(driver, volume), 0x63)
    driver.extend_volume(volume, 2)
    volume = VolumeRef(volume.id, volume.pool, 2, volume.provider_location)
    write(*active(driver, volume), 0x64, GiB + 4096, 4096)

    with pytest.raises(InvalidRequest, match="latest"):
        driver.revert_to_snapshot(older)
    assert reads(*active(driver, volume), 0x63)

    files_before = volume_files(driver)
    driver.revert_to_snapshot(latest)
    path, fmt = active(driver, volume)
    assert reads(path, fmt, 0x62) and reads(path, fmt, 0, GiB + 4096, 4096)
    assert volume_files(driver) == files_before  # no temporary left, nothing lost
    assert driver.export(volume, ExportSpec()).data["name"] == path.name  # still 2 GiB: the size check passes

    write(path, fmt, 0x65)  # revert again: back to the same data
    driver.revert_to_snapshot(latest)
    assert reads(*active(driver, volume), 0x62)

    driver.delete_snapshot(latest)
    driver.revert_to_snapshot(older)  # now the latest
    assert reads(*active(driver, volume), 0x61)
    driver.delete_volume(volume)
    assert volume_files(driver) == set()
