"""Quota exactness on PostgreSQL (the database several Shoal processes share): parallel
creates against a quota, with and without the in-process lock (as if each came from
another process), leave exactly the quota's worth of rows."""

from __future__ import annotations

import threading
import uuid

import pytest

from shoal.config import Settings
from shoal.db.migrate import upgrade
from shoal.db.session import Database
from shoal.services import quotas as q
from shoal.services.core import Core
from shoal.services.tasks import TaskRunner
from tests.unit.test_quotas import ADMIN, parallel_creates

pytestmark = pytest.mark.integration


@pytest.fixture
def core(postgres_db):
    upgrade(postgres_db)
    settings = Settings.model_validate({"database": {"url": postgres_db}, "quotas": {"volume": {"volumes": 3}}})
    database, runner = Database(postgres_db), TaskRunner(1)
    yield Core(settings=settings, db=database, drivers={}, tasks=runner)
    runner.shutdown()
    database.engine.dispose()


def test_parallel_creates_never_exceed_the_quota(core):
    project = uuid.uuid4().hex
    assert parallel_creates(core, project) == ["ok"] * 3 + ["over"] * 27
    assert q.Quotas(core).volume_set(ADMIN, project, usage=True)["volumes"]["in_use"] == 3


def test_the_row_lock_alone_keeps_usage_exact(core, monkeypatch):
    monkeypatch.setattr(q, "_project_lock", lambda project_id: threading.Lock())
    project = uuid.uuid4().hex
    assert parallel_creates(core, project) == ["ok"] * 3 + ["over"] * 27
