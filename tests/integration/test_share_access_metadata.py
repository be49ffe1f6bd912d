"""Access rule metadata (Manila 2.45): given with the rule, merged by PUT, one key
deleted; bad metadata is a 400 that changes nothing; the rule stays active and
the client it names can still write over NFS."""

from __future__ import annotations

import pytest

from .share_helpers import (
    assert_nfs_writable,
    fault,
    share_api,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.integration


def test_access_rule_metadata(share_api):
    api, client = share_api, share_api.client
    share = api.create_share(name="rule-metadata")
    resp = api.action(share["id"], "allow_access", {"access_type": "ip", "access_to": "127.0.0.1",
                                                    "access_level": "rw", "metadata": {"a": "1"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["access"]["state"] == "queued_to_apply"  # as Manila answers a new rule
    rule = api.rules(share["id"])[0]
    path = f"/share-access-rules/{rule['id']}/metadata"
    assert client.put(path, json={"metadata": {"b": "2"}}).json() == {"metadata": {"a": "1", "b": "2"}}
    for bad in ({"metadata": {"": "x"}}, {"metadata": {"k" * 256: "x"}}, {"metadata": {"k": "v" * 1024}},
                {"metadata": []}, {"nothing": {}}):
        fault(client.put(path, json=bad), 400)
    fault(client.put(path, json={"metadata": {"c": "3"}}, headers={"X-OpenStack-Manila-API-Version": "2.44"}), 404)
    assert client.delete(f"{path}/a").status_code == 200
    fault(client.delete(f"{path}/a"), 404)
    fault(client.put("/share-access-rules/no-such-rule/metadata", json={"metadata": {"a": "1"}}), 404)
    shown = client.get(f"/share-access-rules/{rule['id']}").json()["access"]
    assert shown["metadata"] == {"b": "2"} and shown["state"] == "active"
    assert_nfs_writable(api.server, api.mountpoint(share["id"]), "still-allowed.txt")
    api.delete_share(share["id"])


def test_rules_listed_by_metadata(share_api):
    """`?metadata=` on the rules list, as Manila's client and Tempest send it (a Python
    literal of a dict): the rules that have every pair; a malformed one is a 400."""
    api, client = share_api, share_api.client
    share = api.create_share(name="rule-metadata-filter")
    ids = {}
    for to, metadata in (("10.0.0.1", {"k": "1", "team": "a"}), ("10.0.0.2", {"k": "1"}), ("10.0.0.3", {})):
        resp = api.action(share["id"], "allow_access", {"access_type": "ip", "access_to": to, "access_level": "ro",
                                                        "metadata": metadata})
        assert resp.status_code == 200, resp.text
        ids[to] = resp.json()["access"]["id"]

    def listed(metadata: str) -> set[str]:
        resp = client.get("/share-access-rules", params={"share_id": share["id"], "metadata": metadata})
        assert resp.status_code == 200, resp.text
        return {r["id"] for r in resp.json()["access_list"]}

    assert listed(str({"k": "1", "team": "a"})) == {ids["10.0.0.1"]}
    assert listed("{'k': '1'}") == {ids["10.0.0.1"], ids["10.0.0.2"]}
    assert listed('{"team": "b"}') == set()
    assert listed("{}") == set(ids.values())
    for bad in ("[1]", "{'k': 1}", "k=1", "__import__('os')", "{" * 200):
        fault(client.get("/share-access-rules", params={"share_id": share["id"], "metadata": bad}), 400)
    api.delete_share(share["id"])
