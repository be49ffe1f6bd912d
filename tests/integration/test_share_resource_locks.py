"""Resource locks (Manila 2.81) and access-rule locks (2.82) through the share API: a
share locked against deletion cannot be deleted, soft-deleted or unmanaged, also not
forced, until every lock is gone; an access rule locked against deletion is denied
only with `unrestrict`, and takes its locks (and the share lock they placed) with
it. (noauth: every caller is an administrator here; who else may see or drop a lock
is in tests/unit/test_resource_locks.py and the e2e tour.)"""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.zfs import destroy_dataset

from .share_helpers import (
    fault,
    share_api,  # noqa: F401 - fixture
    wait_gone,
    zfs_exists,
)

pytestmark = pytest.mark.integration

V = "X-OpenStack-Manila-API-Version"
FIELDS = {"id", "resource_id", "resource_action", "resource_type", "user_id", "project_id", "lock_context",
          "created_at", "updated_at", "lock_reason", "links"}


def lock(client, resource_id: str, resource_type: str = "share", **fields) -> dict:
    resp = client.post("/resource-locks", json={"resource_lock": {"resource_id": resource_id,
                                                                  "resource_type": resource_type, **fields}})
    assert resp.status_code == 200, resp.text
    return resp.json()["resource_lock"]


def test_a_locked_share_is_not_deleted(share_api):
    client = share_api.client
    share = share_api.create_share(name=f"locked-{uuid.uuid4().hex[:6]}")
    first = lock(client, share["id"], lock_reason="keep it")
    assert set(first) == FIELDS and first["lock_context"] == "admin" and first["resource_action"] == "delete"
    second = lock(client, share["id"], lock_reason="clemson tigers rule")
    assert client.get(f"/resource-locks/{first['id']}").json()["resource_lock"]["lock_reason"] == "keep it"
    listed = client.get("/resource-locks", params={"resource_id": share["id"], "sort_key": "created_at",
                                                   "sort_dir": "asc", "limit": 1, "with_count": True}).json()
    assert [x["id"] for x in listed["resource_locks"]] == [first["id"]] and listed["count"] == 2
    assert "resource_locks_links" in listed
    assert [x["id"] for x in client.get("/resource-locks", params={"lock_reason~": "clemson"}).json()[
        "resource_locks"]] == [second["id"]]
    fault(client.get("/resource-locks", params={"created_since": "yesterday"}), 400)

    for refused in (client.delete(f"/shares/{share['id']}"),
                    share_api.action(share["id"], "force_delete"),
                    share_api.action(share["id"], "soft_delete"),
                    share_api.action(share["id"], "unmanage")):
        assert refused.status_code == 403 and first["id"] in refused.text, refused.text
    assert share_api.share(share["id"])["status"] == "available"

    updated = client.put(f"/resource-locks/{first['id']}", json={"resource_lock": {"lock_reason": "new reason"}})
    assert updated.status_code == 200 and updated.json()["resource_lock"]["lock_reason"] == "new reason"
    for body in ({"resource_action": "invalid-action"}, {"lock_reason": "invalid" * 150},
                 {"resource_id": share["id"]}):
        fault(client.put(f"/resource-locks/{first['id']}", json={"resource_lock": body}), 400)
    for body in ({"resource_id": "invalid-share-id", "resource_type": "share"},
                 {"resource_id": str(uuid.uuid4()), "resource_type": "share"},
                 {"resource_id": share["id"], "resource_type": "share", "resource_action": "show"},
                 {"resource_id": share["id"], "resource_type": "volume"},
                 {"resource_id": share["id"], "lock_reason": "x" * 1024}):
        fault(client.post("/resource-locks", json={"resource_lock": body}), 400)
    fault(client.get("/resource-locks", headers={V: "2.80"}), 404)
    fault(client.delete("/resource-locks/invalid-lock-id"), 404)

    assert client.delete(f"/resource-locks/{first['id']}").status_code == 204
    assert client.delete(f"/shares/{share['id']}").status_code == 403  # one lock is left
    assert client.delete(f"/resource-locks/{second['id']}").status_code == 204
    share_api.delete_share(share["id"])


def test_locked_access_rules(share_api):
    client = share_api.client
    share = share_api.create_share(name=f"rules-{uuid.uuid4().hex[:6]}")
    resp = share_api.action(share["id"], "allow_access", {
        "access_type": "ip", "access_to": "10.1.2.3", "access_level": "rw", "lock_visibility": True,
        "lock_deletion": True, "lock_reason": "locked for testing"})
    assert resp.status_code == 200, resp.text
    rule = resp.json()["access"]
    assert rule["access_to"] == "10.1.2.3"  # the administrator sees it
    locks = client.get("/resource-locks", params={"resource_id": rule["id"]}).json()["resource_locks"]
    assert sorted(x["resource_action"] for x in locks) == ["delete", "show"]
    share_lock, = client.get("/resource-locks", params={"resource_id": share["id"]}).json()["resource_locks"]
    delete_lock = next(x for x in locks if x["resource_action"] == "delete")
    assert share_lock["lock_reason"] == f"Locked by access lock: {delete_lock['id']}"
    fault(client.post("/resource-locks", json={"resource_lock": {
        "resource_id": rule["id"], "resource_type": "access_rule", "resource_action": "show"}}), 409)
    # a reason without a lock, a lock that is no boolean: 400, and no rule is made
    for extra in ({"lock_reason": "why"}, {"lock_deletion": "perhaps"}):
        fault(share_api.action(share["id"], "allow_access", {"access_type": "ip", "access_to": "10.9.9.9",
                                                              **extra}), 400)
    assert [r["access_to"] for r in share_api.rules(share["id"])] == ["10.1.2.3"]

    deny = {"access_id": rule["id"]}
    fault(share_api.action(share["id"], "deny_access", deny), 403)
    assert share_api.action(share["id"], "deny_access", deny).status_code == 403
    fault(client.delete(f"/shares/{share['id']}"), 403)
    assert share_api.action(share["id"], "deny_access", {**deny, "unrestrict": True}).status_code == 202
    wait_gone(client, f"/share-access-rules/{rule['id']}")
    for gone in (*locks, share_lock):
        fault(client.get(f"/resource-locks/{gone['id']}"), 404)
    share_api.delete_share(share["id"])


def _hidden_rule(share_api) -> tuple[dict, dict, dict]:
    """A share with a rule locked against being seen: (share, rule, the lock)."""
    share = share_api.create_share(name=f"rules-{uuid.uuid4().hex[:6]}")
    resp = share_api.action(share["id"], "allow_access", {"access_type": "ip", "access_to": "10.1.2.4",
                                                          "access_level": "ro", "lock_visibility": True})
    assert resp.status_code == 200, resp.text
    rule = resp.json()["access"]
    shown, = share_api.client.get("/resource-locks", params={"resource_id": rule["id"]}).json()["resource_locks"]
    assert shown["resource_action"] == "show"
    return share, rule, shown


def test_visibility_locks_go_with_the_share(share_api):
    """A rule locked only against being seen does not keep its share: when the share
    is deleted its rules go, and their locks with them (Manila's), none left listed."""
    client = share_api.client
    share, rule, shown = _hidden_rule(share_api)
    other = lock(client, share["id"])  # a share lock of its own is not touched: it refuses the delete
    fault(client.delete(f"/shares/{share['id']}"), 403)
    assert client.delete(f"/resource-locks/{other['id']}").status_code == 204
    share_api.delete_share(share["id"])
    fault(client.get(f"/resource-locks/{shown['id']}"), 404)
    assert client.get("/resource-locks", params={"resource_id": rule["id"]}).json()["resource_locks"] == []


def test_visibility_locks_go_when_the_share_is_unmanaged(share_api):
    """Unmanage forgets the share's rules: their locks go too."""
    client = share_api.client
    share, rule, shown = _hidden_rule(share_api)
    dataset = share_api.dataset(share["id"])
    try:
        assert share_api.action(share["id"], "unmanage").status_code == 202
        wait_gone(client, f"/shares/{share['id']}")
        fault(client.get(f"/resource-locks/{shown['id']}"), 404)
        assert client.get("/resource-locks", params={"resource_id": rule["id"]}).json()["resource_locks"] == []
    finally:
        if zfs_exists(dataset):
            destroy_dataset(dataset)
