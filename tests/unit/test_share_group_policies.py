"""Who may do what with share group types' specs, group snapshots and export locations
(Manila's policies), on the services with a real database: members of a project,
another project, administrators. (Through HTTP every noauth caller is an
administrator, so the integration tests cannot show these.)"""

from __future__ import annotations

import pytest

from shoal.config import Settings
from shoal.db import models
from shoal.db.migrate import upgrade
from shoal.db.session import Database
from shoal.db.share_groups import ShareGroup, ShareGroupSnapshot
from shoal.services.common.context import RequestContext
from shoal.services.common.core import Core
from shoal.services.common.errors import Forbidden, NotFound
from shoal.services.common.tasks import TaskRunner
from shoal.services.common.types import share_types
from shoal.services.share.export_locations import ShareExportLocations
from shoal.services.share.group_snapshots import ShareGroupSnapshots
from shoal.services.share.group_types import ShareGroupTypes
from shoal.services.share.groups import ShareGroups

PROJECT = "a" * 32
ALICE = RequestContext(user_id="alice", project_id=PROJECT, roles=("member", "reader"))
STRANGER = RequestContext(user_id="eve", project_id="c" * 32, roles=("member", "reader"))
ADMIN = RequestContext(user_id="admin", project_id="b" * 32, roles=("admin", "member", "reader"),
                       cross_project=True)


@pytest.fixture
def core(tmp_path):
    url = f"sqlite:///{tmp_path}/policies.db"
    upgrade(url)
    runner = TaskRunner(1)
    yield Core(settings=Settings.model_validate({"database": {"url": url}}), db=Database(url), drivers={},
               tasks=runner)
    runner.shutdown()


def test_group_specs_are_for_administrators(core):
    types = share_types(core)
    types.bootstrap()
    group_types = ShareGroupTypes(core, types)
    default = types.get(ADMIN, "default")
    gtype = group_types.create(ADMIN, "gt", [default.id], {"key": "value"})
    assert group_types.specs(ADMIN, gtype.id) == {"key": "value"}
    with pytest.raises(Forbidden):
        group_types.specs(ALICE, gtype.id)
    assert group_types.get(ALICE, gtype.id).group_specs == {"key": "value"}  # the type itself is shown


def test_export_locations_of_another_projects_share_are_forbidden(core):
    with core.db.session() as session:
        private = models.Share(project_id=PROJECT, user_id="alice", size=1, status="available", metadata_={})
        public = models.Share(project_id=PROJECT, user_id="alice", size=1, status="available", metadata_={},
                              is_public=True)
        session.add_all([private, public])
    locations = ShareExportLocations(core)
    assert locations.share(ALICE, private.id).id == private.id
    assert locations.share(ADMIN, private.id).id == private.id
    assert locations.share(STRANGER, public.id).id == public.id
    with pytest.raises(Forbidden):
        locations.share(STRANGER, private.id)
    with pytest.raises(NotFound):
        locations.share(STRANGER, "no-such-share")


def test_group_snapshot_admin_actions(core):
    types = share_types(core)
    groups = ShareGroups(core, types, ShareGroupTypes(core, types))
    snapshots = groups.snapshots = ShareGroupSnapshots(core, groups, shares=None)
    with core.db.session() as session:
        group = ShareGroup(project_id=PROJECT, user_id="alice", status="available", share_group_type_id="x",
                           share_type_ids=[])
        session.add(group)
        session.flush()
        snap = ShareGroupSnapshot(project_id=PROJECT, user_id="alice", share_group_id=group.id, status="available")
        session.add(snap)
    for action in (lambda ctx: snapshots.reset_status(ctx, snap.id, "error"),
                   lambda ctx: snapshots.force_delete(ctx, snap.id)):
        with pytest.raises(Forbidden):
            action(ALICE)
    with pytest.raises(NotFound):
        snapshots.get(STRANGER, snap.id)
    snapshots.reset_status(ADMIN, snap.id, "creating")
    assert snapshots.get(ALICE, snap.id).status == "creating"
