"""Share types and availability zones as Manila's API treats them: types listed by
their extra specs (2.43+; `availability_zones` matched as a subset, a type with no
zones matching any), and a share created below 2.48 placed regardless of its
type's `availability_zones` (from 2.48 the spec binds)."""

from __future__ import annotations

import uuid

import pytest

from .share_helpers import fault, share_api, wait_for_status  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

V = "X-OpenStack-Manila-API-Version"
DHSS = {"driver_handles_share_servers": "False"}


def _type(client, name: str, **specs) -> dict:
    resp = client.post("/types", json={"share_type": {"name": name, "extra_specs": {**DHSS, **specs}}})
    assert resp.status_code == 200, resp.text
    return resp.json()["share_type"]


def _listed(client, search: dict, version: str = "2.84") -> set[str]:
    resp = client.get("/types", params={"extra_specs": repr(search), "is_public": "all"}, headers={V: version})
    assert resp.status_code == 200, resp.text
    return {t["id"] for t in resp.json()["share_types"]}


def test_types_listed_by_extra_specs(share_api):
    client = share_api.client
    name = f"search-{uuid.uuid4().hex[:8]}"
    zoned = _type(client, f"{name}-zoned", availability_zones="az1, az2, az 3", flavour=name)
    anywhere = _type(client, f"{name}-any", flavour=name)
    other = _type(client, f"{name}-other", flavour="other")
    for zones in ("az1", "az 3", "az1,  az 3", "az2, az 3, az1"):
        found = _listed(client, {"availability_zones": zones})
        assert {zoned["id"], anywhere["id"]} <= found, zones
    found = _listed(client, {"availability_zones": "az1,az_that_doesnt_exist"})
    assert anywhere["id"] in found and zoned["id"] not in found
    # every other spec must be set to the value asked for
    assert _listed(client, {"flavour": name}) == {zoned["id"], anywhere["id"]}
    assert _listed(client, {"flavour": name, "availability_zones": "az9"}) == {anywhere["id"]}
    assert other["id"] in _listed(client, {})
    # not before 2.43; not anything but a dictionary
    fault(client.get("/types", params={"extra_specs": repr({"flavour": name})}, headers={V: "2.42"}), 400)
    for bad in ("['a']", "{", "os.system('x')"):
        fault(client.get("/types", params={"extra_specs": bad}), 400)


def test_a_share_below_2_48_ignores_its_types_zones(share_api):
    client = share_api.client
    zones = {z["name"] for z in client.get("/availability-zones").json()["availability_zones"]}
    stype = _type(client, f"elsewhere-{uuid.uuid4().hex[:8]}", availability_zones="az_that_doesnt_exist")
    body = {"share": {"share_proto": "NFS", "size": 1, "share_type": stype["id"]}}
    resp = client.post("/shares", json=body, headers={V: "2.47"})
    assert resp.status_code == 200, resp.text
    share = wait_for_status(client, f"/shares/{resp.json()['share']['id']}", "available")
    assert share["availability_zone"] in zones
    # even when it names a zone the type does not list
    zone = share["availability_zone"]
    resp = client.post("/shares", json={"share": {**body["share"], "availability_zone": zone}}, headers={V: "2.47"})
    assert resp.status_code == 200, resp.text
    wait_for_status(client, f"/shares/{resp.json()['share']['id']}", "available")
    # from 2.48 the spec binds: that zone is refused at once
    fault(client.post("/shares", json={"share": {**body["share"], "availability_zone": zone}}), 400)
