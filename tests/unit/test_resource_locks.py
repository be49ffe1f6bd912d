"""Who may change, drop or see past a resource lock (Manila's policy and its
_check_allow_lock_manipulation), on the service with a real database: members
and readers of a project, another user of it, administrators."""

from __future__ import annotations

import pytest

from shoal.config import Settings
from shoal.db import models
from shoal.db.migrate import upgrade
from shoal.db.session import Database
from shoal.services.common.context import RequestContext
from shoal.services.common.core import Core
from shoal.services.common.errors import Forbidden, Invalid, NotFound
from shoal.services.common.tasks import TaskRunner
from shoal.services.share.locks import ResourceLocks

PROJECT = "a" * 32
ALICE = RequestContext(user_id="alice", project_id=PROJECT, roles=("member", "reader"))
BOB = RequestContext(user_id="bob", project_id=PROJECT, roles=("member", "reader"))
ADMIN = RequestContext(user_id="admin", project_id="b" * 32, roles=("admin", "member", "reader"),
                       cross_project=True)
STRANGER = RequestContext(user_id="eve", project_id="c" * 32, roles=("member", "reader"))


@pytest.fixture
def locks(tmp_path):
    url = f"sqlite:///{tmp_path}/locks.db"
    upgrade(url)
    runner = TaskRunner(1)
    core = Core(settings=Settings.model_validate({"database": {"url": url}}), db=Database(url), drivers={},
                tasks=runner)
    yield ResourceLocks(core)
    runner.shutdown()


@pytest.fixture
def rule(locks):
    """A share of PROJECT with one active access rule."""
    with locks.core.db.session() as session:
        share = models.Share(project_id=PROJECT, user_id="alice", size=1, status="available", metadata_={})
        session.add(share)
        session.flush()
        rule = models.AccessRule(share_id=share.id, access_type="ip", access_to="10.0.0.1", access_level="rw",
                                 state="active", metadata_={})
        session.add(rule)
        session.flush()
        return rule


def test_a_users_lock_is_theirs_and_the_administrators(locks, rule):
    mine = locks.create(ALICE, {"resource_id": rule.share_id, "resource_type": "share"})
    assert mine.lock_context == "user" and mine.user_id == "alice"
    with pytest.raises(Forbidden):
        locks.update(BOB, mine.id, {"lock_reason": "I shouldn't be able to do this"})
    with pytest.raises(Forbidden):
        locks.delete(BOB, mine.id)
    with pytest.raises(NotFound):  # another project's lock is not found
        locks.get(STRANGER, mine.id)
    assert locks.update(ALICE, mine.id, {"lock_reason": "mine"}).lock_reason == "mine"
    locks.delete(ADMIN, mine.id)
    admins = locks.create(ADMIN, {"resource_id": rule.share_id, "resource_type": "share"})
    assert admins.lock_context == "admin"
    with pytest.raises(NotFound):  # in the administrator's project, not Alice's
        locks.delete(ALICE, admins.id)
    with pytest.raises(Invalid):  # Alice cannot see into another project's shares
        locks.create(STRANGER, {"resource_id": rule.share_id, "resource_type": "share"})


def test_a_visibility_lock_hides_the_rule_from_all_but_its_owner_and_administrators(locks, rule):
    locks.lock_rule(ALICE, rule, True, True, "locked for testing")
    assert locks.restricted(ALICE, [rule.id]) == set()
    assert locks.restricted(ADMIN, [rule.id]) == set()
    assert locks.restricted(BOB, [rule.id]) == {rule.id}
    with pytest.raises(Forbidden):  # denied without unrestrict: nobody
        locks.before_deny(ALICE, rule.share_id, rule.id, False)
    with pytest.raises(Forbidden, match="not placed by you"):
        locks.before_deny(BOB, rule.share_id, rule.id, True)
    locks.before_deny(ALICE, rule.share_id, rule.id, True)
    assert len(locks.list(ALICE, {"resource_id": rule.share_id})[0]) == 1  # the share lock that came along
    locks.forget_rule(rule.id)
    assert locks.list(ALICE, {})[0] == []


def test_listing_other_projects(locks, rule):
    locks.create(ALICE, {"resource_id": rule.share_id, "resource_type": "share"})
    assert len(locks.list(ADMIN, {"all_projects": "1"})[0]) == 1
    assert locks.list(ADMIN, {})[0] == []  # an administrator's own project by default
    assert locks.list(STRANGER, {"all_projects": "1"})[0] == []  # dropped for others, as Manila's
    with pytest.raises(Forbidden):
        locks.list(STRANGER, {"project_id": PROJECT})
