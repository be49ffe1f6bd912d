"""How a rule change reaches the sync: the request that finds the share's lock
free claims the change itself and hands the sync what it read; one that finds a
sync running leaves its change queued for that sync. The database is a migrated
SQLite file; the driver is a recording fake (the real ganesha path is proven in
tests/integration/test_share_access.py): here only the hand-over is at stake."""

from __future__ import annotations

import threading
import uuid

import pytest

from shoal.db import models
from shoal.services.common.context import RequestContext
from shoal.services.common.errors import Invalid
from shoal.services.share import rows as share_rows
from tests.fixtures.services import services_with_share

PROJECT = uuid.uuid4().hex
OWNER = RequestContext("owner", PROJECT, ("member", "reader"))


class RecordingDriver:
    """Records each update_access call's rule set; can hold a call until released."""

    def __init__(self):
        self.calls: list[set[str]] = []
        self.release = threading.Event()
        self.release.set()

    def update_access(self, share, rules):
        self.release.wait(10)
        self.calls.append({r.access_to for r in rules})
        return {}


@pytest.fixture
def setup(tmp_path):
    driver = RecordingDriver()
    with services_with_share(tmp_path, driver, PROJECT, "owner") as (services, share_id):
        yield services, driver, share_id


def states(services, share_id) -> dict[str, str]:
    return {r.access_to: r.state for r in services.access.list(OWNER, share_id)}


def test_a_request_with_the_lock_free_claims_its_rule_and_those_left_queued(setup):
    services, driver, share_id = setup
    # Left queued by a request that found a sync running (whose run has not come yet).
    with services.core.db.session() as session:
        session.add(models.AccessRule(share_id=share_id, access_type="ip", access_to="10.0.0.1",
                                      access_level="rw", state="queued_to_apply"))
    rule = services.access.allow(OWNER, share_id, "ip", "10.0.0.2", "rw")
    assert rule.state == "applying"  # claimed by the request itself
    assert services.core.tasks.wait_idle(10)
    assert driver.calls == [{"10.0.0.1", "10.0.0.2"}]  # one sync, both rules
    assert states(services, share_id) == {"10.0.0.1": "active", "10.0.0.2": "active"}


def test_a_request_that_finds_a_sync_running_leaves_its_change_to_it(setup):
    services, driver, share_id = setup
    services.access.allow(OWNER, share_id, "ip", "10.0.0.1", "rw")
    assert services.core.tasks.wait_idle(10)
    driver.release.clear()
    first = services.access.allow(OWNER, share_id, "ip", "10.0.0.2", "rw")  # its sync now waits in the driver
    second = services.access.allow(OWNER, share_id, "ip", "10.0.0.3", "rw")
    assert (first.state, second.state) == ("applying", "queued_to_apply")
    services.access.deny(OWNER, share_id, first.id)  # the sync running has it: queued to deny
    assert states(services, share_id)["10.0.0.2"] == "queued_to_deny"
    driver.release.set()
    assert services.core.tasks.wait_idle(10)
    assert driver.calls[-1] == {"10.0.0.1", "10.0.0.3"}
    assert states(services, share_id) == {"10.0.0.1": "active", "10.0.0.3": "active"}
    with services.core.db.connection() as db:
        assert share_rows.read_share_facts(db, share_id).access_rules_status == "active"


def test_a_refused_request_releases_the_lock(setup):
    services, driver, share_id = setup
    services.access.allow(OWNER, share_id, "ip", "10.0.0.1", "rw")
    assert services.core.tasks.wait_idle(10)
    with pytest.raises(Invalid, match="exists already"):
        services.access.allow(OWNER, share_id, "ip", "10.0.0.1", "ro")
    lock = services.core.tasks.try_key_lock(f"share:{share_id}")
    assert lock is not None
    lock.release()
