"""Who sees and uses private volume and share types: the rules in
shoal.services.common.types, called the way the APIs call them, with members of two
projects and an admin (the test server runs in noauth mode, where everyone is an
admin, so these rules are proven here). The database is a migrated SQLite file;
no backend is involved."""

from __future__ import annotations

import uuid

import pytest

from shoal.config import Settings
from shoal.db import models
from shoal.db.migrate import upgrade
from shoal.db.session import Database
from shoal.services import Services
from shoal.services.common.context import RequestContext
from shoal.services.common.errors import Conflict, Forbidden, Invalid, NotFound

ALICE_PROJECT, BOB_PROJECT = uuid.uuid4().hex, uuid.uuid4().hex
ALICE = RequestContext("alice", ALICE_PROJECT, ("member", "reader"))
BOB = RequestContext("bob", BOB_PROJECT, ("member", "reader"))
ADMIN = RequestContext("root", uuid.uuid4().hex, ("admin", "member", "reader"))


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('types')}/shoal.db"
    upgrade(url)
    database = Database(url)
    services = Services(Settings(), drivers={}, database=database)
    services.share_types.bootstrap()
    services.volume_types.bootstrap()
    yield services
    services.stop()
    database.engine.dispose()


@pytest.fixture(params=["volume", "share"])
def kind(request, services):
    """(catalog, extra specs a new type needs) for each of the two kinds."""
    if request.param == "volume":
        return services.volume_types, {}
    return services.share_types, {"driver_handles_share_servers": "False"}


def names(rows) -> set[str]:
    return {t.name for t in rows}


def test_a_private_type_is_seen_and_used_only_by_the_projects_on_its_list(kind):
    catalog, specs = kind
    tag = uuid.uuid4().hex[:6]
    private = catalog.create(ADMIN, f"private-{tag}", specs, is_public=False)
    public = catalog.create(ADMIN, f"public-{tag}", specs)
    assert private.is_public is False

    # Nobody but an admin knows it exists until a project is added.
    for member in (ALICE, BOB):
        assert public.name in names(catalog.list(member)) and private.name not in names(catalog.list(member))
        for ref in (private.id, private.name):
            with pytest.raises(NotFound, match="could not be found"):
                catalog.get(member, ref)
    assert catalog.get(ADMIN, private.id).id == private.id

    catalog.add_project(ADMIN, private.id, ALICE_PROJECT)
    assert private.name in names(catalog.list(ALICE))
    assert catalog.get(ALICE, private.name).id == private.id
    assert private.name not in names(catalog.list(BOB))
    with pytest.raises(NotFound):
        catalog.get(BOB, private.id)
    # A member's is_public filter is ignored: still public + own private ones.
    assert names(catalog.list(ALICE, "false")) == names(catalog.list(ALICE))
    assert names(catalog.list(BOB, "all")) == names(catalog.list(BOB))

    catalog.remove_project(ADMIN, private.id, ALICE_PROJECT)
    with pytest.raises(NotFound):
        catalog.get(ALICE, private.id)


def test_what_an_admin_lists(kind):
    catalog, specs = kind
    tag = uuid.uuid4().hex[:6]
    hidden = catalog.create(ADMIN, f"hidden-{tag}", specs, is_public=False)  # strings like "false": the API reads them
    shared = catalog.create(ADMIN, f"shared-{tag}", specs, is_public=False)
    catalog.add_project(ADMIN, shared.id, ADMIN.project_id)

    default = names(catalog.list(ADMIN))  # public ones and those of the admin's own project
    assert shared.name in default and hidden.name not in default and catalog.default_name in default
    private_only = names(catalog.list(ADMIN, "false"))
    assert {hidden.name, shared.name} <= private_only and catalog.default_name not in private_only
    for every in ("all", "None"):  # openstack/cinder send is_public=None for "all"
        assert {hidden.name, shared.name, catalog.default_name} <= names(catalog.list(ADMIN, every))
    assert catalog.default_name in names(catalog.list(ADMIN, "true"))
    with pytest.raises(Invalid, match="Invalid is_public filter"):
        catalog.list(ADMIN, "maybe")


def test_access_list_changes_are_admin_only_and_checked(kind):
    catalog, specs = kind
    tag = uuid.uuid4().hex[:6]
    private = catalog.create(ADMIN, f"acl-{tag}", specs, is_public=False)
    assert catalog.projects(ADMIN, private.id) == (private.id, [])

    for call in (catalog.add_project, catalog.remove_project):
        with pytest.raises(Forbidden):
            call(ALICE, private.id, ALICE_PROJECT)
    with pytest.raises(Forbidden):
        catalog.projects(ALICE, private.id)
    with pytest.raises(Forbidden):
        catalog.create(ALICE, f"mine-{tag}", specs, is_public=False)

    catalog.access_action(ADMIN, private.id, {"addProjectAccess": {"project": ALICE_PROJECT}})
    catalog.add_project(ADMIN, private.name, BOB_PROJECT)
    assert catalog.projects(ADMIN, private.id) == (private.id, sorted([ALICE_PROJECT, BOB_PROJECT]))
    with pytest.raises(Conflict, match="already exists"):
        catalog.add_project(ADMIN, private.id, ALICE_PROJECT)
    catalog.access_action(ADMIN, private.id, {"removeProjectAccess": {"project": BOB_PROJECT}})
    with pytest.raises(NotFound, match="access not found"):
        catalog.remove_project(ADMIN, private.id, BOB_PROJECT)
    assert catalog.projects(ADMIN, private.id) == (private.id, [ALICE_PROJECT])

    for bad in ({"addProjectAccess": {}}, {"grant": {"project": ALICE_PROJECT}}, {}, [],
                {"addProjectAccess": {"project": ALICE_PROJECT}, "removeProjectAccess": {"project": BOB_PROJECT}}):
        with pytest.raises(Invalid):
            catalog.access_action(ADMIN, private.id, bad)
    with pytest.raises(Invalid):
        catalog.add_project(ADMIN, private.id, "")
    with pytest.raises(NotFound):
        catalog.add_project(ADMIN, str(uuid.uuid4()), ALICE_PROJECT)


def test_a_public_type_has_no_access_list(services, kind):
    catalog, specs = kind
    public = catalog.create(ADMIN, f"open-{uuid.uuid4().hex[:6]}", specs)
    with pytest.raises(NotFound, match="Access list not available for public"):
        catalog.projects(ADMIN, public.id)
    # Cinder answers 400 here, Manila 409.
    expected = Invalid if catalog is services.volume_types else Conflict
    with pytest.raises(expected, match="not applicable to public"):
        catalog.add_project(ADMIN, public.id, ALICE_PROJECT)


def test_manila_wants_uuid_like_project_ids_cinder_any(services):
    specs = {"driver_handles_share_servers": "False"}
    stype = services.share_types.create(ADMIN, f"uuid-{uuid.uuid4().hex[:6]}", specs, is_public=False)
    with pytest.raises(Invalid, match="Bad project format"):
        services.share_types.add_project(ADMIN, stype.id, "not-a-uuid")
    services.share_types.add_project(ADMIN, stype.id, str(uuid.uuid4()))  # dashes are fine too
    vtype = services.volume_types.create(ADMIN, f"any-{uuid.uuid4().hex[:6]}", {}, is_public=False)
    services.volume_types.add_project(ADMIN, vtype.id, "demo-project")
    assert services.volume_types.projects(ADMIN, vtype.id)[1] == ["demo-project"]


def test_deleting_a_type_removes_its_access_list(services, kind):
    catalog, specs = kind
    private = catalog.create(ADMIN, f"gone-{uuid.uuid4().hex[:6]}", specs, is_public=False)
    catalog.add_project(ADMIN, private.id, ALICE_PROJECT)
    catalog.delete(ADMIN, private.id)
    with services.core.db.session() as session:
        assert session.query(catalog.access).filter_by(type_id=private.id).count() == 0


def test_a_volume_or_share_of_an_inaccessible_private_type_is_not_found(services):
    vtype = services.volume_types.create(ADMIN, f"vol-{uuid.uuid4().hex[:6]}", {}, is_public=False)
    stype = services.share_types.create(ADMIN, f"shr-{uuid.uuid4().hex[:6]}",
                                        {"driver_handles_share_servers": "False"}, is_public=False)
    services.volume_types.add_project(ADMIN, vtype.id, ALICE_PROJECT)
    services.share_types.add_project(ADMIN, stype.id, ALICE_PROJECT)
    with pytest.raises(NotFound, match=f"Volume type {vtype.name} could not be found"):
        services.volumes.create(BOB, size=1, volume_type=vtype.name)
    with pytest.raises(NotFound, match=f"Share type {stype.id} could not be found"):
        services.shares.create(BOB, size=1, share_proto="NFS", share_type=stype.id)
    with services.core.db.session() as session:
        assert session.query(models.Volume).filter_by(project_id=BOB_PROJECT).count() == 0
        assert session.query(models.Share).filter_by(project_id=BOB_PROJECT).count() == 0
        # Alice's project may use both (the rest of a create needs a backend; not here).
        assert services.volume_types.find(session, ALICE, vtype.name).id == vtype.id
        assert services.shares.types.find(session, ALICE, stype.id).id == stype.id


def test_concurrent_adds_of_the_same_project_leave_one_row(services, kind):
    from concurrent.futures import ThreadPoolExecutor

    catalog, specs = kind
    private = catalog.create(ADMIN, f"race-{uuid.uuid4().hex[:6]}", specs, is_public=False)

    def add(_):
        try:
            catalog.add_project(ADMIN, private.id, ALICE_PROJECT)
            return "added"
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(add, range(8)))
    assert outcomes == ["added"] + ["conflict"] * 7
    assert catalog.projects(ADMIN, private.id) == (private.id, [ALICE_PROJECT])
