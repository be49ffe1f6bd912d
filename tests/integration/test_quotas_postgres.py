"""Quota exactness on PostgreSQL (the database several Shoal processes share): parallel
creates against a quota, with and without the in-process lock (as if each came from
another process), leave exactly the quota's worth of rows."""

from __future__ import annotations

import pytest

from shoal.config import Settings
from shoal.db.migrate import upgrade
from shoal.db.session import Database
from shoal.services.common.core import Core
from shoal.services.common.tasks import TaskRunner

# The same scenarios as on SQLite, run here with this module's `core` (PostgreSQL).
from tests.unit.test_quotas import (  # noqa: F401 - collected here
    test_parallel_creates_never_exceed_the_quota,
    test_the_database_lock_alone_keeps_usage_exact,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def core(postgres_db):
    upgrade(postgres_db)
    settings = Settings.model_validate({"database": {"url": postgres_db}, "quotas": {"volume": {"volumes": 3}}})
    database, runner = Database(postgres_db), TaskRunner(1)
    yield Core(settings=settings, db=database, drivers={}, tasks=runner)
    runner.shutdown()
    database.engine.dispose()

