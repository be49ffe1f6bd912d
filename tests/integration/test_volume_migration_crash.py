"""Shoal killed (`kill -9`) in the middle of a migration's copy of a GiB written
with random data: the copy (qemu-img) dies with it, the restarted Shoal resumes
the persisted flow -- the copy starts again on a fresh target (a new id, so
what is left of the first one never stands in its way) -- or reverts it,
and the volume ends `available` with its bytes on one side, migration_status
`success` or `error` (never left migrating), nothing of the hidden target (row,
dataset, file) and nothing of the other side's copy left. And a force-delete in
the middle of a copy: the copy is stopped by its pid, the flow reverts, the
volume is deleted, and neither backend keeps anything of it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.shoal import start_server

from .migration_helpers import (  # noqa: F401 - fixtures
    MIGRATION_TIMEOUT,
    Migrations,
    cinder,
    copy_processes,
    hidden_volumes,
    migration_server,
    migrations,
    nas_files,
    nfs_export,
    zfs_copies_collected,
    zfs_volumes,
)
from .volume_helpers import wait_gone, wait_until

pytestmark = pytest.mark.integration
DATA_MIB = 1024


def written_volume(api: Migrations, server, tmp_path: Path) -> tuple[str, Path]:
    """A 1 GiB volume on the share, filled with random data (written into its file
    on the share directly); a copy of that file is the reference."""
    volume = api.create_volume(1)
    vid = volume["id"]
    assert api.volume(vid)["os-vol-host-attr:host"] == server.nas_host
    path = server.nas_dir / f"volume-{vid}"
    subprocess.run(["dd", "if=/dev/urandom", f"of={path}", "bs=1M", f"count={DATA_MIB}", "conv=notrunc",
                    "status=none"], check=True, timeout=900)
    reference = tmp_path / f"{vid}.raw"
    shutil.copyfile(path, reference)
    return vid, reference


def copying(api: Migrations, vid: str) -> tuple[str, list[int]]:
    """Once the migration's copy runs: its hidden target's id and the copy's pids."""
    def running():
        shown = api.volume(vid)
        assert shown["os-vol-mig-status-attr:migstat"] in ("starting", "migrating"), \
            f"the migration ended before its copy was seen: {shown}"
        targets = hidden_volumes(api.client, vid)
        pids = copy_processes(vid, targets[0]["id"]) if targets else []
        return (targets[0]["id"], pids) if pids else None
    return wait_until(running, timeout=MIGRATION_TIMEOUT, what="the copy to run", poll=0.05)


def test_kill_9_during_the_copy_resumes_or_reverts_the_migration(migrations: Migrations, migration_server,
                                                                 ganesha_factory, tmp_path):
    api, server = migrations, migration_server
    vid, reference = written_volume(api, server, tmp_path)
    resp = api.migrate(vid, server.zfs_host)
    assert resp.status_code == 202, resp.text
    target, _ = copying(api, vid)

    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    # The copy dies with Shoal (PR_SET_PDEATHSIG): nothing writes on behind a dead flow.
    wait_until(lambda: not copy_processes(vid, target), timeout=120, what="the copy to die with Shoal")

    server.process = start_server(server.config, server.state_dir, server.url)
    with cinder(server) as client:
        api.client = client
        done = api.wait_migrated(vid)
        assert done["status"] == "available" and done["migration_status"] in ("success", "error"), done
        assert done["id"] == vid
        assert api.volume(target) is None and not hidden_volumes(client, vid)
        if done["migration_status"] == "success":  # resumed: the copy ran again, on a fresh target
            assert done["os-vol-host-attr:host"] == server.zfs_host
            assert nas_files(server, vid, target) == []
            zfs_copies_collected(server, target)  # the target the kill cut short
            assert zfs_volumes(server, vid) == [f"{server.pool_root}/volume-{vid}"]
            api.holds(vid, reference)  # over iSCSI, byte for byte
        else:  # reverted: the volume is where it was, with its data
            assert done["os-vol-host-attr:host"] == server.nas_host
            assert [n for n in nas_files(server, vid, target) if ".shoal-" not in n] == [f"volume-{vid}"]
            zfs_copies_collected(server, vid, target)
            nfs_export(ganesha_factory, server)
            api.holds(vid, reference)  # over NFS, byte for byte
        api.delete_volume(vid)
    assert nas_files(server, vid, target) == []
    zfs_copies_collected(server, vid, target)


def test_a_force_delete_during_the_copy_stops_it_and_leaves_nothing(migrations: Migrations, migration_server,
                                                                    tmp_path):
    api, server = migrations, migration_server
    vid, _ = written_volume(api, server, tmp_path)
    resp = api.migrate(vid, server.zfs_host)
    assert resp.status_code == 202, resp.text
    target, _ = copying(api, vid)

    assert api.action(vid, "os-force_delete", None).status_code == 202
    wait_gone(api.client, f"/volumes/{vid}", timeout=MIGRATION_TIMEOUT)
    wait_gone(api.client, f"/volumes/{target}", timeout=MIGRATION_TIMEOUT)
    assert not hidden_volumes(api.client, vid) and not copy_processes(vid, target)
    # The copy was stopped by its pid, not waited for (Shoal's log counts what the cancel stopped).
    stopped = [line for line in (server.state_dir / "shoal.log").read_text().splitlines()
               if f"migration of volume {vid} cancelled" in line]
    assert stopped and "(0 processes stopped)" not in stopped[0], stopped
    assert nas_files(server, vid, target) == []
    zfs_copies_collected(server, vid, target)
