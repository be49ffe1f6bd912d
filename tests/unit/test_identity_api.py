"""Identity v3 over HTTP as the clients use it, and the policy it feeds: tokens, the
catalog, Keystone error bodies, 401/403/404 on the volume and share APIs."""

from __future__ import annotations

import pytest

from tests.unit.identity_app import ADMIN_PASSWORD, identity_app


@pytest.fixture
def app(tmp_path):
    return identity_app(tmp_path)


def password_body(user: str, password: str, scope: dict | None = None) -> dict:
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"name": "Default"}, "password": password}}}}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return body


def test_version_discovery_in_every_form(app):
    for path in ("/identity/v3", "/identity/v3/"):
        version = app.client.get(path).json()["version"]
        assert version["id"].startswith("v3.") and version["status"] == "stable"
        assert version["links"][0]["href"].endswith("/identity/v3/")
    root = app.client.get("/identity/")
    assert root.status_code == 300 and root.json()["versions"]["values"][0]["id"].startswith("v3")


def test_password_token_has_subject_header_roles_and_catalog(app):
    reply = app.client.post("/identity/v3/auth/tokens", json=password_body(
        "admin", ADMIN_PASSWORD, {"project": {"name": "admin", "domain": {"name": "Default"}}}))
    assert reply.status_code == 201
    token = reply.json()["token"]
    assert reply.headers["X-Subject-Token"].startswith("gAAAA")  # Fernet
    assert token["project"]["name"] == "admin" and token["user"]["name"] == "admin"
    assert {r["name"] for r in token["roles"]} == {"admin", "member", "reader"}
    assert all(r["id"] != r["name"] for r in token["roles"])
    types = {entry["type"]: entry for entry in token["catalog"]}
    assert set(types) == {"identity", "block-storage", "volumev3", "shared-file-system", "sharev2", "image"}
    for entry in types.values():
        assert {e["interface"] for e in entry["endpoints"]} == {"public", "internal", "admin"}
    volume_url = types["block-storage"]["endpoints"][0]["url"]
    assert volume_url.endswith(f"/volume/v3/{token['project']['id']}")
    assert types["sharev2"]["endpoints"][0]["url"].endswith("/share/v2")
    nocatalog = app.client.post("/identity/v3/auth/tokens?nocatalog", json=password_body(
        "admin", ADMIN_PASSWORD, {"project": {"name": "admin", "domain": {"id": "default"}}}))
    assert "catalog" not in nocatalog.json()["token"]


def test_scope_by_project_id_and_user_id(app):
    admin_id = app.services.identity.list_users(_system())[0].id
    project_id = app.services.identity.list_projects(_system(), name="admin")[0].id
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"id": admin_id, "password": ADMIN_PASSWORD}}}, "scope": {"project": {"id": project_id}}}}
    reply = app.client.post("/identity/v3/auth/tokens", json=body)
    assert reply.status_code == 201 and reply.json()["token"]["project"]["id"] == project_id


def _system():
    from shoal.services.identity.identity import system_caller

    return system_caller()


def test_unscoped_token_then_rescope_with_token_method(app):
    app.make_user("nodefault", "p1", "member")
    # an explicitly unscoped token carries no project and no catalog
    reply = app.client.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"name": "nodefault", "domain": {"id": "default"},
                                                        "password": "pw"}}}, "scope": "unscoped"}})
    assert reply.status_code == 201
    assert "project" not in reply.json()["token"] and "catalog" not in reply.json()["token"]
    unscoped = reply.headers["X-Subject-Token"]
    assert app.client.get("/volume/v3/volumes", headers={"X-Auth-Token": unscoped}).status_code == 401
    projects = app.client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": unscoped}).json()["projects"]
    assert [p["name"] for p in projects] == ["p1"]
    rescoped = app.client.post("/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": unscoped}},
        "scope": {"project": {"id": projects[0]["id"]}}}})
    assert rescoped.status_code == 201
    assert rescoped.json()["token"]["expires_at"] == reply.json()["token"]["expires_at"]
    assert rescoped.json()["token"]["project"]["name"] == "p1"


def test_no_scope_means_the_default_project(app):
    app.make_user("carol", "p1", "member")
    reply = app.client.post("/identity/v3/auth/tokens", json=password_body("carol", "pw"))
    assert reply.json()["token"]["project"]["name"] == "p1"


@pytest.mark.parametrize("body", [
    password_body("admin", "wrong"),
    password_body("nobody", "pw"),
    password_body("admin", ADMIN_PASSWORD, {"project": {"name": "missing", "domain": {"name": "Default"}}}),
    password_body("admin", ADMIN_PASSWORD, {"project": {"name": "admin", "domain": {"name": "Other"}}}),
])
def test_bad_credentials_are_401_in_keystone_form(app, body):
    reply = app.client.post("/identity/v3/auth/tokens", json=body)
    assert reply.status_code == 401
    assert reply.json() == {"error": {"code": 401, "title": "Unauthorized",
                                      "message": "The request you have made requires authentication."}}
    assert "X-Subject-Token" not in reply.headers


def test_no_role_on_the_project_is_401(app):
    app.make_user("dave", "p1", "member")
    app.client.post("/identity/v3/projects", json={"project": {"name": "p2"}}, headers=app.admin())
    reply = app.client.post("/identity/v3/auth/tokens", json=password_body(
        "dave", "pw", {"project": {"name": "p2", "domain": {"name": "Default"}}}))
    assert reply.status_code == 401


@pytest.mark.parametrize("body", [{}, {"auth": {}}, {"auth": {"identity": {"methods": "password"}}},
                                  {"auth": {"identity": {"methods": ["password"], "password": {}}}}])
def test_malformed_auth_is_400(app, body):
    assert app.client.post("/identity/v3/auth/tokens", json=body).status_code == 400


def test_validate_head_and_revoke(app):
    admin = app.admin()
    subject = app.token("admin", ADMIN_PASSWORD, "admin")
    both = {**admin, "X-Subject-Token": subject}
    shown = app.client.get("/identity/v3/auth/tokens", headers=both)
    assert shown.status_code == 200 and shown.json()["token"]["project"]["name"] == "admin"
    assert app.client.head("/identity/v3/auth/tokens", headers=both).status_code == 200
    assert app.client.get("/volume/v3/volumes", headers={"X-Auth-Token": subject}).status_code == 200
    assert app.client.delete("/identity/v3/auth/tokens", headers=both).status_code == 204
    assert app.client.head("/identity/v3/auth/tokens", headers=both).status_code == 404
    revoked = app.client.get("/volume/v3/volumes", headers={"X-Auth-Token": subject})
    assert revoked.status_code == 401 and revoked.json()["unauthorized"]["code"] == 401
    assert app.client.get("/volume/v3/volumes", headers=admin).status_code == 200  # the other token lives


def test_a_user_may_validate_only_its_own_tokens(app):
    app.make_user("erin", "p1", "member")
    app.make_user("frank", "p1", "member")
    erin, frank = app.token("erin", "pw", "p1"), app.token("frank", "pw", "p1")
    own = app.client.get("/identity/v3/auth/tokens", headers={"X-Auth-Token": erin, "X-Subject-Token": erin})
    assert own.status_code == 200
    other = app.client.get("/identity/v3/auth/tokens", headers={"X-Auth-Token": erin, "X-Subject-Token": frank})
    assert other.status_code == 403


@pytest.mark.parametrize("token", [None, "", "garbage", "gAAAAA" + "x" * 100, "a:b"])
def test_service_apis_refuse_missing_or_garbled_tokens(app, token):
    headers = {} if token is None else {"X-Auth-Token": token}
    for path in ("/volume/v3/volumes", "/share/v2/shares"):
        reply = app.client.get(path, headers=headers)
        assert reply.status_code == 401, path
        assert reply.json()["unauthorized"]["code"] == 401
        assert reply.headers["WWW-Authenticate"].startswith('Keystone uri="')
    reply = app.client.get("/identity/v3/projects", headers=headers)
    assert reply.status_code == 401 and reply.json()["error"]["code"] == 401


def test_token_of_one_project_on_another_projects_path_is_401(app):
    app.make_user("gina", "p1", "member")
    token = app.token("gina", "pw", "p1")
    p1 = app.services.identity.list_projects(_system(), name="p1")[0].id
    assert app.client.get(f"/volume/v3/{p1}/volumes", headers={"X-Auth-Token": token}).status_code == 200
    other = app.client.get("/volume/v3/0123456789abcdef0123456789abcdef/volumes", headers={"X-Auth-Token": token})
    assert other.status_code == 401
    assert app.client.get(f"/share/v2/{'f' * 32}/shares", headers={"X-Auth-Token": token}).status_code == 401


def test_reader_reads_member_writes_admin_administers(app):
    app.make_user("rita", "p1", "reader")
    app.make_user("mike", "p1", "member")
    reader = {"X-Auth-Token": app.token("rita", "pw", "p1")}
    member = {"X-Auth-Token": app.token("mike", "pw", "p1")}
    assert app.client.get("/volume/v3/volumes/detail", headers=reader).status_code == 200
    refused = app.client.post("/volume/v3/volumes", json={"volume": {"size": 1}}, headers=reader)
    assert refused.status_code == 403 and refused.json()["forbidden"]["code"] == 403
    assert app.client.post("/share/v2/shares", json={"share": {"size": 1, "share_proto": "NFS"}},
                           headers=reader).status_code == 403
    # admin-only: pools, services, type creation
    assert app.client.get("/volume/v3/scheduler-stats/get_pools", headers=member).status_code == 403
    assert app.client.post("/volume/v3/types", json={"volume_type": {"name": "x"}},
                           headers=member).status_code == 403
    assert app.client.get("/volume/v3/scheduler-stats/get_pools", headers=app.admin()).status_code == 200
    # identity administration is admin-only too
    assert app.client.get("/identity/v3/users", headers=member).status_code == 403
    assert app.client.post("/identity/v3/projects", json={"project": {"name": "p9"}},
                           headers=member).status_code == 403


def test_role_removal_and_user_disable_end_existing_tokens(app):
    uid = app.make_user("hank", "p1", "member")
    token = {"X-Auth-Token": app.token("hank", "pw", "p1")}
    assert app.client.get("/volume/v3/volumes", headers=token).status_code == 200
    admin = app.admin()
    p1 = app.client.get("/identity/v3/projects", params={"name": "p1"}, headers=admin).json()["projects"][0]["id"]
    member = app.client.get("/identity/v3/roles", params={"name": "member"}, headers=admin).json()["roles"][0]["id"]
    assert app.client.delete(f"/identity/v3/projects/{p1}/users/{uid}/roles/{member}",
                             headers=admin).status_code == 204
    assert app.client.get("/volume/v3/volumes", headers=token).status_code == 401
    assert app.client.put(f"/identity/v3/projects/{p1}/users/{uid}/roles/{member}", headers=admin).status_code == 204
    assert app.client.get("/volume/v3/volumes", headers=token).status_code == 200
    assert app.client.patch(f"/identity/v3/users/{uid}", json={"user": {"enabled": False}},
                            headers=admin).status_code == 200
    assert app.client.get("/volume/v3/volumes", headers=token).status_code == 401
    assert app.client.post("/identity/v3/auth/tokens", json=password_body("hank", "pw")).status_code == 401


def test_self_service_password_change(app):
    uid = app.make_user("ivy", "p1", "member", password="old")
    old = app.token("ivy", "old", "p1")
    wrong = app.client.post(f"/identity/v3/users/{uid}/password", headers={"X-Auth-Token": old},
                            json={"user": {"original_password": "nope", "password": "new"}})
    assert wrong.status_code == 401
    ok = app.client.post(f"/identity/v3/users/{uid}/password", headers={"X-Auth-Token": old},
                         json={"user": {"original_password": "old", "password": "new"}})
    assert ok.status_code == 204
    assert app.client.get("/volume/v3/volumes", headers={"X-Auth-Token": old}).status_code == 401
    assert app.client.post("/identity/v3/auth/tokens", json=password_body("ivy", "old")).status_code == 401
    app.token("ivy", "new", "p1")


def test_projects_users_roles_crud_and_conflicts(app):
    h = app.admin()
    made = app.client.post("/identity/v3/projects", json={"project": {"name": "team", "description": "d",
                                                                       "domain_id": "default"}}, headers=h)
    assert made.status_code == 201 and made.json()["project"]["domain_id"] == "default"
    pid = made.json()["project"]["id"]
    assert app.client.post("/identity/v3/projects", json={"project": {"name": "team"}}, headers=h).status_code == 409
    assert app.client.post("/identity/v3/projects", json={"project": {"name": ""}}, headers=h).status_code == 400
    assert app.client.post("/identity/v3/projects", json={"project": {"name": "x", "domain_id": "other"}},
                           headers=h).status_code == 404
    renamed = app.client.patch(f"/identity/v3/projects/{pid}", json={"project": {"name": "team2"}}, headers=h)
    assert renamed.json()["project"]["name"] == "team2"
    assert app.client.get("/identity/v3/projects/nope", headers=h).json()["error"]["code"] == 404
    user = app.client.post("/identity/v3/users", json={"user": {"name": "jo", "password": "pw",
                                                                 "email": "jo@example.org"}}, headers=h).json()["user"]
    assert "password" not in user and user["email"] == "jo@example.org"
    assert app.client.post("/identity/v3/users", json={"user": {"name": "jo"}}, headers=h).status_code == 409
    role = app.client.post("/identity/v3/roles", json={"role": {"name": "auditor"}}, headers=h)
    assert role.status_code == 201
    assert app.client.post("/identity/v3/roles", json={"role": {"name": "auditor"}}, headers=h).status_code == 409
    rid = role.json()["role"]["id"]
    url = f"/identity/v3/projects/{pid}/users/{user['id']}/roles/{rid}"
    assert app.client.head(url, headers=h).status_code == 404
    assert app.client.put(url, headers=h).status_code == 204
    assert app.client.head(url, headers=h).status_code == 204
    listed = app.client.get("/identity/v3/role_assignments",
                            params={"user.id": user["id"], "include_names": "1"}, headers=h).json()
    [one] = listed["role_assignments"]
    assert one["role"]["name"] == "auditor" and one["scope"]["project"]["name"] == "team2"
    assert one["user"]["name"] == "jo"
    assert app.client.delete(f"/identity/v3/roles/{rid}", headers=h).status_code == 204
    assert app.client.head(url, headers=h).status_code == 404
    admin_role = app.client.get("/identity/v3/roles", params={"name": "admin"}, headers=h).json()["roles"][0]
    assert app.client.delete(f"/identity/v3/roles/{admin_role['id']}", headers=h).status_code == 403
    assert app.client.delete(f"/identity/v3/users/{user['id']}", headers=h).status_code == 204
    assert app.client.delete(f"/identity/v3/projects/{pid}", headers=h).status_code == 204
    assert app.client.get(f"/identity/v3/projects/{pid}", headers=h).status_code == 404


def test_default_domain_only(app):
    h = app.admin()
    assert app.client.get("/identity/v3/domains/default", headers=h).json()["domain"]["name"] == "Default"
    assert app.client.get("/identity/v3/domains", params={"name": "Default"}, headers=h).json()["domains"]
    assert app.client.get("/identity/v3/domains", params={"name": "Other"}, headers=h).json()["domains"] == []
    assert app.client.get("/identity/v3/domains/other", headers=h).status_code == 404
    assert app.client.post("/identity/v3/domains", json={"domain": {"name": "x"}}, headers=h).status_code == 403
    assert app.client.get("/identity/v3/users", params={"domain_id": "other"}, headers=h).json()["users"] == []


def test_catalog_services_and_endpoints(app):
    h = app.admin()
    catalog = app.client.get("/identity/v3/auth/catalog", headers=h).json()["catalog"]
    assert {c["type"] for c in catalog} >= {"identity", "volumev3", "sharev2"}
    endpoints = app.client.get("/identity/v3/endpoints", headers=h).json()["endpoints"]
    assert any(e["url"].endswith("/volume/v3/%(project_id)s") for e in endpoints)
    services = app.client.get("/identity/v3/services", headers=h).json()["services"]
    assert {s["id"] for s in services} == {e["service_id"] for e in endpoints}


def test_admins_reach_other_projects_by_id_members_get_404(app):
    """Upstream semantics with real auth: an admin (here scoped to `admin`) shows and
    resets another project's volume by id; a member of a third project gets 404."""
    from shoal.db import models

    app.make_user("owner", "p1", "member")
    app.make_user("stranger", "p2", "member")
    p1 = app.services.identity.list_projects(_system(), name="p1")[0].id
    with app.services.core.db.session() as session:
        volume = models.Volume(project_id=p1, user_id="owner", size=1, status="error", name="v")
        session.add(volume)
    admin = app.admin()
    shown = app.client.get(f"/volume/v3/volumes/{volume.id}", headers=admin)
    assert shown.status_code == 200 and shown.json()["volume"]["os-vol-tenant-attr:tenant_id"] == p1
    reset = app.client.post(f"/volume/v3/volumes/{volume.id}/action", headers=admin,
                            json={"os-reset_status": {"status": "available"}})
    assert reset.status_code == 202
    owner = {"X-Auth-Token": app.token("owner", "pw", "p1")}
    assert app.client.get(f"/volume/v3/volumes/{volume.id}", headers=owner).json()["volume"]["status"] == "available"
    refused = app.client.post(f"/volume/v3/volumes/{volume.id}/action", headers=owner,
                              json={"os-reset_status": {"status": "error"}})
    assert refused.status_code == 403
    stranger = {"X-Auth-Token": app.token("stranger", "pw", "p2")}
    assert app.client.get(f"/volume/v3/volumes/{volume.id}", headers=stranger).status_code == 404
    # An admin operation is 403 for a member whether the id exists or not: nothing leaks.
    for vid in (volume.id, "00000000-0000-0000-0000-000000000000"):
        assert app.client.post(f"/volume/v3/volumes/{vid}/action", headers=stranger,
                               json={"os-reset_status": {"status": "error"}}).status_code == 403
