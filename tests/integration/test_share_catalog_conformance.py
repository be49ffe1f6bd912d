"""The admin catalogue answers as Manila's do, per microversion: services and their
filters, pools and their filters (a share type's specs matched against what the
pools report, as Manila's scheduler matches them), share types before and after
2.24/2.41/2.50, and the extra-spec calls (one spec updated with PUT, the
required ones kept). A type asking for what no pool has places nothing: the
share ends in error with a user message, and no dataset is made."""

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

V = "X-OpenStack-Manila-API-Version"
DHSS = {"driver_handles_share_servers": "False"}


def test_services_filters_and_names_per_version(share_api):
    client = share_api.client
    every = client.get("/services").json()["services"]
    assert {s["binary"] for s in every} == {"manila-share", "manila-scheduler"}
    assert all(s["updated_at"] for s in every)
    share_service = next(s for s in every if s["binary"] == "manila-share")
    for key in ("host", "binary", "zone", "state", "status"):
        found = client.get("/services", params={key: share_service[key]}).json()["services"]
        assert found and all(s[key] == share_service[key] for s in found), (key, found)
        assert client.get("/services", params={key: "fake"}).json()["services"] == []
    # a parameter that is no filter is ignored
    assert len(client.get("/services", params={"fake_param": "x"}).json()["services"]) == len(every)
    # /os-services below 2.7, /services from 2.7
    fault(client.get("/os-services"), 404)
    fault(client.get("/services", headers={V: "2.6"}), 404)
    assert client.get("/os-services", headers={V: "2.6"}).json()["services"]


def test_pool_filters_are_anchored_patterns_and_share_types(share_api):
    client = share_api.client
    (pool,) = [p for p in client.get("/scheduler-stats/pools").json()["pools"] if p["backend"] == "test"]
    exact = {k: f"^{pool[k]}$" for k in ("host", "backend", "pool")}
    for path in ("/scheduler-stats/pools", "/scheduler-stats/pools/detail"):
        assert [p["name"] for p in client.get(path, params=exact).json()["pools"]] == [pool["name"]]
        assert client.get(path, params={"host": "foo", "backend": "bar", "pool": "shark"}).json()["pools"] == []
        assert client.get(path, params={"no_such_field": "x"}).json()["pools"] == []
    fault(client.get("/scheduler-stats/pools", params={"pool": "(unclosed"}), 400)

    name = f"pools-{uuid.uuid4().hex[:8]}"
    good = client.post("/types", json={"share_type": {"name": name, "extra_specs": DHSS}}).json()["share_type"]
    bad = client.post("/types", json={"share_type": {"name": f"{name}-x", "extra_specs": {
        **DHSS, "share_backend_name": "no-such-backend"}}}).json()["share_type"]
    for stype in (good, bad):
        for key in ("id", "name"):
            found = client.get("/scheduler-stats/pools", params={"share_type": stype[key]}).json()["pools"]
            assert (pool["name"] in {p["name"] for p in found}) == (stype is good), (stype, found)
    fault(client.get("/scheduler-stats/pools", params={"share_type": "no-such-type"}), 400)
    # before 2.23 share_type is no filter of Manila's, so it names no field: nothing matches
    assert client.get("/scheduler-stats/pools", params={"share_type": good["id"]},
                      headers={V: "2.22"}).json()["pools"] == []


def test_a_type_no_pool_meets_places_nothing(share_api):
    client = share_api.client
    name = f"nowhere-{uuid.uuid4().hex[:8]}"
    stype = client.post("/types", json={"share_type": {"name": name, "extra_specs": {
        **DHSS, "vendor_name": "foobar"}}}).json()["share_type"]
    datasets = zfs_names(share_api.server.pool_root)
    resp = client.post("/shares", json={"share": {"share_proto": "NFS", "size": 1, "share_type": stype["id"]}})
    assert resp.status_code == 200, resp.text
    share = wait_for_status(client, f"/shares/{resp.json()['share']['id']}", "error")
    assert "vendor_name" in share["status_reason"]
    assert any("vendor_name" in m["user_message"] for m in messages_for(client, share["id"]))
    assert zfs_names(share_api.server.pool_root) == datasets
    (note,) = messages_for(client, share["id"])
    assert note["user_message"].startswith("allocate host: No storage could be allocated for this share request")
    assert note["expires_at"] > note["created_at"]
    # messages sorted, paged and filtered by time as Manila's
    again = client.post("/shares", json={"share": {"share_proto": "NFS", "size": 1, "share_type": stype["id"]}})
    wait_for_status(client, f"/shares/{again.json()['share']['id']}", "error")
    page = client.get("/messages", params={"sort_key": "resource_id", "sort_dir": "asc", "limit": 1}).json()
    assert len(page["messages"]) == 1 and page["messages_links"][0]["rel"] == "next"
    every = client.get("/messages", params={"sort_key": "resource_id", "sort_dir": "asc"}).json()["messages"]
    assert [m["resource_id"] for m in every] == sorted(m["resource_id"] for m in every)
    assert page["messages"][0]["id"] == every[0]["id"]
    later = client.get("/messages", params={"created_since": note["created_at"]}).json()["messages"]
    assert note["id"] in {m["id"] for m in later}
    before = client.get("/messages", params={"created_before": note["created_at"]}).json()["messages"]
    assert note["id"] not in {m["id"] for m in before}
    fault(client.get("/messages", params={"created_since": "invalid_time"}), 400)
    fault(client.get("/messages", params={"sort_key": "bogus"}), 400)
    # the share type's own capabilities still place shares
    ok = client.post("/types", json={"share_type": {"name": f"{name}-ok", "extra_specs": {
        **DHSS, "vendor_name": "Shoal", "snapshot_support": "<is> True", "availability_zones": "nova"}}})
    share_api.create_share(share_type=ok.json()["share_type"]["id"])


def test_share_types_per_microversion(share_api):
    client = share_api.client
    name = f"old-{uuid.uuid4().hex[:8]}"
    # before 2.24 snapshot_support is implied, and stored, when not given
    old = client.post("/types", json={"share_type": {"name": name, "extra_specs": {**DHSS, "key": "value"}}},
                      headers={V: "2.0"}).json()
    assert old["share_type"]["extra_specs"] == {**DHSS, "key": "value", "snapshot_support": "True"}
    assert "os-share-type-access:is_public" in old["share_type"] and "description" not in old["share_type"]
    assert old["volume_type"] == old["share_type"]
    # a description only from 2.41
    fault(client.post("/types", json={"share_type": {"name": f"{name}-d", "extra_specs": DHSS,
                                                     "description": "too early"}}, headers={V: "2.40"}), 400)
    new = client.post("/types", json={"share_type": {"name": f"{name}-n", "extra_specs": DHSS,
                                                     "description": "described"}}).json()["share_type"]
    assert new["extra_specs"] == DHSS and new["description"] == "described"
    # an empty description unsets it (2.50 update)
    updated = client.put(f"/types/{new['id']}", json={"share_type": {"description": ""}}).json()["share_type"]
    assert updated["description"] is None
    # a share of the type shows the type's name below 2.6, its id and name from 2.6
    share = share_api.create_share(share_type=new["id"])
    assert client.get(f"/shares/{share['id']}", headers={V: "2.5"}).json()["share"]["share_type"] == new["name"]
    latest = client.get(f"/shares/{share['id']}").json()["share"]
    assert (latest["share_type"], latest["share_type_name"]) == (new["id"], new["name"])
    share_api.delete_share(share["id"])


def test_extra_spec_calls(share_api):
    client = share_api.client
    stype = client.post("/types", json={"share_type": {"name": f"specs-{uuid.uuid4().hex[:8]}",
                                                       "extra_specs": {**DHSS, "snapshot_support": "True",
                                                                       "key": "value"}}}).json()["share_type"]
    path = f"/types/{stype['id']}/extra_specs"
    resp = client.put(f"{path}/key", json={"key": "new"})
    assert resp.status_code == 200 and resp.json() == {"key": "new"}, resp.text
    assert client.get(f"{path}/key").json() == {"key": "new"}
    fault(client.put(f"{path}/key", json={"other": "x"}), 400)
    fault(client.put(f"{path}/key", json={"key": "x", "other": "y"}), 400)
    fault(client.put(f"{path}/key", json={"key": "v" * 256}), 400)
    fault(client.put(f"/types/{uuid.uuid4()}/extra_specs/key", json={"key": "x"}), 404)
    fault(client.get(f"{path}/"), 404)  # an empty key
    assert client.post(path, json={"extra_specs": {"more": "yes"}}).json() == {"extra_specs": {"more": "yes"}}
    fault(client.post(path, json={"extra_specs": {"": "x"}}), 400)
    # the required spec never goes; snapshot_support not before 2.24
    fault(client.delete(f"{path}/driver_handles_share_servers"), 403)
    fault(client.delete(f"{path}/snapshot_support", headers={V: "2.23"}), 403)
    assert client.delete(f"{path}/snapshot_support").status_code == 202
    assert client.get(path).json()["extra_specs"] == {**DHSS, "key": "new", "more": "yes"}


def test_availability_zones_of_a_type(share_api):
    """Manila's sanitizing of the availability_zones spec, and a share asked for in a
    zone its type does not allow refused at once (400, nothing made)."""
    client = share_api.client
    name = f"zones-{uuid.uuid4().hex[:8]}"
    stype = client.post("/types", json={"share_type": {"name": name, "extra_specs": {
        **DHSS, "availability_zones": " nova , elsewhere"}}}).json()["share_type"]
    assert stype["extra_specs"]["availability_zones"] == "nova,elsewhere"
    for spec in ("az1,     az2, az 3,  ", "az1,,az 3", ",az2,  az 3"):
        fault(client.post("/types", json={"share_type": {"name": f"{name}-bad", "extra_specs": {
            **DHSS, "availability_zones": spec}}}), 400)
    fault(client.put(f"/types/{stype['id']}/extra_specs/availability_zones", json={"availability_zones": "a,,b"}),
          400)
    resp = client.put(f"/types/{stype['id']}/extra_specs/availability_zones", json={"availability_zones": "elsewhere"})
    assert resp.json() == {"availability_zones": "elsewhere"}, resp.text
    datasets = zfs_names(share_api.server.pool_root)
    fault(client.post("/shares", json={"share": {"share_proto": "NFS", "size": 1, "share_type": stype["id"],
                                                 "availability_zone": "nova"}}), 400)
    assert zfs_names(share_api.server.pool_root) == datasets


def test_a_forced_user_or_type_quota_may_exceed_the_projects(share_api):
    """Manila's quota-set update: a user's or a share type's limit above the project's is a
    400, unless `force` (the project's limit still binds what is made)."""
    project = uuid.uuid4().hex
    with share_api.server.client(project=project) as client:
        stype = client.post("/types", json={"share_type": {"name": f"quota-{project[:8]}",
                                                           "extra_specs": DHSS}}).json()["share_type"]
        assert client.put(f"/quota-sets/{project}", json={"quota_set": {"shares": 10}}).status_code == 200
        for params in ({"user_id": "someone"}, {"share_type": stype["name"]}):
            for limit in (11, -1):  # unlimited is above any limit too
                fault(client.put(f"/quota-sets/{project}", params=params, json={"quota_set": {"shares": limit}}),
                      400)
            resp = client.put(f"/quota-sets/{project}", params=params,
                              json={"quota_set": {"shares": 11, "force": True}})
            assert resp.status_code == 200 and resp.json()["quota_set"]["shares"] == 11, resp.text
        assert client.get(f"/quota-sets/{project}").json()["quota_set"]["shares"] == 10
        client.delete(f"/quota-sets/{project}")
        fault(client.delete("/quota-sets/"), 404)
        assert client.delete(f"/types/{stype['id']}").status_code == 202
