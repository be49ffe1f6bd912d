"""A readable replica, from the outside: data written over NFS on the active copy
is read back from the secondary's export, which refuses writes over NFS and at
the ZFS level; a promotion turns the old active read-only before the new one is
writable, keeps every write the old active had taken, and a failback sends only
what changed (the old active's dataset is kept, not sent again). Both copies go
when the replica and the share are deleted, with their replication snapshots."""

from __future__ import annotations

import pytest

from tests.fixtures.replication import replica_server, second_zpool  # noqa: F401 - fixtures

from .replica_helpers import (  # noqa: F401 - replica_api is a fixture
    assert_read_only_over_nfs,
    leftovers,
    local_write_refused,
    read,
    read_secondary,
    replica_api,
    write,
)
from .share_helpers import nfs_read, wait_until, zfs_get

pytestmark = pytest.mark.integration


def test_replicate_promote_and_fail_back(replica_api, replica_server):
    api = replica_api
    before = leftovers(replica_server.roots)
    share = api.replicated_share(name="replicated")
    assert share["replication_type"] == "readable" and share["has_replicas"] is False
    first = api.mountpoint(share["id"])
    write(api.server, first, "a.txt", "written before the replica\n")

    replica = api.create_replica(share["id"])
    assert replica["progress"] == "100%"
    assert replica["host"].endswith(f"#{replica_server.pools[1]}"), replica  # the other pool
    assert api.share(share["id"])["has_replicas"] is True
    states = sorted(r["replica_state"] for r in api.replicas(share["id"]))
    assert states == ["active", "in_sync"]
    active_id = next(r["id"] for r in api.replicas(share["id"]) if r["replica_state"] == "active")

    second = api.replica_path(replica["id"])
    assert second != first
    assert read_secondary(api.server, second, "a.txt") == "written before the replica\n"
    assert_read_only_over_nfs(api.server, second)  # NFS: the rule is cast to read-only
    assert local_write_refused(second)  # and ZFS itself: readonly=on

    # A later write reaches the secondary with a resync (incremental).
    write(api.server, first, "b.txt", "written after the first copy\n")
    assert api.replica_action(replica["id"], "resync").status_code == 202
    wait_until(lambda: nfs_read(api.server, second, "b.txt").stdout == "written after the first copy\n",
               timeout=60, what="b.txt on the secondary")

    # Promote: written just before, it must be on the new active.
    write(api.server, first, "c.txt", "acknowledged before the promote\n")
    api.promote(replica["id"])
    old = api.replica(active_id)
    assert old["replica_state"] == "in_sync", old
    assert api.share(share["id"])["status"] == "available"
    assert api.mountpoint(share["id"]) == second  # the share's export follows the active copy
    assert read(api.server, second, "c.txt") == "acknowledged before the promote\n"
    assert_read_only_over_nfs(api.server, first)  # the old active: read-only over NFS...
    assert local_write_refused(first)  # ...and at the ZFS level (Manila's bug: it stayed writable)
    write(api.server, second, "d.txt", "written on the new active\n")
    assert read(api.server, second, "d.txt") == "written on the new active\n"

    # Fail back: the old active receives only what changed; its dataset stays the same one.
    old_dataset = f"{replica_server.roots[0]}/share-{share['id']}"
    guid = zfs_get(old_dataset, "guid")
    api.promote(active_id)
    assert zfs_get(old_dataset, "guid") == guid
    assert api.mountpoint(share["id"]) == first
    assert read(api.server, first, "d.txt") == "written on the new active\n"
    write(api.server, first, "e.txt", "back on the first copy\n")
    assert_read_only_over_nfs(api.server, second)
    assert local_write_refused(second)

    api.remove_replicated(share["id"])
    assert leftovers(replica_server.roots) == before
