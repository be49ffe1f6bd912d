"""Projects keep to themselves: a share made in project A is neither listed nor
found, nor changed, from project B.

In noauth mode every caller is an admin, so an admin's cross-project view
(`all_tenants=1`) is the one explicit way to see other projects' shares.
"""

from __future__ import annotations

import uuid

import pytest

from .share_helpers import (
    fault,
    share_api,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.integration


@pytest.fixture
def other_project(share_api):
    with share_api.server.client(project=uuid.uuid4().hex) as client:
        yield client


@pytest.fixture
def a_share(share_api):
    share = share_api.create_share(name=f"project-a-{uuid.uuid4().hex[:6]}")
    snap = share_api.create_snapshot(share["id"])
    rule = share_api.allow(share["id"], "10.9.9.9")
    yield share, snap, rule
    share_api.delete_snapshot(snap["id"])
    share_api.delete_share(share["id"])


def test_lists_in_another_project_do_not_show_the_share(share_api, other_project, a_share):
    share, snap, _ = a_share
    b = other_project
    for path in ("/shares", "/shares/detail"):
        assert share["id"] not in {s["id"] for s in b.get(path).json()["shares"]}
        assert b.get(path, params={"name": share["name"]}).json()["shares"] == []
    for path in ("/snapshots", "/snapshots/detail"):
        assert snap["id"] not in {s["id"] for s in b.get(path).json()["snapshots"]}
    assert b.get("/limits").json()["limits"]["absolute"]["totalSharesUsed"] == 0
    # The owner sees it; an admin asking for all projects sees it.
    assert share["id"] in {s["id"] for s in share_api.client.get("/shares").json()["shares"]}
    everyone = b.get("/shares/detail", params={"all_tenants": 1}).json()["shares"]
    assert share["id"] in {s["id"] for s in everyone}
    # ... and may narrow that down to one project.
    only_a = b.get("/shares/detail", params={"all_tenants": 1, "project_id": share["project_id"]}).json()["shares"]
    assert share["id"] in {s["id"] for s in only_a} and {s["project_id"] for s in only_a} == {share["project_id"]}


def test_the_share_is_not_found_from_another_project(share_api, other_project, a_share):
    """A share of another project is 404, not 403 (no existence leak), for reads
    and for changes, and nothing changes; only its export locations are 403, as Manila's."""
    share, snap, rule = a_share
    b = other_project
    fault(b.get(f"/shares/{share['id']}"), 404)
    # ... except its export locations: Manila's controller for them answers 403 there
    # (its _verify_share looks any share up, then checks the policy); Tempest checks it
    fault(b.get(f"/shares/{share['id']}/export_locations"), 403)
    location = share_api.client.get(f"/shares/{share['id']}/export_locations").json()["export_locations"][0]
    fault(b.get(f"/shares/{share['id']}/export_locations/{location['id']}"), 403)
    fault(b.get(f"/shares/{uuid.uuid4()}/export_locations"), 404)
    fault(b.get(f"/snapshots/{snap['id']}"), 404)
    fault(b.get("/share-access-rules", params={"share_id": share["id"]}), 400)  # Manila: no such share to filter by
    fault(b.get(f"/share-access-rules/{rule['id']}"), 404)
    fault(b.put(f"/shares/{share['id']}", json={"share": {"name": "taken over"}}), 404)
    fault(b.post(f"/shares/{share['id']}/action", json={"allow_access": {
        "access_type": "ip", "access_to": "10.0.0.66", "access_level": "rw"}}), 404)
    fault(b.delete(f"/shares/{share['id']}"), 404)
    still = share_api.share(share["id"])
    assert still["name"] == share["name"] and still["status"] == "available"
    assert [r["access_to"] for r in share_api.rules(share["id"])] == ["10.9.9.9"]
