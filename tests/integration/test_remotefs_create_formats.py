"""New volumes in each format the backend makes: sparse raw, thick raw, qcow2
(metadata preallocated), and a type's `provisioning:type` over the backend's
default. Each holds data written through qemu-io, is reported in its share's
pool, and is gone, every file of it, after delete (twice: still fine)."""

from __future__ import annotations

import os

import pytest

from shoal.drivers.base import InvalidRequest
from tests.fixtures.remotefs import ADDRESS, active, directory, reads, volume_files, volume_ref, write

pytestmark = pytest.mark.integration

GiB = 1024**3


def allocated(path) -> int:
    return os.stat(path).st_blocks * 512


@pytest.mark.parametrize("config, specs, fmt, thick", [
    ({}, {}, "raw", False),
    ({"sparsed_volumes": False}, {}, "raw", True),
    ({}, {"provisioning:type": "thick"}, "raw", True),
    ({"sparsed_volumes": False}, {"provisioning:type": "thin"}, "raw", False),
    ({"qcow2_volumes": True}, {}, "qcow2", False),
    ({"qcow2_volumes": True}, {"provisioning:type": "thick"}, "qcow2", True),
], ids=["sparse-raw", "thick-raw", "thick-by-type", "thin-by-type", "qcow2", "qcow2-thick"])
def test_create_write_read_delete(remotefs, config, specs, fmt, thick):
    driver = remotefs(**config)
    volume = volume_ref(1, **specs)
    result = driver.create_volume(volume)
    assert (result.provider_location, result.size_gb) == (ADDRESS, 1)

    path, seen_fmt = active(driver, volume)
    assert (path.name, seen_fmt) == (f"volume-{volume.id}", fmt)
    if fmt == "raw":
        assert path.stat().st_size == GiB
    if thick:
        assert allocated(path) >= GiB
    else:
        assert allocated(path) < 64 * 1024**2
    assert oct(path.stat().st_mode & 0o777) == oct(0o660)  # a fresh share: secure permissions (auto)

    write(path, fmt, 0x5A, 512 * 1024**2)
    assert reads(path, fmt, 0x5A, 512 * 1024**2) and reads(path, fmt, 0, 0)

    [pool] = driver.pools()
    assert pool.name == ADDRESS and pool.total_gb > 0
    assert pool.capabilities["storage_protocol"] == "NFS" and pool.capabilities["multiattach"] is False

    driver.delete_volume(volume)
    assert volume_files(driver) == set()
    driver.delete_volume(volume)


def test_a_repeated_create_starts_afresh(remotefs):
    driver = remotefs()
    volume = volume_ref(1)
    driver.create_volume(volume)
    write(*active(driver, volume), 0x11)
    driver.create_volume(volume)
    assert reads(*active(driver, volume), 0)
    driver.delete_volume(volume)


def test_a_bad_provisioning_type_is_refused_and_creates_nothing(remotefs):
    driver = remotefs()
    with pytest.raises(InvalidRequest):
        driver.validate_extra_specs({"provisioning:type": "dense"})
    with pytest.raises(InvalidRequest):
        driver.create_volume(volume_ref(1, **{"provisioning:type": "dense"}))
    assert volume_files(driver) == set()


def test_a_volume_without_a_known_pool_goes_where_cinder_would_put_it(remotefs):
    driver = remotefs()
    volume = volume_ref(1, address="")
    assert driver.create_volume(volume).provider_location == ADDRESS
    assert (directory(driver) / f"volume-{volume.id}").exists()
    driver.delete_volume(volume)  # found by its file: no pool, no provider location
    assert volume_files(driver) == set()


def test_a_volume_that_fits_nowhere_is_refused(remotefs):
    driver = remotefs(max_over_subscription_ratio=1.0)
    with pytest.raises(Exception, match="no share .* has room"):
        driver.create_volume(volume_ref(10**6, address=""))
    assert volume_files(driver) == set()
