"""After the file systems under a backend's exports were mounted anew (zfs-fuse
came back), every export of that backend is made anew in one recovery pass:
the steady shares' (ensure_shares), a secondary replica's (export_replica) and
a migrating share's (migration_freeze while frozen, ensure_shares while
writable), and only then is the backend told its exports are renewed -- so a
crash or a failure before that leaves the next pass to do it all again.

The backend is a stand-in that records what it is asked (the services' side
of the remount). The driver's side (RemountWatch; export_replica dropping
the export before making it again when `fresh`) is in test_zfs_remounts.py,
and ganesha's `fresh` pass in the chaos run's zfs-fuse kills."""

from __future__ import annotations

import uuid

import pytest

from shoal.db import models
from shoal.db.replicas import ShareReplica
from shoal.db.share_migrations import ShareMigration
from shoal.drivers.base import DriverError, ShareResult
from tests.fixtures.services import services_with_share

PROJECT = uuid.uuid4().hex


class RecordingDriver:
    """Answers what recovery asks and notes it, in order, with `fresh`."""

    availability_zone = "nova"
    replication_domain = "d"

    def __init__(self):
        self.stale = False
        self.calls: list[tuple] = []
        self.fail_replicas = False

    def exports_stale(self) -> bool:
        return self.stale

    def exports_renewed(self) -> None:
        self.calls.append(("renewed",))
        self.stale = False

    def ensure_shares(self, shares, fresh=False):
        self.calls.append(("ensure_shares", tuple(sorted(ref.id for ref, _ in shares)), fresh))
        return {}

    def export_replica(self, replica, rules, writable, fresh=False):
        if self.fail_replicas:
            raise DriverError("no route to the replica's host")
        self.calls.append(("export_replica", replica.id, writable, fresh))
        return ShareResult(replica.provider_location, [], replica.size_gb)

    def migration_freeze(self, share, rules, frozen, fresh=False):
        self.calls.append(("migration_freeze", share.id, frozen, fresh))


@pytest.fixture
def world(tmp_path):
    """A steady share with a secondary replica, a frozen migrating share and a
    writable migrating share, all on backend "b"."""
    driver = RecordingDriver()
    with services_with_share(tmp_path, driver, PROJECT, "someone") as (services, share_id):
        with services.core.db.session() as session:
            share = session.get(models.Share, share_id)
            share.provider_location = f"pool/shoal/share-{share_id}"
            secondary = ShareReplica(share_id=share_id, backend="b", pool="pool2", status="available",
                                     replica_state="in_sync", provider_location="pool2/shoal/share-r")
            session.add(ShareReplica(share_id=share_id, backend="b", pool="pool", status="available",
                                     replica_state="active", provider_location=share.provider_location))
            session.add(secondary)
            migrating = {}
            for writable in (False, True):
                moving = models.Share(project_id=PROJECT, user_id="someone", size=1, status="migrating",
                                      share_type_id=share.share_type_id, backend="b", pool="pool",
                                      provider_location=f"pool/shoal/moving-{writable}")
                session.add(moving)
                session.flush()
                session.add(ShareMigration(share_id=moving.id, dest_key=str(uuid.uuid4()), backend="b", pool="pool2",
                                           writable=writable, old_backend="b"))
                migrating[writable] = moving.id
            session.flush()
            ids = {"share": share_id, "replica": secondary.id, "frozen": migrating[False],
                   "writable": migrating[True]}
        yield services, driver, ids


def test_a_remount_makes_every_export_anew_then_says_so(world):
    services, driver, ids = world
    driver.stale = True
    services.recovery.ensure_exports()
    assert driver.calls == [
        ("ensure_shares", (ids["share"],), True),
        ("export_replica", ids["replica"], False, True),
        ("migration_freeze", ids["frozen"], True, True),
        ("ensure_shares", (ids["writable"],), True),
        ("renewed",),
    ]

    # The next pass (the mounts unchanged) only checks.
    driver.calls.clear()
    services.recovery.ensure_exports("b")
    assert ("renewed",) not in driver.calls
    assert {call[-1] for call in driver.calls} == {False}, driver.calls


def test_without_a_remount_nothing_is_made_anew(world):
    services, driver, ids = world
    services.recovery.ensure_exports()
    assert ("export_replica", ids["replica"], False, False) in driver.calls
    assert ("migration_freeze", ids["frozen"], True, False) in driver.calls
    assert ("renewed",) not in driver.calls


def test_an_exporter_that_fails_as_a_whole_leaves_the_backend_stale(world, monkeypatch):
    services, driver, ids = world
    driver.stale = True

    def broken(backend=None, stale=frozenset()):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(services.recovery, "exporters", [broken, *services.recovery.exporters])
    services.recovery.ensure_exports()
    assert ("renewed",) not in driver.calls  # the next pass makes everything anew again
    assert ("migration_freeze", ids["frozen"], True, True) in driver.calls  # the others still ran
    assert driver.stale


def test_a_replica_that_cannot_be_exported_is_out_of_sync_and_the_rest_renewed(world):
    services, driver, ids = world
    driver.stale, driver.fail_replicas = True, True
    services.recovery.ensure_exports()
    assert driver.calls[-1] == ("renewed",)
    with services.core.db.session() as session:
        replica = session.get(ShareReplica, ids["replica"])
        assert replica.replica_state == "out_of_sync" and "no route" in replica.status_reason
