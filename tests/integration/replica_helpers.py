"""Helpers for the share-replica scenarios (tests/integration/test_share_replicas_*.py):
a client of the replica server, and what a scenario does again and again --
make a replicated share with a rw rule, make a replica and wait for it, find
where each copy is exported, check the bytes over NFS and ZFS's readonly from
outside. Everything a scenario made is removed afterwards through the API."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .share_helpers import ShareApi, nfs_read, nfs_write, wait_for_status, wait_gone, wait_until, zfs_names

# On zfs-fuse a secondary steps out of its export for each incremental receive
# (see drivers/zfs/replication.py): a client that finds no export tries again.
SUSPENDED = "MNT3ERR_ACCES"

VERSION = "2.75"


class ReplicaApi(ShareApi):
    def replicated_share(self, **fields) -> dict:
        share = self.create_share(share_type="replicated", **fields)
        self.allow(share["id"])
        return share

    def create_replica(self, share_id: str, wait: str | None = "in_sync") -> dict:
        resp = self.client.post("/share-replicas", json={"share_replica": {"share_id": share_id}})
        assert resp.status_code == 202, f"replica create: {resp.status_code} {resp.text}"
        replica = resp.json()["share_replica"]
        assert replica["status"] == "creating", replica
        if wait:
            wait_for_status(self.client, f"/share-replicas/{replica['id']}", "available", timeout=180)
            replica = wait_for_status(self.client, f"/share-replicas/{replica['id']}", wait, key="replica_state")
        return replica

    def replica(self, replica_id: str) -> dict:
        resp = self.client.get(f"/share-replicas/{replica_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()["share_replica"]

    def replicas(self, share_id: str) -> list[dict]:
        resp = self.client.get("/share-replicas/detail", params={"share_id": share_id})
        assert resp.status_code == 200, resp.text
        return resp.json()["share_replicas"]

    def replica_action(self, replica_id: str, name: str, arg=None):
        return self.client.post(f"/share-replicas/{replica_id}/action", json={name: arg})

    def promote(self, replica_id: str) -> dict:
        resp = self.replica_action(replica_id, "promote")
        assert resp.status_code == 202, f"promote: {resp.status_code} {resp.text}"
        return wait_for_status(self.client, f"/share-replicas/{replica_id}", "active", timeout=180,
                               key="replica_state")

    def replica_path(self, replica_id: str) -> str:
        resp = self.client.get(f"/share-replicas/{replica_id}/export-locations")
        assert resp.status_code == 200, resp.text
        paths = [e["path"] for e in resp.json()["export_locations"] if not e.get("is_admin_only")]
        assert paths, resp.json()
        return paths[0].partition(":")[2]

    def delete_replica(self, replica_id: str) -> None:
        resp = self.client.delete(f"/share-replicas/{replica_id}")
        assert resp.status_code == 202, f"delete replica: {resp.status_code} {resp.text}"
        wait_gone(self.client, f"/share-replicas/{replica_id}", timeout=120)

    def remove_replicated(self, share_id: str) -> None:
        """Delete every secondary, then the share."""
        for replica in self.replicas(share_id):
            if replica["replica_state"] != "active":
                self.delete_replica(replica["id"])
        self.delete_share(share_id)


def write(server, path: str, name: str, data: str) -> None:
    """A new file over NFS; it must land."""
    res = nfs_write(server, path, name, data)
    assert res.returncode == 0, f"NFS write to {path}/{name}: {res.stderr}"


def read(server, path: str, name: str) -> str:
    """A file's text over NFS; it must be there."""
    res = nfs_read(server, path, name)
    assert res.returncode == 0, f"NFS read of {path}/{name}: {res.stderr}"
    return res.stdout


def read_secondary(server, path: str, name: str) -> str:
    """The file's text over NFS, waiting out the short gaps of a sync."""
    def attempt():
        res = nfs_read(server, path, name)
        assert res.returncode == 0 or SUSPENDED in res.stderr, f"NFS read of {path}/{name}: {res.stderr}"
        return res.stdout if res.returncode == 0 else None

    return wait_until(attempt, timeout=60, what=f"{path}/{name} over NFS", poll=0.2)


def assert_read_only_over_nfs(server, path: str) -> None:
    """A write over NFS is refused by the server as read-only (NFS3ERR_ROFS), not for want of an export."""
    def attempt():
        res = nfs_write(server, path, f"refused-{os.getpid()}.txt", "must not land\n")
        assert res.returncode != 0, f"a write to {path} succeeded"
        assert "ROFS" in res.stderr or SUSPENDED in res.stderr, res.stderr
        return "ROFS" in res.stderr

    wait_until(attempt, timeout=60, what=f"a read-only refusal from {path}", poll=0.2)


def local_write_refused(directory: str) -> bool:
    """ZFS itself refuses a write into the mounted dataset (readonly=on), whatever NFS says."""
    try:
        with open(Path(directory) / f"local-{os.getpid()}.txt", "w") as fh:
            fh.write("must not land\n")
    except OSError as exc:
        return exc.errno == 30  # EROFS
    os.unlink(Path(directory) / f"local-{os.getpid()}.txt")
    return False


def snapshot_instances(api, snapshot_id: str) -> list[dict]:
    resp = api.client.get("/snapshot-instances/detail", params={"snapshot_id": snapshot_id})
    assert resp.status_code == 200, resp.text
    return resp.json()["snapshot_instances"]


def wait_on_every_copy(api, snapshot_id: str, replica_ids: set[str]) -> list[dict]:
    """One instance per replica, each available (the secondary's once a sync brought it)."""
    def settled():
        found = snapshot_instances(api, snapshot_id)
        done = {i["share_instance_id"] for i in found if i["status"] == "available"}
        return found if done == replica_ids and len(found) == len(replica_ids) else None

    return wait_until(settled, timeout=120, what=f"snapshot {snapshot_id} on every replica", poll=0.5)


def snapshots_of(dataset: str) -> set[str]:
    """The names (after '@') of a dataset's snapshots."""
    return {n.split("@", 1)[1] for n in zfs_names(dataset, "snapshot") if n.startswith(dataset + "@")}


def leftovers(roots) -> set[str]:
    """Datasets and snapshots under the backend's roots (the roots themselves excepted)."""
    found = set()
    for root in roots:
        found |= zfs_names(root, "filesystem,snapshot") - {root}
    return found


@pytest.fixture
def replica_api(replica_server):
    server = replica_server.server
    with server.client(VERSION) as client:
        yield ReplicaApi(server, client)
