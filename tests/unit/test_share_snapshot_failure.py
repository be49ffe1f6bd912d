"""A share snapshot whose backend work fails ends in `error` with a user message
that says why (Manila's snapshot view has no status reason). The backend is a
stand-in that refuses, as a ZFS that died would; the real-ZFS side is the chaos
run's invariant (an errored row must say why)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from shoal.db import models
from shoal.drivers.base import DriverError
from shoal.services.common.context import RequestContext
from tests.fixtures.services import services_with_share

PROJECT = uuid.uuid4().hex
CALLER = RequestContext("someone", PROJECT, ("member", "reader"))


class RefusingDriver:
    availability_zone = "nova"

    def create_snapshot(self, ref):
        raise DriverError("cannot open 'pool/share': dataset does not exist")


@pytest.fixture
def services_and_share(tmp_path):
    with services_with_share(tmp_path, RefusingDriver(), PROJECT, "someone") as pair:
        yield pair


def test_a_refused_snapshot_is_error_with_a_user_message(services_and_share):
    services, share_id = services_and_share
    snap = services.snapshots.create(CALLER, share_id)
    assert services.core.tasks.wait_idle(10)
    with services.core.db.session() as session:
        row = session.get(models.ShareSnapshot, snap.id)
        assert row.status == "error" and "dataset does not exist" in row.status_reason
        messages = list(session.scalars(select(models.Message).where(models.Message.resource_id == snap.id)))
    assert [(m.resource_type, m.project_id) for m in messages] == [("SHARE_SNAPSHOT", PROJECT)]
    assert "snapshot failed" in messages[0].user_message
