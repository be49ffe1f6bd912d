"""Helpers for the share-migration scenarios (tests/integration/test_share_migration*.py):
Manila's migration actions (experimental: the header goes with every call),
waiting on task_state, and what is left on the pools of the replica server
(its backend holds two zpools: a share moves from the first to the second)."""

from __future__ import annotations

import pytest

from .replica_helpers import leftovers
from .share_helpers import ShareApi, wait_for_status, zfs_names

EXPERIMENTAL = {"X-OpenStack-Manila-API-Experimental": "true"}
VERSION = "2.84"
PHASE1_DONE = "migration_driver_phase1_done"


class MigrationApi(ShareApi):
    def migration(self, share_id: str, name: str, arg=None, experimental: bool = True):
        return self.client.post(f"/shares/{share_id}/action", json={name: arg},
                                headers=EXPERIMENTAL if experimental else {})

    def start(self, share_id: str, host: str, expect: int = 202, **overrides):
        params = {"host": host, "force_host_assisted_migration": False, "preserve_metadata": True,
                  "writable": True, "nondisruptive": False, "preserve_snapshots": False,
                  "new_share_network_id": None, "new_share_type_id": None, **overrides}
        resp = self.migration(share_id, "migration_start", params)
        assert resp.status_code == expect, f"migration_start: {resp.status_code} {resp.text}"
        return resp

    def progress(self, share_id: str) -> dict:
        resp = self.migration(share_id, "migration_get_progress")
        assert resp.status_code == 200, f"migration_get_progress: {resp.status_code} {resp.text}"
        return resp.json()

    def wait_task_state(self, share_id: str, state: str | tuple, timeout: float = 300) -> dict:
        return wait_for_status(self.client, f"/shares/{share_id}", state, timeout=timeout, key="task_state")

    def complete(self, share_id: str) -> dict:
        resp = self.migration(share_id, "migration_complete")
        assert resp.status_code == 202, f"migration_complete: {resp.status_code} {resp.text}"
        share = self.wait_task_state(share_id, "migration_success")
        assert share["status"] == "available", share
        return share


def migration_points(roots) -> set[str]:
    """The migration's snapshots under the pools' roots (none may outlive a migration)."""
    return {n for root in roots for n in zfs_names(root, "snapshot") if "@repl-mig" in n}


def destination_host(replica_server) -> str:
    return f"shoal@test#{replica_server.pools[1]}"


@pytest.fixture
def migration_api(replica_server):
    server = replica_server.server
    with server.client(VERSION) as client:
        yield MigrationApi(server, client)


__all__ = ["MigrationApi", "PHASE1_DONE", "destination_host", "leftovers", "migration_api", "migration_points"]
