"""Malformed input to the share API, as a fuzzer sends it: wrong JSON types, lone
surrogates and NUL in text, numbers past 2^63, deep nesting, odd query strings.
Each is a 4xx with an OpenStack fault body, the connection stays usable, and
nothing changes: not the shares, snapshots, types, rules, resource locks or metadata the API
shows, not the datasets on ZFS."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from .share_helpers import (
    share_api,  # noqa: F401 - fixture
    zfs_names,
)

pytestmark = pytest.mark.integration

HUGE = 2**63
LONE = "\ud800"


def raw(value) -> str:
    """JSON as ASCII, lone surrogates escaped (httpx would refuse to encode them)."""
    return json.dumps(value)


class Stock:
    """What the API and ZFS show; `same()` asserts nothing moved."""

    def __init__(self, api, share_id: str, snapshot_id: str, type_id: str, lock_id: str):
        self.api, self.ids = api, (share_id, snapshot_id, type_id, lock_id)
        self.before = self.state()

    def state(self):
        client = self.api.client
        share_id = self.ids[0]
        locks = client.get("/resource-locks", params={"all_projects": 1}).json()["resource_locks"]
        shares = client.get("/shares/detail", params={"all_tenants": 1}).json()["shares"]
        snaps = client.get("/snapshots/detail", params={"all_tenants": 1}).json()["snapshots"]
        types = client.get("/types", params={"is_public": "all"}).json()["share_types"]
        return (sorted((s["id"], s["status"], s["size"], s["name"], s["description"], json.dumps(s["metadata"]),
                        s["is_public"], s["task_state"], s["is_soft_deleted"]) for s in shares),
                sorted((s["id"], s["status"], s["name"], json.dumps(s["metadata"])) for s in snaps),
                sorted((t["id"], t["name"], json.dumps(t["extra_specs"], sort_keys=True)) for t in types),
                sorted((r["id"], r["state"]) for r in self.api.rules(share_id)),
                sorted((lock["id"], lock["resource_id"], lock["resource_action"], lock["lock_reason"])
                       for lock in locks),
                zfs_names(self.api.server.pool_root, "all"))

    def same(self):
        assert self.state() == self.before


@pytest.fixture
def stock(share_api):
    share = share_api.create_share(name="fuzz-target", metadata={"k": "v"})
    snap = share_api.create_snapshot(share["id"], name="fuzz-snap")
    name = f"fuzz-type-{uuid.uuid4().hex[:8]}"
    stype = share_api.client.post("/types", json={"share_type": {
        "name": name, "extra_specs": {"driver_handles_share_servers": "False"}}}).json()["share_type"]
    lock = share_api.client.post("/resource-locks", json={"resource_lock": {
        "resource_id": share["id"], "lock_reason": "fuzz"}}).json()["resource_lock"]
    yield Stock(share_api, share["id"], snap["id"], stype["id"], lock["id"])
    assert share_api.client.delete(f"/resource-locks/{lock['id']}").status_code == 204
    share_api.delete_snapshot(snap["id"])
    share_api.delete_share(share["id"])


def probes(share_id: str, snapshot_id: str, type_id: str, lock_id: str) -> list[tuple[str, str, dict]]:
    """(method, path, request kwargs) of requests that must each be refused."""
    s, a = f"/shares/{share_id}", f"/shares/{share_id}/action"
    out: list[tuple[str, str, dict]] = []

    def post(path, body):
        out.append(("POST", path, {"content": raw(body)}))

    def put(path, body):
        out.append(("PUT", path, {"content": raw(body)}))

    def get(path, **params):
        out.append(("GET", path, {"params": params}))

    base = {"share_proto": "NFS", "size": 1}
    for field, value in (("name", 123), ("name", ["x"]), ("name", f"a{LONE}"), ("name", "a\x00b"),
                         ("description", {"d": 1}), ("description", LONE), ("share_proto", 5),
                         ("share_proto", ["NFS"]), ("availability_zone", ["nova"]), ("availability_zone", {"z": 1}),
                         ("snapshot_id", ["x"]), ("snapshot_id", {"id": 1}), ("share_type", 7), ("share_type", [1]),
                         ("size", HUGE), ("size", -HUGE), ("size", 1e300), ("size", "1" * 40),
                         ("metadata", {"k": LONE}), ("metadata", {LONE: "v"}), ("metadata", {"k": "a\x00"}),
                         ("metadata", {"k": 1}), ("metadata", {"k": {"n": 1}}), ("is_public", "perhaps"),
                         ("is_public", [True])):
        post("/shares", {"share": {**base, field: value}})
    for value in (HUGE, "abc", None, [], {"n": 2}, 1.5, -1):
        post(a, {"extend": {"new_size": value}})
        post(a, {"shrink": {"new_size": value}})
    for arg in ({"access_type": "ip", "access_to": HUGE}, {"access_type": ["ip"], "access_to": "10.0.0.1"},
                {"access_type": "ip", "access_to": "10.0.0.1", "access_level": 5},
                {"access_type": "ip", "access_to": "10.0.0.1", "metadata": {"k": LONE}},
                {"access_type": "ip", "access_to": f"10.0.0.1{LONE}"}, []):
        post(a, {"allow_access": arg})
    for body in ({"revert": {"snapshot_id": 7}}, {"revert": {"snapshot_id": [snapshot_id]}},
                 {"reset_status": {"status": []}}, {"reset_status": {"status": LONE}},
                 {"reset_task_state": {"task_state": 5}}, {"deny_access": {"access_id": {"x": 1}}},
                 {"soft_delete": {"x": 1}, "restore": None}, {"extend": "2"}, {"allow_access": "x"}):
        post(a, body)
    for body in ({"share": {"display_name": 5}}, {"share": {"is_public": 2}}, {"share": {"name": LONE}},
                 {"share": {"description": ["x"]}}, {"share": []}):
        put(s, body)
    for body in ({"metadata": {"k": 5}}, {"metadata": []}, {"metadata": {"k": LONE}}, {"metadata": {"": "v"}},
                 {"metadata": {"k" * 300: "v"}}, {"metadata": "k=v"}):
        post(f"{s}/metadata", body)
        put(f"{s}/metadata", body)
        post(f"/snapshots/{snapshot_id}/metadata", body)
        put(f"/snapshots/{snapshot_id}/metadata", body)
    post(f"{s}/metadata/k", {"metadata": {"other": "v"}})
    post(f"/snapshots/{snapshot_id}/metadata/k", {"metadata": 5})
    for body in ({"snapshot": {"share_id": 7}}, {"snapshot": {"share_id": share_id, "name": 5}},
                 {"snapshot": {"share_id": share_id, "metadata": {"k": LONE}}},
                 {"snapshot": {"share_id": share_id, "description": LONE}}, {"snapshot": {"share_id": [share_id]}}):
        post("/snapshots", body)
    for body in ({"snapshot": {"name": []}}, {"snapshot": {"display_description": 5}},
                 {"snapshot": {"name": f"x{LONE}"}}):
        put(f"/snapshots/{snapshot_id}", body)
    for body in ({"share_type": {"name": 5, "extra_specs": {"driver_handles_share_servers": "False"}}},
                 {"share_type": {"name": "t", "extra_specs": []}},
                 {"share_type": {"name": "t", "extra_specs": {"driver_handles_share_servers": "False", "k": {"n": 1}}}},
                 {"share_type": {"name": "t", "extra_specs": {"driver_handles_share_servers": "False", "k": None}}},
                 {"share_type": {"name": f"t{LONE}", "extra_specs": {"driver_handles_share_servers": "False"}}},
                 {"share_type": {"name": "t", "extra_specs": {"driver_handles_share_servers": "False", LONE: "v"}}},
                 {"share_type": {"name": "t", "extra_specs": {"driver_handles_share_servers": "False"},
                                 "share_type_access:is_public": "perhaps"}},
                 {"share_type": {"name": "t", "description": 5, "extra_specs": {"driver_handles_share_servers": "False"}}}):
        post("/types", body)
    for body in ({"extra_specs": {LONE: "v"}}, {"extra_specs": {"k": LONE}}, {"extra_specs": {"k": 5.5}},
                 {"extra_specs": None}, {"extra_specs": "k=v"}):
        post(f"/types/{type_id}/extra_specs", body)
    for body in ({"k": {"n": 1}}, {"k": LONE}, {"k": "a\x00"}, {"k": 5.5}, {"k": None}, {"k": [1]},
                 {"k": "x" * 300}, {"k": "v", "j": "w"}, {}, {"j": "v"}, {"k": HUGE}):
        put(f"/types/{type_id}/extra_specs/k", body)
    put(f"/types/{type_id}/extra_specs/driver_handles_share_servers", {"driver_handles_share_servers": "maybe"})
    for body in ({"addProjectAccess": {"project": [1]}}, {"addProjectAccess": {"project": LONE}},
                 {"addProjectAccess": None}, {"addProjectAccess": "p"}, {"removeProjectAccess": {}},
                 {"removeProjectAccess": {"project": {"id": 1}}}, {"bogus": {"project": "p"}},
                 {"addProjectAccess": {"project": "p"}, "removeProjectAccess": {"project": "p"}}):
        post(f"/types/{type_id}/action", body)
    for lock in ({"resource_id": 5}, {"resource_id": [share_id]}, {"resource_id": f"{share_id}{LONE}"},
                 {"resource_id": share_id, "lock_reason": 5}, {"resource_id": share_id, "lock_reason": LONE},
                 {"resource_id": share_id, "lock_reason": "x" * 1024}, {"resource_id": share_id, "lock_reason": "a\x00"},
                 {"resource_id": share_id, "resource_type": ["share"]},
                 {"resource_id": share_id, "resource_action": {"a": 1}}, {"resource_id": share_id, "resource_action": HUGE}):
        post("/resource-locks", {"resource_lock": lock})
    for body in ({"resource_lock": []}, {"resource_lock": None}, {"resource_lock": "x"}, {}):
        post("/resource-locks", body)
        put(f"/resource-locks/{lock_id}", body)
    for lock in ({"resource_id": share_id}, {"lock_reason": 5}, {"lock_reason": LONE}, {"lock_reason": "y" * 1024},
                 {"resource_action": ["delete"]}, {"resource_action": "show"}, {"resource_action": 7},
                 {"lock_reason": "z", "project_id": "p"}):
        put(f"/resource-locks/{lock_id}", {"resource_lock": lock})
    put(f"/types/{type_id}", {"share_type": {"name": 5}})
    put(f"/types/{type_id}", {"share_type": {"description": LONE}})
    put(f"/types/{type_id}", {"share_type": {"share_type_access:is_public": "perhaps"}})
    post(f"/types/{type_id}/action", {"addProjectAccess": {"project": 5}})
    post("/share-replicas", {"share_replica": {"share_id": 7}})
    post("/shares/manage", {"share": {"export_path": 5, "service_host": ["h"], "protocol": "NFS"}})
    post("/snapshots/manage", {"snapshot": {"share_id": share_id, "provider_location": 5}})
    post(f"/share_instances/{share_id}/action", {"reset_status": {"status": [1]}})
    post(f"/snapshot-instances/{snapshot_id}/action", {"reset_status": "error"})
    for params in ({"size": "abc"}, {"limit": str(HUGE)}, {"limit": "-1"}, {"offset": str(HUGE * 4)},
                   {"offset": "x"}, {"metadata": "{[]: 1}"}, {"metadata": "[1]"},
                   {"metadata": "__import__('os')"}, {"sort_key": "bogus"}, {"sort_dir": "sideways"},
                   {"marker": str(uuid.uuid4())}, {"limit": "1e3"}, {"size": str(HUGE)}):
        get("/shares", **params)
        get("/shares/detail", **params)
    for params in ({"limit": str(HUGE)}, {"offset": "x"}, {"sort_key": "bogus"}):
        get("/snapshots", **params)
    get("/messages", limit=str(HUGE))
    get("/scheduler-stats/pools", pool="[")
    return out


def test_hostile_input_is_refused_and_changes_nothing(share_api, stock):
    client = share_api.client
    problems = []
    for method, path, kwargs in probes(*stock.ids):
        headers = {"Content-Type": "application/json"} if "content" in kwargs else {}
        try:
            resp = client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:  # the server dropped the connection
            problems.append(f"{method} {path} {kwargs}: {exc!r}")
            continue
        body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else None
        fine = 400 <= resp.status_code < 500 and isinstance(body, dict) and len(body) == 1
        if not fine or "close" in resp.headers.get("connection", ""):
            problems.append(f"{method} {path} {kwargs}: {resp.status_code} {resp.text[:200]}")
    assert not problems, "\n".join(problems)
    stock.same()


def test_deep_nesting_and_huge_bodies_are_refused(share_api, stock):
    client = share_api.client
    deep = "[" * 100000 + "]" * 100000
    for path in ("/shares", "/types", f"/shares/{stock.ids[0]}/action", f"/shares/{stock.ids[0]}/metadata"):
        resp = client.post(path, content=deep, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400, (path, resp.status_code, resp.text[:200])
    nested = '{"share": ' * 5000 + "{}" + "}" * 5000
    resp = client.post("/shares", content=nested, headers={"Content-Type": "application/json"})
    assert 400 <= resp.status_code < 500, resp.text[:200]
    assert client.get("/shares").status_code == 200  # the connection and the server carry on
    stock.same()
