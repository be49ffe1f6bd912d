"""Bad requests are refused with the right code and an OpenStack error body, and
change nothing: not the shares the API knows, not the datasets on the backend,
not the rules of an existing share."""

from __future__ import annotations

import uuid

import pytest

from .share_helpers import (
    fault,
    messages_for,
    share_api,  # noqa: F401 - fixture
    wait_for_status,
    zfs_names,
)

pytestmark = pytest.mark.integration


class Unchanged:
    """Take stock of shares, datasets and a share's rules; `check()` asserts none moved."""

    def __init__(self, api, share_id: str | None = None):
        self.api, self.share_id = api, share_id
        self.before = self.state()

    def state(self):
        shares = self.api.client.get("/shares/detail", params={"all_tenants": 1}).json()["shares"]
        rules = sorted(r["id"] for r in self.api.rules(self.share_id)) if self.share_id else []
        return ({(s["id"], s["status"], s["size"], s["name"]) for s in shares},
                zfs_names(self.api.server.pool_root, "all"), rules)

    def check(self):
        assert self.state() == self.before


@pytest.fixture
def target(share_api):
    """An available share that bad requests are aimed at."""
    share = share_api.create_share(name="target")
    yield share
    share_api.delete_share(share["id"])


@pytest.mark.parametrize("size", [0, -1, 1.5, "abc", "1.0", " ", True, None, [1], {"gb": 1}],
                         ids=repr)
def test_create_with_a_bad_size(share_api, size):
    stock = Unchanged(share_api)
    message = fault(share_api.client.post("/shares", json={"share": {"share_proto": "NFS", "size": size}}), 400)
    assert "size" in message
    stock.check()


@pytest.mark.parametrize("body,code", [
    ({"share": {"share_proto": "NFS", "size": 1, "share_type": "no-such-type"}}, 404),
    ({"share": {"share_proto": "NFS", "size": 1, "share_type": str(uuid.uuid4())}}, 404),
    ({"share": {"share_proto": "NFS", "size": 1, "snapshot_id": str(uuid.uuid4())}}, 404),
    ({"share": {"share_proto": "NFS", "size": 1, "availability_zone": "atlantis"}}, 404),
    ({"share": {"share_proto": "CIFS", "size": 1}}, 400),
    ({"share": {"size": 1}}, 400),
    ({"share": {"share_proto": "NFS", "size": 1, "name": "n" * 10 * 1024}}, 400),
    ({"share": {"share_proto": "NFS", "size": 1, "description": "d" * 10 * 1024}}, 400),
    ({"share": {"share_proto": "NFS", "size": 1, "metadata": ["not", "a", "dict"]}}, 400),
    ({"share": {"share_proto": "NFS", "size": 1, "metadata": {"k": 1}}}, 400),
    ({"share": "not an object"}, 400),
    ({"volume": {"share_proto": "NFS", "size": 1}}, 400),
], ids=["unknown-type-name", "unknown-type-id", "unknown-snapshot", "unknown-zone", "cifs", "no-proto",
        "10k-name", "10k-description", "metadata-list", "metadata-int", "share-not-object", "no-share-key"])
def test_create_with_bad_fields(share_api, body, code):
    stock = Unchanged(share_api)
    fault(share_api.client.post("/shares", json=body), code)
    stock.check()


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"42", b"null", b"{not json", b"\xff\xfe", b""],
                         ids=["list", "string", "number", "null", "invalid", "not-utf8", "empty"])
def test_a_body_that_is_not_a_json_object(share_api, target, raw):
    client = share_api.client
    stock = Unchanged(share_api, target["id"])
    headers = {"Content-Type": "application/json"}
    for method, path in (("POST", "/shares"), ("PUT", f"/shares/{target['id']}"),
                         ("POST", f"/shares/{target['id']}/action"), ("POST", "/snapshots"),
                         ("POST", "/types"), ("POST", "/shares/manage")):
        resp = client.request(method, path, content=raw, headers=headers)
        assert resp.status_code == 400, f"{method} {path} with {raw!r}: {resp.status_code} {resp.text}"
        body = resp.json()
        assert set(body) == {"badRequest"}, body
        assert body["badRequest"]["code"] == 400 and body["badRequest"]["message"], body
    stock.check()


@pytest.mark.parametrize("access_to", [
    "1.2.3.4/33", "300.1.1.1", "1.1.1.1;rm -rf /", "10.0.0.1/8", "", " ", "1.2.3", "$(reboot)",
    "1.1.1.1\n2.2.2.2", "x" * 300,
], ids=repr)
def test_allow_with_a_bad_address(share_api, target, access_to):
    stock = Unchanged(share_api, target["id"])
    resp = share_api.action(target["id"], "allow_access",
                            {"access_type": "ip", "access_to": access_to, "access_level": "rw"})
    fault(resp, 400)
    stock.check()


@pytest.mark.parametrize("arg", [
    {"access_type": "ip", "access_to": "10.0.0.1", "access_level": "xx"},
    {"access_type": "ip", "access_to": "10.0.0.1", "access_level": ""},
    {"access_type": "ipx", "access_to": "10.0.0.1", "access_level": "rw"},
    {"access_to": "10.0.0.1", "access_level": "rw"},
    {"access_type": "ip", "access_level": "rw"},
    {"access_type": "ip", "access_to": ["10.0.0.1"], "access_level": "rw"},
], ids=["level-xx", "level-empty", "type-ipx", "no-type", "no-target", "target-list"])
def test_allow_with_bad_fields(share_api, target, arg):
    stock = Unchanged(share_api, target["id"])
    fault(share_api.action(target["id"], "allow_access", arg), 400)
    stock.check()


def test_unknown_actions_ids_and_updates(share_api, target):
    api, client = share_api, share_api.client
    stock = Unchanged(api, target["id"])
    fault(api.action(target["id"], "os-frobnicate", {}), 400)
    fault(client.post(f"/shares/{target['id']}/action", json={"extend": {"new_size": 2}, "shrink": {"new_size": 1}}),
          400)
    fault(client.post(f"/shares/{target['id']}/action", json={}), 400)
    fault(api.action(target["id"], "deny_access", {"access_id": str(uuid.uuid4())}), 404)
    fault(api.action(target["id"], "deny_access", {"access_id": 7}), 400)
    fault(api.action(target["id"], "reset_status", {"status": "bogus"}), 400)
    fault(client.put(f"/shares/{target['id']}", json={"share": {"size": 99}}), 400)
    fault(client.put(f"/shares/{target['id']}", json={"share": {"name": "n" * 10 * 1024}}), 400)
    fault(client.put(f"/shares/{target['id']}", json={"share": {"is_public": "yes"}}), 400)
    missing = str(uuid.uuid4())
    fault(client.get(f"/shares/{missing}"), 404)
    fault(client.delete(f"/shares/{missing}"), 404)
    fault(api.action(missing, "extend", {"new_size": 2}), 404)
    fault(client.get(f"/snapshots/{missing}"), 404)
    fault(client.post("/snapshots", json={"snapshot": {"share_id": missing}}), 404)
    fault(client.post("/snapshots", json={"snapshot": {}}), 400)
    fault(client.get(f"/share-access-rules/{missing}"), 404)
    fault(client.get(f"/types/{missing}"), 404)
    stock.check()


@pytest.mark.parametrize("header,code", [
    ("abc", 400), ("2", 400), ("2.x", 400), ("2.01", 400), ("", None),
    ("2.99", 406), ("3.0", 406), ("1.0", 406), ("latest", None),
], ids=repr)
def test_microversion_negotiation(share_api, header, code):
    server = share_api.server
    stock = Unchanged(share_api)
    with server.client(version=None) as client:
        headers = {"X-OpenStack-Manila-API-Version": header} if header else {}
        resp = client.get("/shares", headers=headers)
        if code is None:
            assert resp.status_code == 200, resp.text
            want = "2.84" if header == "latest" else "2.0"
            assert resp.headers["X-OpenStack-Manila-API-Version"] == want
        else:
            fault(resp, code)
        # The same through the generic header.
        resp = client.post("/shares", json={"share": {"share_proto": "NFS", "size": 1}},
                           headers={"OpenStack-API-Version": f"shared-file-system {header}"} if header else {})
        if code is not None:
            fault(resp, code)
        else:
            assert resp.status_code == 200, resp.text
            share_api.delete_share(wait_for_status(client, f"/shares/{resp.json()['share']['id']}",
                                                   "available")["id"])
    stock.check()


def test_a_share_larger_than_any_pool_ends_in_error_with_a_reason(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    datasets = zfs_names(server.pool_root, "all")
    share = api.create_share(size=10000, wait=None)
    share = wait_for_status(client, f"/shares/{share['id']}", "error")
    assert share["size"] == 10000
    assert "10000" in share["status_reason"]
    notes = messages_for(client, share["id"])
    assert len(notes) == 1 and notes[0]["detail_id"] == "002", notes  # no valid host
    assert "no pool can hold this share" in notes[0]["user_message"]
    assert zfs_names(server.pool_root, "all") == datasets  # nothing on the backend
    api.delete_share(share["id"])
    assert zfs_names(server.pool_root, "all") == datasets
