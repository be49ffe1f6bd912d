"""A crash in the middle of a snapshot delete (simulated: a step raises and
the driver is dropped, as a killed process would leave things) leaves the
journal beside the volume; the next start finishes the delete, or recover()
does, and every remaining snapshot and the volume read as before. What cannot
be finished is reported per volume. A clone that died keeps its temporary
snapshot on the source until recover() removes it."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from shoal.drivers.remotefs.chain import Chain
from shoal.drivers.remotefs.qemu_img import QemuImg
from shoal.drivers.remotefs.volumes import RemoteFsVolumeDriver
from tests.fixtures.remotefs import active, directory, new_volume, reads, snapshot_ref, volume_files, volume_ref, write

pytestmark = pytest.mark.integration


class Crash(Exception):
    pass


def layered(driver):
    """A volume with snapshots of layers 1, 2, 3 and layer 4 on top (pattern = layer, at offset layer MiB)."""
    volume = volume_ref(1)
    driver.create_volume(volume)
    snapshots = []
    for layer in (1, 2, 3):
        write(*active(driver, volume), layer, layer * 1024**2, 4096)
        snapshots.append(snapshot_ref(volume))
        driver.create_snapshot(snapshots[-1])
    write(*active(driver, volume), 4, 4 * 1024**2, 4096)
    return volume, snapshots


def crash_on(verb: str, after: bool = False):
    """qemu-img `verb` dies (before it runs, or right after it finished)."""
    real = QemuImg.run

    def run(self, argv):
        if argv[1] == verb:
            if after:
                real(self, argv)
            raise Crash(verb)
        return real(self, argv)

    return mock.patch.object(QemuImg, "run", run)


def crash_writing_info():
    return mock.patch.object(Chain, "_write_info", side_effect=Crash("info"))


def check_layers(driver, volume, remaining: list) -> None:
    path, fmt = active(driver, volume)
    assert all(reads(path, fmt, layer, layer * 1024**2, 4096) for layer in (1, 2, 3, 4))
    for snapshot, layer in remaining:
        copy = volume_ref(1)
        driver.create_volume_from_snapshot(copy, snapshot)
        copy_path, copy_fmt = active(driver, copy)
        assert all(reads(copy_path, copy_fmt, k, k * 1024**2, 4096) for k in range(1, layer + 1))
        assert reads(copy_path, copy_fmt, 0, (layer + 1) * 1024**2, 4096)
        driver.delete_volume(copy)
    info_path = directory(driver) / f"volume-{volume.id}.info"
    assert set(json.loads(info_path.read_text())) - {"active"} == {s.id for s, _ in remaining}
    assert not any(name.endswith((".shoal-pending", ".shoal-revert")) for name in volume_files(driver))


@pytest.mark.parametrize("victim, crash", [
    (2, lambda: crash_on("commit")),  # latest: before the commit
    (2, lambda: crash_on("commit", after=True)),  # latest: merged, .info not yet written
    (1, lambda: crash_on("commit", after=True)),  # middle: merged, the overlay above not yet rebased
    (1, lambda: crash_on("rebase", after=True)),  # middle: rebased, .info not yet written
    (0, crash_writing_info),  # oldest: merged and rebased, .info not yet written
], ids=["latest-before-commit", "latest-after-commit", "middle-after-commit", "middle-after-rebase",
        "oldest-before-info"])
@pytest.mark.parametrize("finisher", ["start", "recover"])
def test_an_interrupted_delete_is_finished(remotefs, victim, crash, finisher):
    driver = remotefs()
    volume, snapshots = layered(driver)
    with crash(), pytest.raises(Crash):
        driver.delete_snapshot(snapshots[victim])
    assert f"volume-{volume.id}.shoal-pending" in volume_files(driver)

    pending = f"volume-{volume.id}.shoal-pending"
    if finisher == "start":  # a new process on the same share: its start finds the journal and finishes
        restarted = remotefs(share=directory(driver))
    else:  # recover() for the volumes services name, with start's own sweep left out
        with mock.patch.object(RemoteFsVolumeDriver, "_finish_interrupted"):
            restarted = remotefs(share=directory(driver))
        assert pending in volume_files(restarted)
        assert restarted.recover([volume]) == {}
    assert pending not in volume_files(restarted)
    remaining = [(s, layer) for layer, s in enumerate(snapshots, 1) if s is not snapshots[victim]]
    check_layers(restarted, volume, remaining)
    assert f"volume-{volume.id}.{snapshots[victim].id}" not in volume_files(restarted)
    restarted.delete_volume(volume)


def test_a_change_to_the_volume_finishes_the_delete_first(remotefs):
    driver = remotefs()
    volume, snapshots = layered(driver)
    with crash_on("rebase"), pytest.raises(Crash):
        driver.delete_snapshot(snapshots[1])
    newest = snapshot_ref(volume)
    driver.create_snapshot(newest)  # no restart: the journal is found by the next change
    check_layers(driver, volume, [(snapshots[0], 1), (snapshots[2], 3), (newest, 4)])
    driver.delete_volume(volume)


def test_what_cannot_be_finished_is_reported(remotefs):
    driver = remotefs()
    volume, snapshots = layered(driver)
    with crash_on("commit"), pytest.raises(Crash):
        driver.delete_snapshot(snapshots[1])
    (directory(driver) / f"volume-{volume.id}.{snapshots[1].id}").unlink()  # and then the disk lost a file
    restarted = remotefs(share=directory(driver))
    failed = restarted.recover([volume])
    assert set(failed) == {volume.id} and "snapshot chain is damaged" in failed[volume.id]
    assert f"volume-{volume.id}.shoal-pending" in volume_files(restarted)  # kept, for whoever repairs it
    restarted.delete_volume(volume)


def test_recover_removes_a_dead_clones_temporary_snapshot(remotefs):
    driver = remotefs()
    source = new_volume(driver, 1, 0x77)
    clone = volume_ref(1)
    with crash_on("convert"), mock.patch.object(Chain, "delete_snapshot", side_effect=Crash("died")), \
            pytest.raises(Crash):
        driver.create_cloned_volume(clone, source)
    assert any(f"tmp-snap-{clone.id}" in name for name in volume_files(driver))

    restarted = remotefs(share=directory(driver))
    # Services hand recover() the volumes they hold as created: the source, not the
    # clone whose create died (it has no provider location; its row ends in error).
    assert restarted.recover([source]) == {}
    assert not any("tmp-snap" in name for name in volume_files(restarted))
    # A volume said to exist whose files are all gone is reported, not skipped.
    lost = restarted.recover([clone])
    assert list(lost) == [clone.id] and f"volume-{clone.id}" in lost[clone.id]
    path, fmt = active(restarted, source)
    assert path.name == f"volume-{source.id}" and reads(path, fmt, 0x77)
    restarted.delete_volume(source)
    restarted.delete_volume(clone)
    assert volume_files(restarted) == set()
