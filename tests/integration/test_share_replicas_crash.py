"""Shoal killed (`kill -9`) in the middle of a replica's first copy: the copy's
processes die with it (no orphaned `zfs receive` writes on), and the restarted
Shoal resumes the persisted flow -- the interrupted step runs again from a
clean start -- so the replica ends `in_sync` holding the same bytes, and
nothing is left on either pool once it and its share are deleted."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.replication import replica_server, second_zpool  # noqa: F401 - fixtures
from tests.fixtures.shoal import start_server

from .replica_helpers import leftovers, read_secondary, replica_api  # noqa: F401 - replica_api is a fixture
from .share_helpers import wait_for_status, wait_until

pytestmark = pytest.mark.integration

DATA_MIB = 384  # enough that the first copy is still running when Shoal is killed


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def processes_naming(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def test_kill_9_during_the_first_copy_resumes_it(replica_api, replica_server):
    api, server = replica_api, replica_server.server
    before = leftovers(replica_server.roots)
    share = api.replicated_share(name="crash")
    path = Path(api.mountpoint(share["id"]))
    # The data is put in place directly (test set-up); what counts is read back later.
    subprocess.run(["dd", "if=/dev/urandom", f"of={path / 'big.bin'}", "bs=1M", f"count={DATA_MIB}", "status=none"],
                   check=True, timeout=600)
    (path / "small.txt").write_text("read back over NFS\n")
    expected = sha256(path / "big.bin")

    replica = api.create_replica(share["id"], wait=None)
    wait_until(lambda: (api.replica(replica["id"]).get("task_state") or "").startswith("copying"),
               timeout=120, what="the first copy to run", poll=0.05)
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    # The copy's zfs send/receive died with Shoal: nothing writes on behind a dead flow.
    wait_until(lambda: not processes_naming(f"share-{replica['id']}"), timeout=30,
               what="the copy's processes to be gone")

    server.process = start_server(server.config, server.state_dir, server.url)
    with server.client("2.75") as client:
        done = wait_for_status(client, f"/share-replicas/{replica['id']}", "available", timeout=300)
        assert done["replica_state"] == "in_sync" and done["progress"] == "100%", done
        api.client = client
        second = Path(api.replica_path(replica["id"]))
        assert sha256(second / "big.bin") == expected
        assert (second / "small.txt").read_text() == "read back over NFS\n"
        assert read_secondary(server, str(second), "small.txt") == "read back over NFS\n"
        api.remove_replicated(share["id"])
    assert leftovers(replica_server.roots) == before
