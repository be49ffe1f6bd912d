"""Shoal killed (`kill -9`) in the middle of a share migration -- during the
first phase's full copy, and right after migration_complete -- and started
again: the persisted flow resumes (the interrupted step runs again from a clean
start) or reverts, the share ends in a steady state holding the same bytes
where its export location says, and once it is deleted nothing of it is left on
either pool (no dataset, no migration point)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.replication import replica_server, second_zpool  # noqa: F401 - fixtures
from tests.fixtures.shoal import start_server

from .share_helpers import nfs_read, wait_until
from .share_migration_helpers import (  # noqa: F401 - migration_api is a fixture
    EXPERIMENTAL, PHASE1_DONE, VERSION, MigrationApi, destination_host, leftovers, migration_api, migration_points,
)
from .test_share_replicas_crash import processes_naming

pytestmark = pytest.mark.integration

DATA_MIB = 384  # enough that the first copy is still running when Shoal is killed


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def big_share(api: MigrationApi, name: str, mib: int) -> tuple[dict, str]:
    share = api.create_share(name=name)
    api.allow(share["id"])
    path = Path(api.mountpoint(share["id"]))
    subprocess.run(["dd", "if=/dev/urandom", f"of={path / 'big.bin'}", "bs=1M", f"count={mib}", "status=none"],
                   check=True, timeout=600)
    (path / "small.txt").write_text("read back over NFS\n")
    return share, sha256(path / "big.bin")


def kill_and_restart(api: MigrationApi, share_id: str):
    server = api.server
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    # The copy's zfs send/receive died with Shoal: nothing writes on behind a dead flow.
    wait_until(lambda: not processes_naming(f"share-{share_id}@repl-mig"), timeout=30,
               what="the migration's processes to be gone")
    server.process = start_server(server.config, server.state_dir, server.url)
    client = server.client(VERSION)
    api.client = client
    return client


def test_kill_9_during_the_first_copy(migration_api, replica_server):
    api = migration_api
    before = leftovers(replica_server.roots)
    share, digest = big_share(api, "crash-copy", DATA_MIB)
    api.start(share["id"], destination_host(replica_server))
    wait_until(lambda: api.progress(share["id"]).get("details", {}).get("bytes_sent", 0) > 0
               and api.share(share["id"])["task_state"] == "migration_driver_in_progress",
               timeout=120, what="the first copy to run", poll=0.05)
    with kill_and_restart(api, share["id"]):
        ended = api.wait_task_state(share["id"], (PHASE1_DONE, "migration_error"), timeout=600)
        if ended["task_state"] == PHASE1_DONE:  # resumed: the source is still served; finish it
            assert nfs_read(api.server, api.mountpoint(share["id"]), "small.txt").stdout == "read back over NFS\n"
            ended = api.complete(share["id"])
            assert ended["host"] == destination_host(replica_server), ended
        assert ended["status"] == "available", ended
        assert sha256(Path(api.mountpoint(share["id"])) / "big.bin") == digest
        assert nfs_read(api.server, api.mountpoint(share["id"]), "small.txt").stdout == "read back over NFS\n"
        assert not migration_points(replica_server.roots)
        api.delete_share(share["id"])
    assert leftovers(replica_server.roots) == before


def test_kill_9_right_after_migration_complete(migration_api, replica_server):
    api = migration_api
    before = leftovers(replica_server.roots)
    share, digest = big_share(api, "crash-complete", 64)
    api.start(share["id"], destination_host(replica_server))
    api.wait_task_state(share["id"], PHASE1_DONE)
    resp = api.client.post(f"/shares/{share['id']}/action", json={"migration_complete": None}, headers=EXPERIMENTAL)
    assert resp.status_code == 202, resp.text
    with kill_and_restart(api, share["id"]):
        ended = api.wait_task_state(share["id"], ("migration_success", "migration_error"), timeout=300)
        assert ended["status"] == "available", ended
        path = Path(api.mountpoint(share["id"]))
        assert sha256(path / "big.bin") == digest
        if ended["task_state"] == "migration_success":
            assert ended["host"] == destination_host(replica_server), ended
        assert not migration_points(replica_server.roots)
        api.delete_share(share["id"])
    assert leftovers(replica_server.roots) == before
