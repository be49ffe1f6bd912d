"""What the client tour (tests/e2e/test_tour_*.py) found the server answering unlike
upstream, pinned in-process."""

from __future__ import annotations

import pytest

from tests.unit.identity_app import identity_app

MANILA = {"X-OpenStack-Manila-API-Version": "2.84"}


@pytest.fixture
def app(tmp_path):
    return identity_app(tmp_path)


def _share(app, project_name: str) -> str:
    from shoal.db import models
    from shoal.services.identity.identity import system_caller

    project = app.services.identity.list_projects(system_caller(), name=project_name)[0].id
    with app.services.core.db.session() as session:
        share = models.Share(project_id=project, user_id="owner", size=1, status="available", name="s")
        session.add(share)
    return share.id


def test_share_set_sends_reset_task_state_null(app):
    """python-manilaclient's `openstack share set` (6.3) sends `reset_task_state` with a null
    task_state on every call, after any other change; Manila allows it to admins (202)."""
    app.make_user("owner", "p1", "member")
    share_id = _share(app, "p1")
    action = {"reset_task_state": {"task_state": None}}
    admin = {**MANILA, **app.admin()}
    for body in (action, {"reset_task_state": {"os-task_state": None}}, {"reset_task_state": {}}):
        assert app.client.post(f"/share/v2/shares/{share_id}/action", json=body, headers=admin).status_code == 202
    assert app.client.get(f"/share/v2/shares/{share_id}", headers=admin).json()["share"]["task_state"] is None
    # One of Manila's task states is kept and shown (Shoal runs no migration that would set one);
    # anything else is refused, and changes nothing.
    set_ = app.client.post(f"/share/v2/shares/{share_id}/action", headers=admin,
                           json={"reset_task_state": {"task_state": "migration_error"}})
    assert set_.status_code == 202
    assert app.client.get(f"/share/v2/shares/{share_id}", headers=admin).json()["share"]["task_state"] == \
        "migration_error"
    bad = app.client.post(f"/share/v2/shares/{share_id}/action", headers=admin,
                          json={"reset_task_state": {"task_state": "sideways"}})
    assert bad.status_code == 400 and "task_state" in bad.json()["badRequest"]["message"]
    assert app.client.get(f"/share/v2/shares/{share_id}", headers=admin).json()["share"]["task_state"] == \
        "migration_error"
    missing = app.client.post("/share/v2/shares/00000000-0000-0000-0000-000000000000/action", json=action,
                              headers=admin)
    assert missing.status_code == 404


def test_reset_task_state_is_for_admins_whatever_the_id(app):
    app.make_user("owner", "p1", "member")
    share_id = _share(app, "p1")
    member = {**MANILA, "X-Auth-Token": app.token("owner", "pw", "p1")}
    for sid in (share_id, "00000000-0000-0000-0000-000000000000"):
        refused = app.client.post(f"/share/v2/shares/{sid}/action", headers=member,
                                  json={"reset_task_state": {"task_state": None}})
        assert refused.status_code == 403 and "reset_task_state" in refused.json()["forbidden"]["message"]


def test_regions_of_the_catalog(app):
    """`openstack region list` (GET /regions) was 404; Keystone lists the catalog's regions."""
    admin = app.admin()
    regions = app.client.get("/identity/v3/regions", headers=admin).json()["regions"]
    assert [(r["id"], r["parent_region_id"]) for r in regions] == [("RegionOne", None)]
    assert regions[0]["links"]["self"].endswith("/identity/v3/regions/RegionOne")
    assert app.client.get("/identity/v3/regions/RegionOne", headers=admin).json()["region"]["id"] == "RegionOne"
    missing = app.client.get("/identity/v3/regions/Elsewhere", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 404
    assert app.client.get("/identity/v3/regions").status_code == 401
