"""Shoal killed (`kill -9`) in the middle of a ZFS to ZFS migration's `zfs send |
zfs receive` of a volume holding a GiB of random data and a snapshot: the two
processes die with Shoal, the restarted Shoal resumes the persisted flow (the
copy starts again into a fresh target) or reverts it, and the volume ends
`available` with migration_status `success` or `error`, its bytes and its
snapshot's bytes read back from outside over iSCSI, on one pool only, with
nothing left of the hidden target, of the cut-short receive or of the
migration's snapshot on either pool. While the copy ran, its progress was
written into the volume's row."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess

import pytest

from tests.fixtures.shoal import start_server

from .migration_helpers import MIGRATION_TIMEOUT, Migrations, cinder, hidden_volumes
from .volume_helpers import wait_until
from .zfs_migration_helpers import (  # noqa: F401 - fixtures
    PairServer,
    migration_points,
    names_of,
    pair,
    pair_server,
    second_zpool,
    stream_processes,
    volume_file,
)

pytestmark = pytest.mark.integration
DATA_MIB = 1024


def row_progress(server, volume_id: str) -> str | None:
    """The progress the flow writes into the volume's row (Cinder's volume view has no key for it)."""
    with sqlite3.connect(f"file:{server.state_dir}/shoal.db?mode=ro", uri=True, timeout=30) as db:
        row = db.execute("SELECT progress FROM volumes WHERE id = ?", (volume_id,)).fetchone()
    return row[0] if row else None


def test_kill_9_during_the_send_resumes_or_reverts_with_nothing_left(pair: Migrations, pair_server: PairServer,
                                                                     tmp_path):
    api, server, roots = pair, pair_server.server, pair_server.roots
    vid = api.create_volume(1)["id"]
    assert api.volume(vid)["os-vol-host-attr:host"] == pair_server.host(0)
    # A snapshot of a MiB, then a GiB of random data (written into the volume's file directly).
    path = volume_file(roots[0], vid)
    subprocess.run(["dd", "if=/dev/urandom", f"of={path}", "bs=1M", "count=1", "conv=notrunc", "status=none"],
                   check=True)
    at_snapshot = tmp_path / "snapshot.raw"
    shutil.copyfile(path, at_snapshot)
    snap = api.create_snapshot(vid)["id"]
    subprocess.run(["dd", "if=/dev/urandom", f"of={path}", "bs=1M", f"count={DATA_MIB}", "conv=notrunc",
                    "status=none"], check=True, timeout=900)
    reference = tmp_path / "now.raw"
    shutil.copyfile(path, reference)

    resp = api.migrate(vid, pair_server.host(1))
    assert resp.status_code == 202, resp.text

    def sending():
        shown = api.volume(vid)
        assert shown["migration_status"] in ("starting", "migrating"), f"the migration ended unseen: {shown}"
        targets = hidden_volumes(api.client, vid)
        if not targets or not stream_processes(targets[0]["id"]):
            return None
        progress = row_progress(server, vid)
        return targets[0]["id"] if progress and progress != "0%" else None
    target = wait_until(sending, timeout=MIGRATION_TIMEOUT, what="the send to move data", poll=0.05)

    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    # Both ends die with Shoal (PR_SET_PDEATHSIG): nothing writes on behind a dead flow.
    wait_until(lambda: not stream_processes(target, vid), timeout=120, what="the streams to die with Shoal")

    server.process = start_server(server.config, server.state_dir, server.url)
    with cinder(server) as client:
        api.client = client
        done = api.wait_migrated(vid)
        assert done["status"] == "available" and done["migration_status"] in ("success", "error"), done
        assert done["id"] == vid and done["os-vol-mig-status-attr:name_id"] is None
        assert api.volume(target) is None and not hidden_volumes(client, vid)
        where = 1 if done["migration_status"] == "success" else 0
        assert done["os-vol-host-attr:host"] == pair_server.host(where), done
        dataset = f"{roots[where]}/volume-{vid}"

        def settled():  # a cut-short receive zfs-fuse kept busy goes with the driver's collector
            return names_of(roots, vid, target) == sorted([dataset, f"{dataset}@snap-{snap}"])
        wait_until(settled, timeout=MIGRATION_TIMEOUT, what="only the volume and its snapshot to be left", poll=1.0)
        assert migration_points(roots) == []
        assert row_progress(server, vid) is None
        api.holds(vid, reference)  # over iSCSI, byte for byte
        clone = api.create_volume(1, snapshot_id=snap)["id"]
        api.holds(clone, at_snapshot)
        api.delete_volume(clone)
        api.delete_snapshot(snap)
        api.delete_volume(vid)
    assert names_of(roots, vid, target) == [] and migration_points(roots) == []
