"""A readable replica on a second ZFS host reached over SSH (the module's own
sshd; see tests/fixtures/ssh_replication.py), from the outside.

Replicate, write on the active, sync, and read the same bytes from the
secondary's NFS export on the SSH host (libnfs), which refuses writes (NFS and
ZFS); promote it, write on it; fail back, and measure what that sent
(`shoal_transfer_bytes` in /metrics): an incremental, a small part of the
first full copy, into the same dataset. Then the host made unreachable (its
sshd stopped): the replica goes `out_of_sync` with the reason, and comes back
`in_sync` by itself once sshd is back, with what was written meanwhile and no
replication snapshot left that nobody needs; a snapshot taken meanwhile reaches
it then, and a snapshot deleted meanwhile is `error_deleting` (kept on the
active) until a delete asked again reaches both copies.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.fixtures.replication import second_zpool  # noqa: F401 - fixture
from tests.fixtures.ssh_replication import LOCAL_ZONE, REMOTE_ZONE, replica_sshd, ssh_replica_server  # noqa: F401

from .replica_helpers import (
    VERSION,
    ReplicaApi,
    assert_read_only_over_nfs,
    leftovers,
    local_write_refused,
    read_secondary,
    snapshot_instances,
    snapshots_of,
    wait_on_every_copy,
    write,
)
from .share_helpers import nfs_read, wait_for_status, wait_until, zfs_get, zfs_names

pytestmark = pytest.mark.integration

BIG_MIB = 48  # the first copy's size: what a failback must not send again


@pytest.fixture
def api(ssh_replica_server):
    server = ssh_replica_server.server
    with server.client(VERSION) as client:
        yield ReplicaApi(server, client)


def replicated_share(api: ReplicaApi, env, name: str) -> tuple[dict, str, str]:
    """A replicated share on the local backend: (share, its export path, its dataset)."""
    share = api.replicated_share(name=name, availability_zone=LOCAL_ZONE)
    return share, api.mountpoint(share["id"]), f"{env.roots[0]}/share-{share['id']}"


def create_remote_replica(api: ReplicaApi, share_id: str) -> dict:
    resp = api.client.post("/share-replicas", json={"share_replica": {"share_id": share_id,
                                                                      "availability_zone": REMOTE_ZONE}})
    assert resp.status_code == 202, f"replica create: {resp.status_code} {resp.text}"
    replica = resp.json()["share_replica"]
    wait_for_status(api.client, f"/share-replicas/{replica['id']}", "available", timeout=300)
    return wait_for_status(api.client, f"/share-replicas/{replica['id']}", "in_sync", key="replica_state")


def nfs_sha256(server, path: str, name: str) -> str:
    """The file's digest as read over NFS (nfs-cp to a local file)."""
    with tempfile.TemporaryDirectory(prefix="shoal-nfs-") as tmp:
        local = Path(tmp) / name
        res = subprocess.run(["nfs-cp", server.nfs_url(f"{path}/{name}"), str(local)],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, f"nfs-cp of {path}/{name}: {res.stderr}"
        return hashlib.sha256(local.read_bytes()).hexdigest()


def bytes_transferred(server) -> float:
    """Every byte Shoal has moved by zfs send | zfs receive (its /metrics)."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    return sum(float(v) for v in re.findall(r'^shoal_transfer_bytes_total\{[^}]*\} (\S+)$', text, re.M))


def repl_tags(dataset: str) -> set[str]:
    return {n.split("@", 1)[1] for n in zfs_names(dataset, "snapshot")
            if n.startswith(dataset + "@repl-")}


def test_replica_on_an_ssh_host_promote_and_fail_back(api, ssh_replica_server):
    env = ssh_replica_server
    local, remote = env.server, env.remote
    before = leftovers(env.roots)
    share, first, local_ds = replicated_share(api, env, "over-ssh")
    # The bulk is put in place directly (test set-up); what counts is read back over NFS.
    subprocess.run(["dd", "if=/dev/urandom", f"of={first}/big.bin", "bs=1M", f"count={BIG_MIB}", "status=none"],
                   check=True, timeout=300)
    expected = hashlib.sha256(Path(first, "big.bin").read_bytes()).hexdigest()
    write(local, first, "a.txt", "written before the replica\n")

    sent_before = bytes_transferred(local)
    replica = create_remote_replica(api, share["id"])
    full = bytes_transferred(local) - sent_before
    assert full >= BIG_MIB * 2**20, full  # the first copy carried the whole share
    assert replica["host"] == f"shoal@remote#{env.pools[1]}", replica
    second = api.replica_path(replica["id"])

    # The same bytes, read over NFS from the SSH host's export; writes refused there.
    assert read_secondary(remote, second, "a.txt") == "written before the replica\n"
    assert nfs_sha256(remote, second, "big.bin") == expected
    assert_read_only_over_nfs(remote, second)
    # ZFS refuses it too (on the SSH host's mount; here the same machine's). zfs-fuse
    # shows `readonly` as "off, temporary" whatever is set, so the write tells.
    assert local_write_refused(second)

    # A later write reaches it with the next sync (asked for: resync).
    write(local, first, "b.txt", "written after the first copy\n")
    assert api.replica_action(replica["id"], "resync").status_code == 202
    wait_until(lambda: nfs_read(remote, second, "b.txt").stdout == "written after the first copy\n",
               timeout=120, what="b.txt on the SSH host")

    # Promote the copy on the SSH host; write on it.
    active_id = next(r["id"] for r in api.replicas(share["id"]) if r["replica_state"] == "active")
    write(local, first, "c.txt", "acknowledged before the promote\n")
    api.promote(replica["id"])
    assert api.mountpoint(share["id"]) == second
    assert nfs_read(remote, second, "c.txt").stdout == "acknowledged before the promote\n"
    assert_read_only_over_nfs(local, first)
    assert local_write_refused(first)
    write(remote, second, "d.txt", "written on the SSH host\n")

    # Fail back: only what changed travels, into the same dataset.
    guid = zfs_get(local_ds, "guid")
    sent_before = bytes_transferred(local)
    api.promote(active_id)
    failback = bytes_transferred(local) - sent_before
    assert zfs_get(local_ds, "guid") == guid  # the old active's dataset, not a new copy
    assert failback < full / 20, f"failback sent {failback} bytes; the full copy was {full}"
    assert api.mountpoint(share["id"]) == first
    assert nfs_read(local, first, "d.txt").stdout == "written on the SSH host\n"
    assert nfs_sha256(local, first, "big.bin") == expected
    assert_read_only_over_nfs(remote, second)
    assert local_write_refused(second)

    api.remove_replicated(share["id"])
    assert leftovers(env.roots) == before


def test_unreachable_replica_goes_out_of_sync_and_comes_back(api, ssh_replica_server):
    env = ssh_replica_server
    local, remote = env.server, env.remote
    before = leftovers(env.roots)
    share, first, local_ds = replicated_share(api, env, "unreachable")
    replica = create_remote_replica(api, share["id"])
    second = api.replica_path(replica["id"])
    remote_ds = f"{env.roots[1]}/share-{replica['id']}"

    copies = {copy["id"] for copy in api.replicas(share["id"])}
    before_outage = api.create_snapshot(share["id"], name="before the outage")
    wait_on_every_copy(api, before_outage["id"], copies)

    env.sshd.stop()  # the SSH host cannot be reached: its connections drop, new ones are refused
    try:
        gone = wait_for_status(api.client, f"/share-replicas/{replica['id']}", "out_of_sync",
                               key="replica_state", timeout=120)
        assert "sync failed" in (gone.get("status_reason") or ""), gone
        assert gone["status"] == "available", gone
        write(local, first, "meanwhile.txt", "written while the replica was unreachable\n")
        # A snapshot now is available on the active; on the unreachable copy it waits.
        during = api.create_snapshot(share["id"], name="during the outage")
        waiting = wait_until(lambda: {i["share_instance_id"]: i["status"] for i in snapshot_instances(
            api, during["id"])}.get(replica["id"]), what="the snapshot's instance on the replica")
        assert waiting == "creating", waiting
        # A delete cannot reach every copy: error_deleting, and the active keeps it.
        assert api.client.delete(f"/snapshots/{before_outage['id']}").status_code == 202
        wait_for_status(api.client, f"/snapshots/{before_outage['id']}", "error_deleting", timeout=120)
        assert f"snap-{before_outage['id']}" in snapshots_of(local_ds)
    finally:
        env.sshd.restart()

    # Back by itself (the periodic sync), with what was written meanwhile.
    back = wait_for_status(api.client, f"/share-replicas/{replica['id']}", "in_sync", key="replica_state",
                           timeout=180)
    assert not back.get("status_reason"), back
    assert read_secondary(remote, second, "meanwhile.txt") == "written while the replica was unreachable\n"
    # The snapshot taken meanwhile came with the sync; the delete, asked again, reaches both copies.
    wait_on_every_copy(api, during["id"], copies)
    assert f"snap-{during['id']}" in snapshots_of(remote_ds)
    api.delete_snapshot(before_outage["id"])
    assert not {f"snap-{before_outage['id']}"} & (snapshots_of(local_ds) | snapshots_of(remote_ds))
    api.delete_snapshot(during["id"])
    # Replication snapshots nobody needs are gone: each copy keeps the one point they share.
    wait_until(lambda: len(repl_tags(local_ds)) == 1 and repl_tags(local_ds) == repl_tags(remote_ds),
               timeout=60, what="one replication point on each copy, the same", poll=0.2)

    api.remove_replicated(share["id"])
    assert leftovers(env.roots) == before
