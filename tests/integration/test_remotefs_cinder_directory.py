"""A share directory as Cinder's NFS driver leaves it -- a raw base, a qcow2
overlay per snapshot, the .info file, and none of Shoal's sidecars -- is one
Shoal can work with: it attaches the active overlay, takes and deletes
snapshots keeping the data, and writes the .info file back in Cinder's exact
form (indent=1, sorted keys, only `active` and snapshot ids)."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from shoal.drivers.volume import VolumeRef, VolumeSnapshotRef
from tests.fixtures.remotefs import ADDRESS, active, directory, reads, take_snapshot, volume_files, write

pytestmark = pytest.mark.integration

GiB = 1024**3


def test_shoal_works_on_what_cinder_wrote(remotefs):
    driver = remotefs()
    share = directory(driver)
    volume = VolumeRef(str(uuid.uuid4()), ADDRESS, 1, ADDRESS)
    snapshot = VolumeSnapshotRef(str(uuid.uuid4()), volume)
    base, overlay = f"volume-{volume.id}", f"volume-{volume.id}.{snapshot.id}"
    # what Cinder runs: truncate, then qemu-img create of the overlay and a rebase to a relative name
    subprocess.run(["truncate", "-s", str(GiB), str(share / base)], check=True)
    write(share / base, "raw", 0xC1)
    subprocess.run(["qemu-img", "create", "-f", "qcow2", "-o", f"backing_file={share / base},backing_fmt=raw",
                    str(share / overlay), str(GiB)], check=True, capture_output=True)
    subprocess.run(["qemu-img", "rebase", "-u", "-b", base, "-F", "raw", str(share / overlay)], check=True)
    (share / f"{base}.info").write_text(json.dumps({"active": overlay, snapshot.id: overlay}, indent=1, sort_keys=True))
    write(share / overlay, "qcow2", 0xC2)

    path, fmt = active(driver, volume)
    assert (path.name, fmt) == (overlay, "qcow2") and reads(path, fmt, 0xC2)

    newer = take_snapshot(driver, volume)
    text = (share / f"{base}.info").read_text()
    expected = {"active": f"{base}.{newer.id}", snapshot.id: overlay, newer.id: f"{base}.{newer.id}"}
    assert text == json.dumps(expected, indent=1, sort_keys=True)

    driver.delete_snapshot(snapshot)  # Cinder's own snapshot, the oldest
    path, fmt = active(driver, volume)
    assert reads(path, fmt, 0xC2)
    driver.delete_snapshot(newer)
    path, fmt = active(driver, volume)
    assert (path.name, fmt) == (base, "raw") and reads(path, fmt, 0xC2)  # raw: read from the overlay's header, not guessed
    driver.delete_volume(volume)
    assert volume_files(driver) == set()
