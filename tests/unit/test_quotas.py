"""Quota arithmetic and the quota service on a real SQLite database (no backend needed):
limit layering, over-quota detection, value parsing, the policy rules for non-admins,
usage counting (errors count, pending extends count at their new size) and the
per-project serialization that keeps usage exact under concurrency."""

from __future__ import annotations

import threading
import uuid

import pytest

from shoal.config import Settings
from shoal.db import models
from shoal.db.migrate import upgrade
from shoal.db.session import Database
from shoal.services.common import quotas as q
from shoal.services.common.context import RequestContext
from shoal.services.common.core import Core
from shoal.services.common.errors import Forbidden, Invalid, OverQuota
from shoal.services.common.tasks import TaskRunner

ADMIN = RequestContext("admin", "admin-project", ("admin", "member", "reader"))


# ---- pure arithmetic -----------------------------------------------------------------------------

def test_layers_later_wins():
    assert q.layered({"volumes": -1, "gigabytes": 5}, {"volumes": 10}, {"gigabytes": 7}) == {"volumes": 10,
                                                                                          "gigabytes": 7}


@pytest.mark.parametrize("limits, used, deltas, expected", [
    ({"volumes": 10}, {"volumes": 9}, {"volumes": 1}, []),              # exactly at the limit is fine
    ({"volumes": 10}, {"volumes": 10}, {"volumes": 1}, ["volumes"]),
    ({"volumes": -1}, {"volumes": 10**6}, {"volumes": 1}, []),          # -1: unlimited
    ({"volumes": 0}, {}, {"volumes": 1}, ["volumes"]),                  # 0: nothing allowed
    ({"volumes": 0}, {"volumes": 5}, {"volumes": 0}, []),               # no delta, no check
    ({"gigabytes": 10, "volumes": 1}, {"gigabytes": 8, "volumes": 1}, {"gigabytes": 3, "volumes": 1},
     ["gigabytes", "volumes"]),                                         # sorted, as upstream reports them
    ({"gigabytes": 10}, {"gigabytes": 12}, {"gigabytes": -2}, []),      # shrinking never fails
])
def test_overs(limits, used, deltas, expected):
    assert q.overs(limits, used, deltas) == expected


@pytest.mark.parametrize("value, expected", [(0, 0), (-1, -1), (10, 10), ("25", 25), (" 3 ", 3), (4.0, 4)])
def test_parse_limit_accepts(value, expected):
    assert q.parse_limit("volumes", value) == expected


@pytest.mark.parametrize("value", [-2, "-5", 1.5, "abc", "", None, True, [1], {"a": 1}, 2**31])
def test_parse_limit_refuses(value):
    with pytest.raises(Invalid) as err:
        q.parse_limit("volumes", value)
    assert "volumes" in str(err.value)


def test_too_low():
    assert q.too_low({"volumes": 2, "gigabytes": -1, "snapshots": 5}, {"volumes": 3, "gigabytes": 99,
                                                                       "snapshots": 5}) == [("volumes", 2, 3)]


# ---- the service on a real database ---------------------------------------------------------------

@pytest.fixture
def core(tmp_path):
    url = f"sqlite:///{tmp_path}/quota.db"
    upgrade(url)
    settings = Settings.model_validate({"database": {"url": url}, "api": {"auth": "noauth"},  # no projects to know
                                        "quotas": {"volume": {"volumes": 3}, "share": {"shares": 4}}})
    runner = TaskRunner(1)
    yield Core(settings=settings, db=Database(url), drivers={}, tasks=runner)
    runner.shutdown()


def add_volume(core, project: str, size: int = 1, status: str = "available", type_id: str | None = None, **extra):
    with core.db.session() as session:
        volume = models.Volume(project_id=project, user_id="u", size=size, status=status, volume_type_id=type_id,
                               metadata_={}, **extra)
        session.add(volume)
        session.flush()
        return volume.id


def test_defaults_come_from_config_then_the_default_class_then_the_project(core):
    quotas, project = q.Quotas(core), uuid.uuid4().hex
    assert quotas.volume_set(ADMIN, project)["volumes"] == 3
    assert quotas.volume_set(ADMIN, project)["gigabytes"] == -1
    quotas.update_volume_class(ADMIN, "default", {"volumes": 5, "no_such_key": 1})  # unknown: ignored
    assert quotas.volume_defaults(ADMIN, project)["volumes"] == 5
    assert quotas.volume_set(ADMIN, project)["volumes"] == 5
    quotas.update_volume_set(ADMIN, project, {"volumes": 7, "tenant_id": project})
    assert quotas.volume_set(ADMIN, project)["volumes"] == 7
    assert quotas.volume_set(ADMIN, uuid.uuid4().hex)["volumes"] == 5  # other projects: the class
    quotas.delete_volume_set(ADMIN, project)
    assert quotas.volume_set(ADMIN, project)["volumes"] == 5
    # The share service keeps its own gigabytes/snapshots.
    assert quotas.share_set(ADMIN, project)["shares"] == 4


def test_usage_counts_errors_snapshots_and_pending_extends(core):
    quotas, project = q.Quotas(core), uuid.uuid4().hex
    add_volume(core, project, 2)
    vid = add_volume(core, project, 3, status="error")  # counts until deleted, as upstream
    add_volume(core, project, 4, status="extending", task="extend", task_arg="10:available")
    with core.db.session() as session:
        session.add(models.VolumeSnapshot(volume_id=vid, project_id=project, user_id="u", size=3, status="error",
                                          metadata_={}))
    used = quotas.volume_set(ADMIN, project, usage=True)
    assert used["volumes"] == {"limit": 3, "in_use": 3, "reserved": 0, "allocated": 0}
    assert used["snapshots"]["in_use"] == 1
    assert used["gigabytes"]["in_use"] == 2 + 3 + 10 + 3  # the extend holds its new size
    limits, counted = quotas.volume_limits(RequestContext("u", project, ("member",)))
    assert counted["volumes"] == 3 and counted["gigabytes"] == 18 and limits["volumes"] == 3


def test_over_quota_messages_are_cinders(core):
    project = uuid.uuid4().hex
    quotas = q.Quotas(core)
    quotas.update_volume_set(ADMIN, project, {"gigabytes": 10, "per_volume_gigabytes": 8})
    for _ in range(3):
        add_volume(core, project, 1)
    with core.db.session() as session, pytest.raises(OverQuota) as err:
        q.check_volume(core, session, project, None, volumes=1, gigabytes=1, size=1)
    assert str(err.value) == "Maximum number of volumes allowed (3) exceeded for quota 'volumes'."
    with core.db.session() as session, pytest.raises(OverQuota) as err:
        q.check_volume(core, session, project, None, gigabytes=8, size=9)
    assert str(err.value) == "Requested volume size 9G is larger than maximum allowed limit 8G."
    with core.db.session() as session, pytest.raises(OverQuota) as err:
        q.check_volume(core, session, project, None, gigabytes=8, size=8)
    assert str(err.value) == ("Requested volume or snapshot exceeds allowed gigabytes quota. Requested 8G, "
                              "quota is 10G and 3G has been consumed.")


def test_per_type_quota(core):
    project, quotas = uuid.uuid4().hex, q.Quotas(core)
    with core.db.session() as session:
        vtype = models.VolumeType(name="fast", extra_specs={})
        session.add(vtype)
        session.flush()
        type_id = vtype.id
    quotas.update_volume_set(ADMIN, project, {"volumes_fast": 1})
    assert quotas.volume_set(ADMIN, project)["volumes_fast"] == 1
    assert quotas.volume_set(ADMIN, project)["gigabytes_fast"] == -1
    add_volume(core, project, 1, type_id=type_id)
    add_volume(core, project, 1)  # untyped: not counted against "fast"
    with core.db.session() as session, pytest.raises(OverQuota) as err:
        q.check_volume(core, session, project, type_id, volumes=1, gigabytes=1)
    assert "quota 'volumes_fast'" in str(err.value)
    with pytest.raises(Invalid, match="Bad key"):
        quotas.update_volume_set(ADMIN, project, {"volumes_nosuchtype": 1})


def test_bad_values_and_limits_below_usage_change_nothing(core):
    project, quotas = uuid.uuid4().hex, q.Quotas(core)
    add_volume(core, project)
    add_volume(core, project)
    before = quotas.volume_set(ADMIN, project)
    with pytest.raises(Invalid, match="-1 .unlimited. or greater"):
        quotas.update_volume_set(ADMIN, project, {"snapshots": 4, "volumes": -2})
    with pytest.raises(Invalid, match="Current usage is 2 and the requested limit is 1"):
        quotas.update_volume_set(ADMIN, project, {"snapshots": 4, "volumes": 1})
    with pytest.raises(Invalid, match="Bad key"):
        quotas.update_volume_set(ADMIN, project, {"snapshots": 4, "cores": 1})
    assert quotas.volume_set(ADMIN, project) == before
    quotas.update_volume_set(ADMIN, project, {"volumes": 1}, skip_validation=True)  # explicit override
    assert quotas.volume_set(ADMIN, project)["volumes"] == 1


def test_share_limit_below_usage_needs_force_and_user_quota_stays_within_project(core):
    project, quotas = uuid.uuid4().hex, q.Quotas(core)
    keys = q.SHARE_RESOURCES
    with core.db.session() as session:
        stype = models.ShareType(name=f"t-{project[:6]}", extra_specs={})
        session.add(stype)
        session.flush()
        for _ in range(2):
            session.add(models.Share(project_id=project, user_id="alice", size=5, status="error",
                                     share_type_id=stype.id, metadata_={}))
    with pytest.raises(Invalid, match="smaller than already used"):
        quotas.update_share_set(ADMIN, project, {"shares": 1}, keys)
    assert quotas.update_share_set(ADMIN, project, {"shares": 1}, keys, force=True)["shares"] == 1
    quotas.update_share_set(ADMIN, project, {"shares": 10, "gigabytes": 100}, keys)
    with pytest.raises(Invalid, match="project's limit 10"):
        quotas.update_share_set(ADMIN, project, {"shares": 11}, keys, user_id="bob")
    quotas.update_share_set(ADMIN, project, {"shares": 1}, keys, user_id="bob")
    assert quotas.share_set(ADMIN, project, user_id="bob")["shares"] == 1
    assert quotas.share_set(ADMIN, project, user_id="alice", usage=True)["shares"]["in_use"] == 2
    # bob has his own limit of 1 and no shares yet: one more passes, alice (no user quota) too.
    with core.db.session() as session:
        q.check_share(core, session, project, "bob", stype.id, shares=1, gigabytes=1, size=1)
    with core.db.session() as session:
        session.add(models.Share(project_id=project, user_id="bob", size=1, status="available",
                                 share_type_id=stype.id, metadata_={}))
    with core.db.session() as session, pytest.raises(OverQuota, match=r"shares allowed \(1\)"):
        q.check_share(core, session, project, "bob", stype.id, shares=1, gigabytes=1, size=1)
    # A share type's quota defaults to the project's, and may be lower.
    assert quotas.share_set(ADMIN, project, share_type=stype.name)["shares"] == 10
    with pytest.raises(Invalid, match="share_networks"):
        quotas.update_share_set(ADMIN, project, {"share_networks": 1}, keys, share_type=stype.name)
    quotas.update_share_set(ADMIN, project, {"gigabytes": 12}, keys, share_type=stype.id, force=True)
    with core.db.session() as session:  # 11 of the type's 12 GiB are used
        q.check_share(core, session, project, "alice", stype.id, shares=1, gigabytes=1, size=1)
    with core.db.session() as session, pytest.raises(OverQuota, match="gigabytes quota"):
        q.check_share(core, session, project, "alice", stype.id, shares=1, gigabytes=2, size=2)
    with pytest.raises(Invalid, match="mutually exclusive"):
        quotas.share_set(ADMIN, project, user_id="bob", share_type=stype.id)


def test_non_admins_read_only_their_own_project(core):
    quotas, mine = q.Quotas(core), uuid.uuid4().hex
    member = RequestContext("u", mine, ("member", "reader"))
    assert quotas.volume_set(member, mine)["volumes"] == 3
    assert quotas.share_set(member, mine, usage=True)["shares"]["limit"] == 4
    assert quotas.volume_defaults(member, mine)["volumes"] == 3
    for call in (lambda: quotas.volume_set(member, "someone-else"),
                 lambda: quotas.share_set(member, "someone-else"),
                 lambda: quotas.share_defaults(member, "someone-else"),
                 lambda: quotas.update_volume_set(member, mine, {"volumes": 100}),
                 lambda: quotas.delete_volume_set(member, mine),
                 lambda: quotas.update_volume_class(member, "default", {"volumes": 100}),
                 lambda: quotas.volume_class(member, "default"),
                 lambda: quotas.update_share_set(member, mine, {"shares": 100}, q.SHARE_RESOURCES),
                 lambda: quotas.delete_share_set(member, mine),
                 lambda: quotas.update_share_class(member, "default", {"shares": 100}, q.SHARE_RESOURCES)):
        with pytest.raises(Forbidden):
            call()
    assert quotas.volume_set(ADMIN, mine)["volumes"] == 3 and quotas.share_set(ADMIN, mine)["shares"] == 4


def test_a_failed_transaction_gives_everything_back(core):
    """The check locks the project; a create that fails after it rolls back and unlocks."""
    project = uuid.uuid4().hex
    with pytest.raises(RuntimeError):
        with core.db.session() as session:
            q.check_volume(core, session, project, None, volumes=3, gigabytes=1)
            session.add(models.Volume(project_id=project, user_id="u", size=1, status="creating", metadata_={}))
            session.flush()
            raise RuntimeError("the create failed after its quota check")
    assert not q._project_lock(project).locked()
    with core.db.session() as session:  # the whole quota is still there
        q.check_volume(core, session, project, None, volumes=3, gigabytes=1)
    assert not q._project_lock(project).locked()


def parallel_creates(core, project: str, count: int = 30) -> list[str]:
    """`count` threads each check the quota and insert a volume in one transaction."""
    results, start = [], threading.Barrier(count)

    def create():
        start.wait()
        try:
            with core.db.session() as session:
                q.check_volume(core, session, project, None, volumes=1, gigabytes=1, size=1)
                session.add(models.Volume(project_id=project, user_id="u", size=1, status="creating",
                                          metadata_={}))
            results.append("ok")
        except OverQuota:
            results.append("over")

    threads = [threading.Thread(target=create) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)


def test_parallel_creates_never_exceed_the_quota(core):
    project = uuid.uuid4().hex
    assert parallel_creates(core, project) == ["ok"] * 3 + ["over"] * 27
    assert q.Quotas(core).volume_set(ADMIN, project, usage=True)["volumes"]["in_use"] == 3


def test_the_database_lock_alone_keeps_usage_exact(core, monkeypatch):
    """As if every request came from another Shoal process: no shared in-process lock."""
    monkeypatch.setattr(q, "_project_lock", lambda project_id: threading.Lock())
    project = uuid.uuid4().hex
    assert parallel_creates(core, project) == ["ok"] * 3 + ["over"] * 27


def test_config_quotas_section():
    settings = Settings.model_validate({"quotas": {"volume": {"volumes": 10, "gigabytes": 1000},
                                                   "share": {"shares": 50}}})
    assert settings.quotas.volume.volumes == 10 and settings.quotas.volume.snapshots == -1
    assert settings.quotas.share.shares == 50 and settings.quotas.share.gigabytes == -1
    assert Settings().quotas.volume.volumes == -1  # unlimited unless configured
    for bad in ({"volume": {"volumez": 1}}, {"volume": {"volumes": -2}}, {"shares": 1}):
        with pytest.raises(ValueError):
            Settings.model_validate({"quotas": bad})
