"""A share moves from one zpool to another (Manila's two-phase migration,
driver-assisted: zfs send | zfs receive). Written over NFS before and during
the first phase, it is read back -- the same bytes -- at its new export
location after migration_complete; the old copy, the migration's points and
its export are gone. A cancelled migration (after the first phase, and while
it copies) leaves the source exactly as it was and nothing on the destination.
Bad input is refused with Manila's codes and changes nothing."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.replication import replica_server, second_zpool  # noqa: F401 - fixtures

from .share_helpers import assert_nfs_writable, fault, nfs_read, nfs_write, wait_gone, wait_until, zfs_exists
from .share_migration_helpers import (  # noqa: F401 - migration_api is a fixture
    PHASE1_DONE, destination_host, leftovers, migration_api, migration_points,
)

pytestmark = pytest.mark.integration


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def written_share(api, name: str, mib: int = 32) -> tuple[dict, str, str]:
    """A share with a rw rule for 127.0.0.1, a file written over NFS and `mib` MiB of random data."""
    share = api.create_share(name=name)
    api.allow(share["id"])
    path = api.mountpoint(share["id"])
    res = nfs_write(api.server, path, "hello.txt", "written over NFS before the move\n")
    assert res.returncode == 0, res.stderr
    subprocess.run(["dd", "if=/dev/urandom", f"of={Path(path) / 'big.bin'}", "bs=1M", f"count={mib}",
                    "status=none"], check=True, timeout=300)
    return share, path, sha256(Path(path) / "big.bin")


def test_migrate_a_written_share_to_another_pool(migration_api, replica_server):
    api = migration_api
    before = leftovers(replica_server.roots)
    share, old_path, digest = written_share(api, "moving")
    dataset = f"{replica_server.roots[0]}/share-{share['id']}"
    assert zfs_exists(dataset)

    api.start(share["id"], destination_host(replica_server))
    moving = api.share(share["id"])
    assert moving["status"] == "migrating", moving
    done = api.wait_task_state(share["id"], PHASE1_DONE)
    assert done["status"] == "migrating" and done["host"].endswith(f"#{replica_server.pools[0]}"), done
    progress = api.progress(share["id"])
    assert progress["total_progress"] == 100 and progress["task_state"] == PHASE1_DONE, progress
    assert progress["details"]["bytes_sent"] >= 0, progress

    # The first phase left the share in use: a write now lands on the source and
    # reaches the destination with the last incremental.
    res = nfs_write(api.server, old_path, "late.txt", "written during the first phase\n")
    assert res.returncode == 0, res.stderr

    moved = api.complete(share["id"])
    assert moved["host"] == destination_host(replica_server), moved
    new_path = api.mountpoint(share["id"])
    assert new_path != old_path and new_path.startswith(f"/{replica_server.roots[1]}/"), new_path
    assert nfs_read(api.server, new_path, "hello.txt").stdout == "written over NFS before the move\n"
    assert nfs_read(api.server, new_path, "late.txt").stdout == "written during the first phase\n"
    assert sha256(Path(new_path) / "big.bin") == digest
    assert_nfs_writable(api.server, new_path, "after.txt")  # the rules hold on the destination, writable
    assert not zfs_exists(dataset), "the source was not removed"
    assert not migration_points(replica_server.roots)
    assert api.progress(share["id"])["task_state"] == "migration_success"

    api.delete_share(share["id"])
    assert leftovers(replica_server.roots) == before


@pytest.mark.parametrize("when", ["after the first phase", "while copying"])
def test_cancel_leaves_the_source_as_it_was(migration_api, replica_server, when):
    api = migration_api
    before = leftovers(replica_server.roots)
    share, path, digest = written_share(api, "staying", mib=96 if when == "while copying" else 8)
    locations = api.client.get(f"/shares/{share['id']}/export_locations").json()["export_locations"]

    api.start(share["id"], destination_host(replica_server))
    if when == "after the first phase":
        api.wait_task_state(share["id"], PHASE1_DONE)
    else:
        api.wait_task_state(share["id"], ("migration_driver_in_progress", PHASE1_DONE))
    resp = api.migration(share["id"], "migration_cancel")
    assert resp.status_code == 202, resp.text
    ended = api.wait_task_state(share["id"], "migration_cancelled")
    assert ended["status"] == "available" and ended["host"].endswith(f"#{replica_server.pools[0]}"), ended

    assert api.client.get(f"/shares/{share['id']}/export_locations").json()["export_locations"] == locations
    assert sha256(Path(path) / "big.bin") == digest
    assert nfs_read(api.server, path, "hello.txt").stdout == "written over NFS before the move\n"
    assert_nfs_writable(api.server, path, "after-cancel.txt")
    assert leftovers(replica_server.roots) - before == {f"{replica_server.roots[0]}/share-{share['id']}"}
    assert not migration_points(replica_server.roots)
    fault(api.migration(share["id"], "migration_cancel"), 400)  # nothing left to cancel

    api.delete_share(share["id"])
    assert leftovers(replica_server.roots) == before


def test_bad_migration_requests_change_nothing(migration_api, replica_server):
    api = migration_api
    share = api.create_share(name="not-moving")
    sid, host = share["id"], destination_host(replica_server)
    assert api.migration(sid, "migration_start", {"host": host}, experimental=False).status_code == 404
    fault(api.migration(sid, "migration_start", {"host": host}), 400)  # the four flags are required
    fault(api.start(sid, host, expect=400, writable="perhaps"), 400)
    fault(api.start(sid, host, expect=400, force_host_assisted_migration=True), 400)
    fault(api.start(sid, host, expect=400, nondisruptive=True), 400)
    fault(api.start(sid, host, expect=400, preserve_snapshots=True), 400)
    fault(api.start(sid, host, expect=400, new_share_type_id="no-such-type"), 400)
    fault(api.start(sid, host, expect=400, new_share_network_id="no-such-network"), 400)
    fault(api.start(sid, "shoal@nowhere#pool", expect=404), 404)
    fault(api.start(sid, "shoal@test#nosuchpool", expect=400), 400)
    fault(api.start("0" * 8 + "-0000-0000-0000-" + "0" * 12, host, expect=404), 404)
    assert api.start(sid, share["host"], expect=200).status_code == 200  # where it is: nothing to do
    fault(api.migration(sid, "migration_complete"), 400)
    fault(api.migration(sid, "migration_cancel"), 400)
    fault(api.migration(sid, "migration_get_progress"), 400)
    snap = api.create_snapshot(sid)
    fault(api.start(sid, host, expect=400), 400)  # its snapshots would not come along
    api.delete_snapshot(snap["id"])
    after = api.share(sid)
    assert after["status"] == "available" and after["task_state"] is None and after["host"] == share["host"], after
    api.delete_share(sid)


@pytest.mark.parametrize("when", ["after the first phase", "while copying"])
def test_force_delete_of_a_migrating_share_leaves_nothing(migration_api, replica_server, when):
    api = migration_api
    before = leftovers(replica_server.roots)
    share, _, _ = written_share(api, "deleted-midway", mib=96 if when == "while copying" else 8)
    api.start(share["id"], destination_host(replica_server))
    api.wait_task_state(share["id"], PHASE1_DONE if when == "after the first phase" else
                        ("migration_driver_in_progress", PHASE1_DONE))
    fault(api.client.delete(f"/shares/{share['id']}"), 403)  # migrating: only a force-delete
    resp = api.action(share["id"], "force_delete")
    assert resp.status_code == 202, resp.text
    wait_gone(api.client, f"/shares/{share['id']}", timeout=120)
    wait_until(lambda: leftovers(replica_server.roots) == before, timeout=60,
               what="both copies and every migration point to be gone")
