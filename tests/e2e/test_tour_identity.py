"""Client tour, identity: what the admin provisioned with `openstack project|user|role`
(tests/e2e/tour_fixtures.py) is what `openstack` reads back, and tokens and the catalog
are what the clients need."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_admin_reads_back_projects_users_and_assignments(tour):
    projects = {p["Name"]: p["ID"] for p in tour.osc_json("admin", "project", "list")}
    assert {"admin": tour.projects["admin"], "tour-a": tour.projects["tour-a"],
            "tour-b": tour.projects["tour-b"]}.items() <= projects.items()
    users = {u["Name"]: u["ID"] for u in tour.osc_json("admin", "user", "list")}
    assert {"admin", "alice", "bob", "rita"} <= set(users)
    assert {name: users[name] for name in ("alice", "bob", "rita")} == tour.users

    rows = tour.osc_json("admin", "role", "assignment", "list", "--names")
    seen = {(r["User"], r["Project"], r["Role"]) for r in rows}
    assert {("admin@Default", "admin@Default", "admin"), ("alice@Default", "tour-a@Default", "member"),
            ("bob@Default", "tour-b@Default", "member"), ("rita@Default", "tour-a@Default", "reader")} <= seen
    # The filters the client sends by name are resolved to ids on its side, then applied here.
    only_a = tour.osc_json("admin", "role", "assignment", "list", "--project", "tour-a", "--names")
    assert sorted((r["User"], r["Role"]) for r in only_a) == [("alice@Default", "member"),
                                                               ("rita@Default", "reader")]


def test_token_issue_and_catalog_for_a_member(tour):
    token = tour.osc_json("a-member", "token", "issue")
    assert token["project_id"] == tour.projects["tour-a"]
    assert token["user_id"] == tour.users["alice"]
    assert len(token["id"]) > 20 and token["expires"]

    catalog = {entry["Type"]: entry for entry in tour.osc_json("a-member", "catalog", "list")}
    assert {"identity", "block-storage", "volumev3", "shared-file-system", "sharev2"} <= set(catalog)
    volume_urls = str(catalog["block-storage"]["Endpoints"])
    assert f"{tour.server.url}/volume/v3/{tour.projects['tour-a']}" in volume_urls
    for interface in ("public", "internal", "admin"):
        assert interface in volume_urls
    assert f"{tour.server.url}/share/v2" in str(catalog["sharev2"]["Endpoints"])
    assert "RegionOne" in str(catalog["identity"]["Endpoints"])


def test_only_the_admin_administers_identity(tour):
    out = tour.osc_fails("a-member", "user", "list")
    assert "403" in out
    out = tour.osc_fails("a-member", "project", "create", "sneaky")
    assert "403" in out
    assert "sneaky" not in {p["Name"] for p in tour.osc_json("admin", "project", "list")}


def test_role_remove_takes_the_project_away(tour):
    """Bob gets reader on tour-a, can then get a token for it, and not after `role remove`."""
    tour.osc("admin", "role", "add", "--user", "bob", "--project", "tour-a", "reader")
    try:
        rows = tour.osc_json("admin", "role", "assignment", "list", "--user", "bob", "--names")
        assert sorted((r["Project"], r["Role"]) for r in rows) == [("tour-a@Default", "reader"),
                                                                   ("tour-b@Default", "member")]
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "bob", "domain": {"id": "default"}, "password": tour.passwords["b-member"]}}},
            "scope": {"project": {"id": tour.projects["tour-a"]}}}}
        import httpx

        issued = httpx.post(f"{tour.auth_url}/auth/tokens", json=body, timeout=30)
        assert issued.status_code == 201
        assert [r["name"] for r in issued.json()["token"]["roles"]] == ["reader"]
    finally:
        tour.osc("admin", "role", "remove", "--user", "bob", "--project", "tour-a", "reader")
    rows = tour.osc_json("admin", "role", "assignment", "list", "--user", "bob", "--names")
    assert [(r["Project"], r["Role"]) for r in rows] == [("tour-b@Default", "member")]
    refused = httpx.post(f"{tour.auth_url}/auth/tokens", json=body, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == 401
