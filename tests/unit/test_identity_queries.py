"""The Identity v3 lists read their query strings through declared models
(api/identity/queries.py): the filters they take, Keystone's error body for a
bad one (after the 401 of a missing token), and the parameters in /openapi.json."""

from __future__ import annotations

import pytest

from tests.unit.identity_app import identity_app


@pytest.fixture
def app(tmp_path):
    return identity_app(tmp_path)


def test_enabled_and_domain_filters(app):
    h = app.admin()
    users = lambda **params: {u["name"] for u in app.client.get(  # noqa: E731
        "/identity/v3/users", params=params, headers=h).json()["users"]}
    uid = app.client.post("/identity/v3/users", json={"user": {"name": "off", "password": "pw"}},
                          headers=h).json()["user"]["id"]
    assert app.client.patch(f"/identity/v3/users/{uid}", json={"user": {"enabled": False}}, headers=h).status_code == 200
    assert "off" in users() and "off" not in users(enabled="yes") and users(enabled="0") == {"off"}
    assert users(enabled="") == users(enabled="TRUE")
    assert users(domain_id="other") == set() and "off" in users(domain_id="default")
    bad = app.client.get("/identity/v3/users", params={"enabled": "perhaps"}, headers=h)
    assert bad.status_code == 400 and bad.json()["error"]["message"] == "enabled must be true or false"
    assert app.client.get("/identity/v3/users", params={"enabled": "perhaps"}).status_code == 401  # the token first
    projects = app.client.get("/identity/v3/projects", params={"parent_id": "elsewhere"}, headers=h).json()
    assert projects["projects"] == []
    named = app.client.get("/identity/v3/projects", params={"name": "admin", "parent_id": "default"}, headers=h)
    assert [p["name"] for p in named.json()["projects"]] == ["admin"]
    assert app.client.get("/identity/v3/domains", params={"name": "Other"}, headers=h).json()["domains"] == []
    assert [r["name"] for r in app.client.get("/identity/v3/roles", params={"name": "reader"},
                                              headers=h).json()["roles"]] == ["reader"]


def test_role_assignments_filters(app):
    h = app.admin()
    listed = lambda **params: app.client.get(  # noqa: E731
        "/identity/v3/role_assignments", params=params, headers=h).json()["role_assignments"]
    everything = listed()
    assert everything and all("name" not in a["role"] for a in everything)
    assert all(a["role"]["name"] for a in listed(include_names=""))
    assert all("name" not in a["role"] for a in listed(include_names="no"))
    assert listed(**{"group.id": "g"}) == [] and listed(**{"scope.system": "all"}) == []
    admin_role = app.client.get("/identity/v3/roles", params={"name": "admin"}, headers=h).json()["roles"][0]
    assert {a["role"]["id"] for a in listed(**{"role.id": admin_role["id"]})} == {admin_role["id"]}


def test_the_document_names_the_parameters(app):
    paths = app.client.get("/openapi.json").json()["paths"]
    names = lambda path: {p["name"] for p in paths[path]["get"].get("parameters", [])}  # noqa: E731
    assert {"name", "enabled", "domain_id"} <= names("/identity/v3/users")
    assert {"name", "enabled", "parent_id"} <= names("/identity/v3/projects")
    assert {"user.id", "scope.project.id", "role.id", "include_names"} <= names("/identity/v3/role_assignments")
    assert "nocatalog" in names("/identity/v3/auth/tokens")
