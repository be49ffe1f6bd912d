"""A create whose backend work started before its transaction committed: when
the commit fails, the work is removed again and no row is left.

The backend here is a recording stand-in: the case under test is a failing
database commit, which no real backend can bring about; the real-ZFS side of
starting early is covered by the integration and end-to-end tests.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoal.db import models
from shoal.drivers.base import SnapshotResult
from shoal.services import Services
from shoal.services.common.context import RequestContext
from tests.fixtures.services import services_with_share

PROJECT = uuid.uuid4().hex
CALLER = RequestContext("someone", PROJECT, ("member", "reader"))


class RecordingDriver:
    availability_zone = "nova"

    def __init__(self):
        self.calls: list[tuple] = []

    def create_snapshot(self, ref):
        self.calls.append(("create", ref.id))
        return SnapshotResult(f"pool/share@snap-{ref.id}", ref.share.size_gb)

    def delete_snapshot(self, ref):
        self.calls.append(("delete", ref.id, ref.provider_location))


@pytest.fixture
def setup(tmp_path):
    driver = RecordingDriver()
    with services_with_share(tmp_path, driver, PROJECT, "someone") as (services, share_id):
        yield services, driver, share_id


def snapshot_rows(services: Services) -> list[tuple[str, str]]:
    with services.core.db.session() as session:
        return [(s.id, s.status) for s in session.scalars(select(models.ShareSnapshot))]


def test_a_committed_snapshot_is_recorded(setup):
    services, driver, share_id = setup
    snap = services.snapshots.create(CALLER, share_id)
    assert services.core.tasks.wait_idle(10)
    assert driver.calls == [("create", snap.id)]
    assert snapshot_rows(services) == [(snap.id, "available")]


def test_a_snapshot_whose_transaction_fails_is_removed_again(setup, monkeypatch):
    services, driver, share_id = setup

    def commit_fails(self):
        raise RuntimeError("the database refused the commit")

    monkeypatch.setattr(Session, "commit", commit_fails)
    with pytest.raises(RuntimeError, match="refused the commit"):
        services.snapshots.create(CALLER, share_id)
    monkeypatch.undo()
    assert services.core.tasks.wait_idle(10)
    [made, removed] = driver.calls
    assert made[0] == "create" and removed == ("delete", made[1], f"pool/share@snap-{made[1]}")
    assert snapshot_rows(services) == []
    with services.core.db.session() as session:
        assert session.scalar(select(func.count()).select_from(models.ShareSnapshot)) == 0
