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


def test_noauth_callers_are_admins_of_every_project(share_api, other_project, a_share):
    """Manila's noauth makes every caller an admin, and an admin may fetch any
    project's share by id (upstream behaviour); project isolation for members,
    with 404 for another project's resources, comes with roles (the identity
    issue). What noauth does keep apart is the lists, tested above."""
    share, snap, _ = a_share
    b = other_project
    assert b.get(f"/shares/{share['id']}").json()["share"]["project_id"] == share["project_id"]
    assert b.get(f"/snapshots/{snap['id']}").json()["snapshot"]["share_id"] == share["id"]
