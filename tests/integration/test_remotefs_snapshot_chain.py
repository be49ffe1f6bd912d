"""A volume with three snapshots, each layer with its own data, and a snapshot
deleted in every position (oldest, middle, latest, and each in turn down to
the last): after each delete, every remaining snapshot and the volume still
read what they held, the .info file lists exactly what is left, and the
deleted snapshot's overlay is gone. On raw and qcow2 volumes, real qemu-img."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.remotefs import MiB, active, directory, reads, snapshot_ref, volume_files, volume_ref, write

pytestmark = pytest.mark.integration


def fill(path, fmt, layer: int) -> None:
    """Layer k: pattern k over the first MiB, and pattern k at MiB k (left by later layers)."""
    write(path, fmt, layer, 0, MiB)
    write(path, fmt, layer, layer * MiB, MiB)


def holds(path, fmt, layer: int) -> bool:
    """Reads as after `layer` layers were written."""
    above = all(reads(path, fmt, k, k * MiB, MiB) for k in range(1, layer + 1))
    return reads(path, fmt, layer, 0, MiB) and above and reads(path, fmt, 0, (layer + 1) * MiB, MiB)


@pytest.fixture(params=["raw", "qcow2"])
def built(request, remotefs):
    """A volume with snapshots after layers 1, 2 and 3, and layer 4 written on top."""
    driver = remotefs(qcow2_volumes=request.param == "qcow2")
    volume = volume_ref(1)
    driver.create_volume(volume)
    snapshots = []
    for layer in (1, 2, 3):
        fill(*active(driver, volume), layer)
        snapshots.append(snapshot_ref(volume))
        driver.create_snapshot(snapshots[-1])
    fill(*active(driver, volume), 4)
    yield driver, volume, snapshots
    driver.delete_volume(volume)
    assert volume_files(driver) == set(), "delete_volume left files behind"


def check(driver, volume, remaining: dict) -> None:
    """Each remaining snapshot (id -> (snapshot, its layer)) and the volume (layer 4) read right."""
    assert holds(*active(driver, volume), 4)
    for snapshot, layer in remaining.values():
        copy = volume_ref(1)
        driver.create_volume_from_snapshot(copy, snapshot)
        try:
            assert holds(*active(driver, copy), layer), f"snapshot of layer {layer} reads wrong"
        finally:
            driver.delete_volume(copy)
    info_path = directory(driver) / f"volume-{volume.id}.info"
    info = json.loads(info_path.read_text()) if remaining else {}
    assert info_path.exists() == bool(remaining)  # none left: no .info file, the base is active
    assert set(info) - {"active"} == set(remaining)
    assert set(info.values()) <= volume_files(driver)


@pytest.mark.parametrize("order", [(0,), (1,), (2,), (0, 1, 2), (2, 1, 0), (1, 0, 2), (1, 2, 0)],
                         ids=["oldest", "middle", "latest", "oldest-first", "latest-first", "middle-oldest-latest",
                              "middle-latest-oldest"])
def test_delete_in_every_position_keeps_the_rest(built, order):
    driver, volume, snapshots = built
    remaining = {s.id: (s, layer) for layer, s in enumerate(snapshots, 1)}
    check(driver, volume, remaining)
    for index in order:
        gone = snapshots[index]
        driver.delete_snapshot(gone)
        del remaining[gone.id]
        assert not (directory(driver) / f"volume-{volume.id}.{gone.id}").exists()
        check(driver, volume, remaining)
    if not remaining:  # the last one: the base image is active again, in its own format
        path, fmt = active(driver, volume)
        assert path.name == f"volume-{volume.id}"
        assert fmt == ("qcow2" if driver.config.qcow2_volumes else "raw")
        driver.delete_snapshot(snapshots[0])  # gone already: fine


def test_a_snapshot_delete_twice_is_fine(built):
    driver, volume, snapshots = built
    driver.delete_snapshot(snapshots[1])
    driver.delete_snapshot(snapshots[1])
    check(driver, volume, {snapshots[0].id: (snapshots[0], 1), snapshots[2].id: (snapshots[2], 3)})
