"""A share replica's first copy between two zpools of this host, its `zfs send`
killed once while it copies, with Shoal running (zfs-fuse). The transfer fails (its
producer died), but zfs-fuse's daemon, not the killed client, writes the
stream: whether it arrived whole or was cut, the flow goes on
(drivers/zfs/resumable.py) -- it finds the copy whole, or sends it again --
instead of reverting, the replica ends `in_sync` with the same bytes read
over NFS (libnfs), and once replica and share are deleted nothing is left on
either pool and no process of the copy runs.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.replication import replica_server, second_zpool  # noqa: F401 - fixtures

from .replica_helpers import leftovers, read_secondary, replica_api, write  # noqa: F401 - replica_api is a fixture
from .share_helpers import wait_for_status, wait_until
from .test_share_replica_cut import cmdlines, processes_naming, secondary_sha256, shoal_log

pytestmark = pytest.mark.integration

DATA_MIB = 256  # pipe to pipe on one host the copy is quick: enough that it is still running when found


def sends_of(dataset: str) -> list[int]:
    """The `zfs send` processes of a snapshot of `dataset`."""
    return [pid for pid, line in cmdlines().items() if line.startswith("zfs send") and f"{dataset}@" in line]


def test_a_send_killed_mid_copy_does_not_revert_the_replica(replica_api, replica_server):
    api, server = replica_api, replica_server.server
    before = leftovers(replica_server.roots)
    share = api.replicated_share(name="cut-send")
    first = api.mountpoint(share["id"])
    # The bulk is put in place directly (test set-up); what counts is read back over NFS.
    subprocess.run(["dd", "if=/dev/urandom", f"of={first}/big.bin", "bs=1M", f"count={DATA_MIB}", "status=none"],
                   check=True, timeout=600)
    expected = hashlib.sha256(Path(first, "big.bin").read_bytes()).hexdigest()
    write(server, first, "a.txt", "written before the replica\n")

    replica = api.create_replica(share["id"], wait=None)
    pids = wait_until(lambda: sends_of(f"{replica_server.roots[0]}/share-{share['id']}"), timeout=180,
                      what="the copy's zfs send", poll=0.01)
    assert len(pids) == 1, f"expected the copy's one zfs send: {processes_naming(share['id'])}"
    os.kill(pids[0], signal.SIGKILL)  # a process of this test's Shoal

    done = wait_for_status(api.client, f"/share-replicas/{replica['id']}", "available", timeout=300)
    assert done["replica_state"] == "in_sync" and done["progress"] == "100%", done
    assert not done.get("status_reason"), done
    target = f"{replica_server.roots[1]}/share-{replica['id']}"
    cut = [line for line in shoal_log(server).splitlines() if "stream cut" in line and target in line]
    assert cut, "the transfer did not fail: the send was not killed mid-copy"
    second = api.replica_path(replica["id"])
    assert secondary_sha256(server, second, "big.bin") == expected
    assert read_secondary(server, second, "a.txt") == "written before the replica\n"

    api.remove_replicated(share["id"])
    assert leftovers(replica_server.roots) == before
    assert not processes_naming(f"share-{replica['id']}")
