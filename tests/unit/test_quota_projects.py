"""Quotas and the built-in identity: a quota set only for a project it knows (Cinder's
404 when Keystone does not know one), a project's quota rows gone with the project,
and a quota class of any name deleted again (a Shoal call: upstream has none).
In-process app in identity mode, on a migrated SQLite file, with no backends."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from shoal.db import models
from tests.unit.identity_app import identity_app

SHARE_V = {"X-OpenStack-Manila-API-Version": "2.84"}


@pytest.fixture
def app(tmp_path):
    return identity_app(tmp_path)


def _rows(app, model, **where) -> int:
    with app.services.core.db.session() as session:
        return session.scalar(select(func.count()).select_from(model).filter_by(**where))


def _project(app, headers: dict, name: str) -> str:
    reply = app.client.post("/identity/v3/projects", json={"project": {"name": name}}, headers=headers)
    assert reply.status_code == 201, reply.text
    return reply.json()["project"]["id"]


def _admin_project(app) -> str:
    found = app.client.get("/identity/v3/projects", params={"name": "admin"}, headers=app.admin())
    return found.json()["projects"][0]["id"]


def test_quota_sets_only_for_projects_the_identity_knows(app):
    admin, unknown = app.admin(), uuid.uuid4().hex
    volume_path = f"/volume/v3/{_admin_project(app)}/os-quota-sets/{unknown}"
    reply = app.client.put(volume_path, json={"quota_set": {"volumes": 3}}, headers=admin)
    assert reply.status_code == 404, reply.text
    assert reply.json()["itemNotFound"]["message"] == f"Project with id {unknown} not found."
    reply = app.client.put(f"/share/v2/quota-sets/{unknown}", json={"quota_set": {"shares": 3}},
                           headers={**admin, **SHARE_V})
    assert reply.status_code == 404, reply.text
    assert reply.json()["itemNotFound"]["message"] == f"Project with id {unknown} not found."
    assert _rows(app, models.Quota, project_id=unknown) == 0


def test_deleting_a_project_removes_its_quotas(app):
    admin = app.admin()
    project = _project(app, admin, "quota-owner")
    volume_path = f"/volume/v3/{_admin_project(app)}/os-quota-sets/{project}"
    reply = app.client.put(volume_path, json={"quota_set": {"volumes": 3}}, headers=admin)
    assert reply.status_code == 200 and reply.json()["quota_set"]["volumes"] == 3, reply.text
    reply = app.client.put(f"/share/v2/quota-sets/{project}", json={"quota_set": {"shares": 4}},
                           headers={**admin, **SHARE_V})
    assert reply.status_code == 200 and reply.json()["quota_set"]["shares"] == 4, reply.text
    assert _rows(app, models.Quota, project_id=project) == 2

    assert app.client.delete(f"/identity/v3/projects/{project}", headers=admin).status_code == 204
    assert _rows(app, models.Quota, project_id=project) == 0
    assert app.client.put(volume_path, json={"quota_set": {"volumes": 3}}, headers=admin).status_code == 404


def test_a_quota_class_of_any_name_can_be_deleted(app):
    admin = app.admin()
    volume_path = f"/volume/v3/{_admin_project(app)}/os-quota-class-sets/gold-class"
    default = app.client.get(volume_path, headers=admin).json()["quota_class_set"]["volumes"]
    reply = app.client.put(volume_path, json={"quota_class_set": {"volumes": default + 7}}, headers=admin)
    assert reply.status_code == 200 and reply.json()["quota_class_set"]["volumes"] == default + 7, reply.text
    share_path, share_headers = "/share/v2/quota-class-sets/gold-class", {**admin, **SHARE_V}
    shares = app.client.get(share_path, headers=share_headers).json()["quota_class_set"]["shares"]
    reply = app.client.put(share_path, json={"quota_class_set": {"shares": shares + 5}}, headers=share_headers)
    assert reply.status_code == 200 and reply.json()["quota_class_set"]["shares"] == shares + 5, reply.text
    assert _rows(app, models.QuotaClass, class_name="gold-class") == 2

    assert app.client.delete(volume_path, headers=admin).status_code == 200
    assert app.client.get(volume_path, headers=admin).json()["quota_class_set"]["volumes"] == default
    assert app.client.delete(share_path, headers=share_headers).status_code == 202
    assert app.client.get(share_path, headers=share_headers).json()["quota_class_set"]["shares"] == shares
    assert _rows(app, models.QuotaClass, class_name="gold-class") == 0


def test_members_cannot_delete_a_quota_class(app):
    app.make_user("member-user", "members", "member")
    member = {"X-Auth-Token": app.token("member-user", "pw", "members")}
    project = app.client.get("/identity/v3/projects", params={"name": "members"}, headers=app.admin())
    path = f"/volume/v3/{project.json()['projects'][0]['id']}/os-quota-class-sets/default"
    assert app.client.delete(path, headers=member).status_code == 403
    assert app.client.delete("/share/v2/quota-class-sets/default", headers={**member, **SHARE_V}).status_code == 403
