"""Clones and volumes from snapshots: the copy holds the source's data (of the
snapshot's moment, not later writes), may be bigger, is independent of its
source afterwards, and a clone's temporary snapshot is always gone -- also
when the copy fails, which leaves no file of the new volume either."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from shoal.drivers.base import DriverError, InvalidRequest
from shoal.hosts import CommandError
from tests.fixtures.remotefs import active, directory, new_volume, reads, take_snapshot, volume_files, volume_ref, write

pytestmark = pytest.mark.integration

GiB = 1024**3


@pytest.fixture(params=[{}, {"qcow2_volumes": True}], ids=["raw", "qcow2"])
def driver(request, remotefs):
    return remotefs(**request.param)


def info_of(driver, volume) -> dict:
    path = directory(driver) / f"volume-{volume.id}.info"
    return json.loads(path.read_text()) if path.exists() else {}


def test_volume_from_snapshot_is_the_snapshots_data_and_may_be_bigger(driver):
    source = new_volume(driver, 1, 0x31)
    first = take_snapshot(driver, source)
    write(*active(driver, source), 0x32)
    second = take_snapshot(driver, source)  # the second snapshot's data is an overlay itself (Cinder #2074377)
    write(*active(driver, source), 0x33)

    for snapshot, pattern in ((first, 0x31), (second, 0x32)):
        copy = volume_ref(2)
        assert driver.create_volume_from_snapshot(copy, snapshot).size_gb == 2
        path, fmt = active(driver, copy)
        assert fmt == ("qcow2" if driver.config.qcow2_volumes else "raw") and path.name == f"volume-{copy.id}"
        assert reads(path, fmt, pattern) and reads(path, fmt, 0, GiB, GiB)
        write(path, fmt, 0x3F)  # the copy is independent of its source
        assert reads(*active(driver, source), 0x33)
        driver.delete_volume(copy)

    driver.delete_volume(source)


def test_a_smaller_volume_from_a_snapshot_is_refused(driver):
    snapshot = take_snapshot(driver, source := new_volume(driver, 2))
    small = volume_ref(1)
    with pytest.raises(InvalidRequest, match="smaller"):
        driver.create_volume_from_snapshot(small, snapshot)
    assert not (directory(driver) / f"volume-{small.id}").exists()
    driver.delete_volume(source)


def test_clone_copies_now_and_leaves_the_source_as_it_was(driver):
    source = new_volume(driver, 1, 0x41)
    take_snapshot(driver, source)
    write(*active(driver, source), 0x42, GiB // 2)
    before = info_of(driver, source)

    clone = volume_ref(3)
    assert driver.create_cloned_volume(clone, source).size_gb == 3
    path, fmt = active(driver, clone)
    assert reads(path, fmt, 0x41) and reads(path, fmt, 0x42, GiB // 2)
    assert info_of(driver, source) == before  # the temporary snapshot is gone
    assert not any("tmp-snap" in name for name in volume_files(driver))
    for volume in (clone, source):
        driver.delete_volume(volume)
    assert volume_files(driver) == set()


def test_a_failed_clone_leaves_nothing(driver):
    source = new_volume(driver, 1, 0x51)
    before = volume_files(driver)
    clone = volume_ref(1)
    real_run = driver.qemu.run

    def failing_convert(argv):
        if argv[1] == "convert":
            raise CommandError(mock.Mock(argv=tuple(argv), returncode=1, stderr="no space left", stdout=""))
        return real_run(argv)

    with mock.patch.object(driver.qemu, "run", side_effect=failing_convert), pytest.raises(DriverError):
        driver.create_cloned_volume(clone, source)
    assert volume_files(driver) == before
    assert reads(*active(driver, source), 0x51)
    driver.delete_volume(source)
