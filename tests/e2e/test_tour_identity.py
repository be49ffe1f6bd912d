"""Client tour, identity: what the admin provisioned with `openstack project|user|role`
(tests/e2e/tour_fixtures.py) is what `openstack` reads back, and tokens and the catalog
are what the clients need."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_admin_reads_back_projects_users_and_assignments(tour):
    projects, users, rows, only_a, token, catalog, regions = tour.osc_batch(
        "admin", ["project", "list", "-f", "json"], ["user", "list", "-f", "json"],
        ["role", "assignment", "list", "--names", "-f", "json"],
        # the client resolves the project name to an id on its side; the server applies the filter
        ["role", "assignment", "list", "--project", "tour-a", "--names", "-f", "json"],
        ["token", "issue", "-f", "json"], ["catalog", "list", "-f", "json"], ["region", "list", "-f", "json"])
    assert token["project_id"] == tour.projects["admin"] and token["user_id"] not in tour.users.values()
    assert f"{tour.server.url}/volume/v3/{tour.projects['admin']}" in str(catalog)
    assert [r["Region"] for r in regions] == ["RegionOne"]
    projects = {p["Name"]: p["ID"] for p in projects}
    assert {"admin": tour.projects["admin"], "tour-a": tour.projects["tour-a"],
            "tour-b": tour.projects["tour-b"]}.items() <= projects.items()
    users = {u["Name"]: u["ID"] for u in users}
    assert {"admin", "alice", "bob", "rita"} <= set(users)
    assert {name: users[name] for name in ("alice", "bob", "rita")} == tour.users
    seen = {(r["User"], r["Project"], r["Role"]) for r in rows}
    assert {("admin@Default", "admin@Default", "admin"), ("alice@Default", "tour-a@Default", "member"),
            ("bob@Default", "tour-b@Default", "member"), ("rita@Default", "tour-a@Default", "reader")} <= seen
    assert sorted((r["User"], r["Role"]) for r in only_a) == [("alice@Default", "member"),
                                                               ("rita@Default", "reader")]


def test_token_issue_and_catalog_for_a_member(tour):
    token, catalog = tour.osc_batch("a-member", ["token", "issue", "-f", "json"], ["catalog", "list", "-f", "json"])
    assert token["project_id"] == tour.projects["tour-a"]
    assert token["user_id"] == tour.users["alice"]
    assert len(token["id"]) > 20 and token["expires"]

    catalog = {entry["Type"]: entry for entry in catalog}
    assert {"identity", "block-storage", "volumev3", "shared-file-system", "sharev2"} <= set(catalog)
    volume_urls = str(catalog["block-storage"]["Endpoints"])
    assert f"{tour.server.url}/volume/v3/{tour.projects['tour-a']}" in volume_urls
    for interface in ("public", "internal", "admin"):
        assert interface in volume_urls
    assert f"{tour.server.url}/share/v2" in str(catalog["sharev2"]["Endpoints"])
    assert "RegionOne" in str(catalog["identity"]["Endpoints"])


def test_only_the_admin_administers_identity(tour):
    tour.osc_batch_fails("a-member", "ForbiddenException: 403", ["user", "list"], ["project", "create", "sneaky"])
    # The server answers 403 to the grant (and to every lookup before it); OSC 10.5 prints
    # nothing and exits 0 on that 403, so the proof is that the grant is not there.
    tour.osc_batch("a-member", ["role", "add", "--user", "alice", "--project", "tour-b", "member"])
    projects, rows = tour.osc_batch("admin", ["project", "list", "-f", "json"],
                                    ["role", "assignment", "list", "--user", "alice", "--names", "-f", "json"])
    assert "sneaky" not in {p["Name"] for p in projects}
    assert [(r["Project"], r["Role"]) for r in rows] == [("tour-a@Default", "member")]


def test_role_remove_takes_the_project_away(tour):
    """Bob gets reader on tour-a, can then get a token for it, and not after `role remove`."""
    try:
        (rows,) = tour.osc_batch("admin", ["role", "add", "--user", "bob", "--project", "tour-a", "reader"],
                                 ["role", "assignment", "list", "--user", "bob", "--names", "-f", "json"])
        assert sorted((r["Project"], r["Role"]) for r in rows) == [("tour-a@Default", "reader"),
                                                                   ("tour-b@Default", "member")]
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "bob", "domain": {"id": "default"}, "password": tour.passwords["b-member"]}}},
            "scope": {"project": {"id": tour.projects["tour-a"]}}}}
        issued = httpx.post(f"{tour.auth_url}/auth/tokens", json=body, timeout=30)
        assert issued.status_code == 201
        assert [r["name"] for r in issued.json()["token"]["roles"]] == ["reader"]
    finally:
        (rows,) = tour.osc_batch("admin", ["role", "remove", "--user", "bob", "--project", "tour-a", "reader"],
                                 ["role", "assignment", "list", "--user", "bob", "--names", "-f", "json"])
    assert [(r["Project"], r["Role"]) for r in rows] == [("tour-b@Default", "member")]
    refused = httpx.post(f"{tour.auth_url}/auth/tokens", json=body, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == 401
