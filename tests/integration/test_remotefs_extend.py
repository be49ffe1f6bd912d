"""Extend grows the active image, also when the volume has snapshots (the
overlay on top grows; the snapshot below keeps its size and data); a shrink is
refused and changes nothing; data written past the old end reads back."""

from __future__ import annotations

import json
import subprocess

import pytest

from shoal.drivers.base import InvalidRequest
from shoal.drivers.volume import VolumeRef
from tests.fixtures.remotefs import active, reads, snapshot_ref, volume_ref, write

pytestmark = pytest.mark.integration

GiB = 1024**3


def virtual_size(path, fmt) -> int:
    out = subprocess.run(["qemu-img", "info", "-f", fmt, "--output=json", str(path)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return json.loads(out)["virtual-size"]


def bigger(volume: VolumeRef, size_gb: int) -> VolumeRef:
    return VolumeRef(volume.id, volume.pool, size_gb, volume.provider_location, volume.extra_specs)


@pytest.mark.parametrize("config", [{}, {"qcow2_volumes": True}, {"sparsed_volumes": False}],
                         ids=["raw", "qcow2", "thick-raw"])
def test_extend_with_and_without_snapshots(remotefs, config):
    driver = remotefs(**config)
    volume = volume_ref(1)
    driver.create_volume(volume)
    write(*active(driver, volume), 0x21)

    driver.extend_volume(volume, 2)
    volume = bigger(volume, 2)
    path, fmt = active(driver, volume)
    assert virtual_size(path, fmt) == 2 * GiB
    write(path, fmt, 0x22, GiB + 4096, 4096)

    snapshot = snapshot_ref(volume)
    driver.create_snapshot(snapshot)
    driver.extend_volume(volume, 3)
    volume = bigger(volume, 3)
    path, fmt = active(driver, volume)
    assert fmt == "qcow2" and path.name.endswith(snapshot.id)
    assert virtual_size(path, fmt) == 3 * GiB
    write(path, fmt, 0x23, 2 * GiB + 4096, 4096)
    assert reads(path, fmt, 0x21) and reads(path, fmt, 0x22, GiB + 4096, 4096) and reads(path, fmt, 0x23, 2 * GiB + 4096, 4096)

    # the snapshot is still 2 GiB: a volume of 2 GiB can be made from it
    copy = volume_ref(2)
    driver.create_volume_from_snapshot(copy, snapshot)
    copy_path, copy_fmt = active(driver, copy)
    assert virtual_size(copy_path, copy_fmt) == 2 * GiB
    assert reads(copy_path, copy_fmt, 0x22, GiB + 4096, 4096)

    with pytest.raises(InvalidRequest, match="shrink"):
        driver.extend_volume(volume, 2)
    assert virtual_size(path, fmt) == 3 * GiB

    driver.delete_snapshot(snapshot)  # the grown overlay merges into the 2 GiB base
    path, fmt = active(driver, volume)
    assert virtual_size(path, fmt) == 3 * GiB
    assert reads(path, fmt, 0x23, 2 * GiB + 4096, 4096) and reads(path, fmt, 0x21)
    for v in (copy, volume):
        driver.delete_volume(v)
