"""Share networks, their subnets and security services, as Manila keeps them for a
cloud whose backends do not handle share servers: records of a project, with
Manila's views per microversion, filters, quota, and Manila's status codes; and a
share asked for on a share network of a DHSS=False type is refused, changing nothing."""

from __future__ import annotations

import json
import uuid

import pytest

from .share_helpers import (
    fault,
    share_api,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.integration

V = "X-OpenStack-Manila-API-Version"


@pytest.fixture
def client(share_api):
    """The project's client; every network and security service it made is removed afterwards."""
    client = share_api.client
    yield client
    for sn in client.get("/share-networks").json()["share_networks"]:
        network = client.get(f"/share-networks/{sn['id']}").json()["share_network"]
        for sub in network["share_network_subnets"][1:]:
            client.delete(f"/share-networks/{sn['id']}/subnets/{sub['id']}")
        for ss in client.get("/security-services", params={"share_network_id": sn["id"]}).json()["security_services"]:
            client.post(f"/share-networks/{sn['id']}/action", json={"remove_security_service": {
                "security_service_id": ss["id"]}})
        assert client.delete(f"/share-networks/{sn['id']}").status_code == 202
    for ss in client.get("/security-services").json()["security_services"]:
        assert client.delete(f"/security-services/{ss['id']}").status_code == 202


def test_security_services(client):
    tag = uuid.uuid4().hex[:8]
    data = {"type": "ldap", "name": f"ss-{tag}", "description": "d", "dns_ip": "10.0.0.1", "server": "srv",
            "domain": "example.org", "user": "u", "password": "secret", "ou": "OU=x"}
    resp = client.post("/security-services", json={"security_service": data})
    assert resp.status_code == 200, resp.text
    ss = resp.json()["security_service"]
    assert data.items() <= ss.items() and ss["status"] == "new" and ss["default_ad_site"] is None
    old = client.get(f"/security-services/{ss['id']}", headers={V: "2.43"}).json()["security_service"]
    assert "ou" not in old and "default_ad_site" not in old
    listed = client.get("/security-services").json()["security_services"]
    assert {"id": ss["id"], "name": data["name"], "type": "ldap", "status": "new"} in listed
    detail = client.get("/security-services/detail", params={"name": data["name"], "dns_ip": "10.0.0.1"}).json()[
        "security_services"]
    assert [s["id"] for s in detail] == [ss["id"]] and detail[0]["share_networks"] == []
    # an administrator's unknown filter is kept and matches nothing (Manila's remove_invalid_options)
    assert client.get("/security-services", params={"fake_opt": "x"}).json()["security_services"] == []
    assert client.get("/security-services/detail", params={"user": "nobody"}).json()["security_services"] == []
    updated = client.put(f"/security-services/{ss['id']}", json={"security_service": {"name": "n2", "user": "v"}})
    assert updated.status_code == 200 and updated.json()["security_service"]["user"] == "v"
    # Manila's 400s, that change nothing
    for body in ({"type": ""}, {"type": "wrong_type"}, {"type": "ldap", "name": 5},
                 {"type": "active_directory", "server": "s", "default_ad_site": "site"}):
        fault(client.post("/security-services", json={"security_service": body}), 400)
    fault(client.post("/security-services", headers={V: "2.75"},
                      json={"security_service": {"type": "kerberos", "default_ad_site": "site"}}), 400)
    assert len(client.get("/security-services").json()["security_services"]) == 1
    for path in ("/security-services/wrong_id", f"/security-services/{uuid.uuid4()}", "/security-services/"):
        fault(client.get(path), 404)
        fault(client.delete(path), 404)
        fault(client.put(path, json={"security_service": {"name": "x"}}), 404)
    assert client.delete(f"/security-services/{ss['id']}").status_code == 202
    fault(client.get(f"/security-services/{ss['id']}"), 404)


def test_share_network_views_filters_and_security_services(client):
    net = {"name": "sn_with_ldap_ss", "neutron_net_id": "1111", "neutron_subnet_id": "2222",
           "created_at": "2002-02-02", "updated_at": None, "network_type": "vlan", "segmentation_id": 1000,
           "cidr": "10.0.0.0/24", "ip_version": 4, "description": "fake description",
           "cleanup_in_class": True}  # an unknown key is ignored, as Manila's
    resp = client.post("/share-networks", headers={V: "2.0"}, json={"share_network": net})
    assert resp.status_code == 200, resp.text
    sn = resp.json()["share_network"]
    assert sn["created_at"] == "2002-02-02T00:00:00.000000" and sn["nova_net_id"] is None
    assert {k: sn[k] for k in ("neutron_net_id", "cidr", "ip_version", "segmentation_id", "network_type")} == {
        "neutron_net_id": "1111", "cidr": "10.0.0.0/24", "ip_version": 4, "segmentation_id": 1000,
        "network_type": "vlan"}  # the caller is an administrator here (noauth)
    assert "gateway" not in sn and "mtu" not in sn and "share_network_subnets" not in sn
    new = client.get(f"/share-networks/{sn['id']}").json()["share_network"]
    assert "neutron_net_id" not in new and new["status"] == "active"
    assert new["security_service_update_support"] is True and new["network_allocation_update_support"] is True
    default, = new["share_network_subnets"]
    assert default["availability_zone"] is None and default["neutron_subnet_id"] == "2222"
    assert default["metadata"] == {}
    assert "metadata" not in client.get(f"/share-networks/{sn['id']}", headers={V: "2.77"}).json()[
        "share_network"]["share_network_subnets"][0]

    other = client.post("/share-networks", json={"share_network": {"name": "plain"}}).json()["share_network"]
    detail = "/share-networks/detail"
    found = client.get(detail, headers={V: "2.0"}, params={
        "created_before": "2002-10-10", "created_since": "2001-01-01", "neutron_net_id": "1111",
        "cidr": "10.0.0.0/24", "ip_version": 4, "name": "sn_with_ldap_ss"}).json()["share_networks"]
    assert [s["id"] for s in found] == [sn["id"]]
    assert [s["id"] for s in client.get(detail, params={"name~": "ldap_ss", "description~": "fa"}).json()[
        "share_networks"]] == [sn["id"]]
    assert client.get(detail, params={"name~": "fake_not_exist"}).json()["share_networks"] == []
    assert {s["id"] for s in client.get("/share-networks").json()["share_networks"]} == {sn["id"], other["id"]}
    assert client.get("/share-networks").json()["share_networks"][0].keys() == {"id", "name"}
    fault(client.get(detail, params={"created_since": "2014-10-23T08:31:58.000000"}), 400)

    ldap = client.post("/security-services", json={"security_service": {"type": "ldap"}}).json()["security_service"]
    ldap2 = client.post("/security-services", json={"security_service": {"type": "ldap"}}).json()["security_service"]
    kerberos = client.post("/security-services", json={"security_service": {
        "type": "kerberos"}}).json()["security_service"]
    action = f"/share-networks/{sn['id']}/action"
    resp = client.post(action, json={"add_security_service": {"security_service_id": ldap["id"]}})
    assert resp.status_code == 200 and resp.json()["share_network"]["id"] == sn["id"]
    fault(client.post(action, json={"add_security_service": {"security_service_id": ldap["id"]}}), 409)
    fault(client.post(action, json={"add_security_service": {"security_service_id": ldap2["id"]}}), 409)
    fault(client.post(action, json={"add_security_service": {"security_service_id": "wrong_ss_id"}}), 404)
    fault(client.post("/share-networks/wrong_sn_id/action",
                      json={"add_security_service": {"security_service_id": ldap["id"]}}), 404)
    fault(client.post(action, json={"add_security_service": {}}), 400)
    assert [s["id"] for s in client.get("/security-services", params={"share_network_id": sn["id"]}).json()[
        "security_services"]] == [ldap["id"]]
    fault(client.get("/security-services", params={"share_network_id": "wrong_id"}), 404)
    assert [s["id"] for s in client.get(detail, params={"security_service_id": ldap["id"]}).json()[
        "share_networks"]] == [sn["id"]]
    assert client.get("/security-services/detail", params={"id": ldap["id"]}).json()["security_services"][0][
        "share_networks"] == [sn["id"]]
    fault(client.delete(f"/security-services/{ldap['id']}"), 403)  # still in a share network

    # 2.63: replace one by another of its type, and the checks (no share servers: compatible)
    check = client.post(action, json={"update_security_service_check": {
        "current_service_id": ldap["id"], "new_service_id": ldap2["id"]}})
    assert check.status_code == 202 and check.json()["compatible"] is True
    assert check.json()["requested_operation"]["operation"] == "update_security_service"
    fault(client.post(action, json={"update_security_service": {
        "current_service_id": ldap["id"], "new_service_id": kerberos["id"]}}), 409)
    resp = client.post(action, json={"update_security_service": {
        "current_service_id": ldap["id"], "new_service_id": ldap2["id"]}})
    assert resp.status_code == 202, resp.text
    fault(client.post(action, headers={V: "2.62"}, json={"update_security_service": {
        "current_service_id": ldap2["id"], "new_service_id": ldap["id"]}}), 404)
    fault(client.post(action, json={"remove_security_service": {"security_service_id": ldap["id"]}}), 400)
    assert client.post(action, json={"remove_security_service": {
        "security_service_id": ldap2["id"]}}).status_code == 200
    assert client.get("/security-services", params={"share_network_id": sn["id"]}).json()["security_services"] == []

    updated = client.put(f"/share-networks/{sn['id']}", headers={V: "2.0"}, json={"share_network": {
        "name": "renamed", "neutron_net_id": "n2", "neutron_subnet_id": "s2"}}).json()["share_network"]
    assert updated["name"] == "renamed" and updated["neutron_net_id"] == "n2"
    fault(client.put(f"/share-networks/{other['id']}", json={"share_network": {"neutron_net_id": "x"}}), 400)
    fault(client.put(f"/share-networks/{sn['id']}", json={"share_network": {"nova_net_id": "x"}}), 400)
    fault(client.put("/share-networks/wrong_id", json={"share_network": {"name": "x"}}), 404)
    for path in ("/share-networks/", "/share-networks/wrong_id"):
        fault(client.get(path), 404)
        fault(client.delete(path), 404)
        fault(client.put(path, json={"share_network": {"name": "x"}}), 404)
    fault(client.post("/share-networks/action", json={"add_security_service": {"security_service_id": "x"}}), 404)
    fault(client.post("/share-networks", json={"share_network": {"availability_zone": "nowhere"}}), 400)
    fault(client.post("/share-networks", json={"share_network": {"neutron_net_id": "only-one"}}), 400)


def test_no_share_on_a_share_network(client, share_api):
    """Every backend is DHSS=False: a share asked for on a share network is a 400 that
    makes nothing (an unknown network, 404)."""
    sn = client.post("/share-networks", json={"share_network": {"name": "for-shares"}}).json()["share_network"]
    before = {s["id"] for s in client.get("/shares", params={"all_tenants": 1}).json()["shares"]}
    body = {"share_proto": "NFS", "size": 1, "share_network_id": sn["id"]}
    assert "driver_handles_share_servers" in fault(client.post("/shares", json={"share": body}), 400)
    fault(client.post("/shares", json={"share": {**body, "share_network_id": str(uuid.uuid4())}}), 404)
    assert {s["id"] for s in client.get("/shares", params={"all_tenants": 1}).json()["shares"]} == before


def test_subnets_and_their_metadata(client):
    sn = client.post("/share-networks", json={"share_network": {"name": "with-subnets"}}).json()["share_network"]
    zone = client.get("/availability-zones").json()["availability_zones"][0]["name"]
    path = f"/share-networks/{sn['id']}/subnets"
    data = {"neutron_net_id": "net", "neutron_subnet_id": "sub", "availability_zone": zone,
            "share_network_id": sn["id"]}
    resp = client.post(path, json={"share-network-subnet": {**data, "metadata": {"k": "v"}}})
    assert resp.status_code == 200, resp.text
    subnet = resp.json()["share_network_subnet"]
    assert sorted(subnet) == sorted(["share_network_name", "id", "network_type", "cidr", "ip_version",
                                     "neutron_net_id", "neutron_subnet_id", "created_at", "updated_at",
                                     "segmentation_id", "availability_zone", "gateway", "share_network_id", "mtu",
                                     "metadata"])
    assert data.items() <= subnet.items() and subnet["metadata"] == {"k": "v"}
    assert subnet["share_network_name"] == "with-subnets"
    assert client.get(f"{path}/{subnet['id']}").json()["share_network_subnet"]["id"] == subnet["id"]
    assert len(client.get(path).json()["share_network_subnets"]) == 2
    fault(client.delete(f"/share-networks/{sn['id']}"), 409)  # more than one subnet
    # one subnet per zone below 2.70; several from 2.70
    fault(client.post(path, headers={V: "2.69"}, json={"share-network-subnet": {"availability_zone": zone}}), 409)
    fault(client.post(path, json={"share-network-subnet": {"availability_zone": "non-existent-az"}}), 400)
    fault(client.post(path, json={"share-network-subnet": {"neutron_subnet_id": "alone"}}), 400)
    fault(client.post("/share-networks/fake_inexistent_id/subnets", json={"share-network-subnet": {}}), 404)
    fault(client.get(f"{path}/fake-subnet"), 404)
    fault(client.get(path, headers={V: "2.50"}), 404)
    check = client.post(f"/share-networks/{sn['id']}/action", json={"share_network_subnet_create_check": {
        "availability_zone": zone, "neutron_net_id": None, "neutron_subnet_id": None, "reset": False}})
    assert check.status_code == 202 and check.json() == {"compatible": True, "hosts_check_result": {}}

    meta = f"{path}/{subnet['id']}/metadata"
    assert client.post(meta, json={"metadata": {"key.5.1": "value.5"}}).json()["metadata"] == {
        "k": "v", "key.5.1": "value.5"}
    assert client.get(f"{meta}/key.5.1").json() == {"meta": {"key.5.1": "value.5"}}
    assert client.put(meta, json={"metadata": {"only": "this"}}).json()["metadata"] == {"only": "this"}
    for bad in ({"": "value"}, {"x" * 256: "value"}, {"key": "x" * 1024}):
        fault(client.post(meta, json={"metadata": bad}), 400)
        fault(client.put(meta, json={"metadata": bad}), 400)
    assert client.get(meta).json()["metadata"] == {"only": "this"}
    fault(client.post(f"{path}/wrong_subnet_id/metadata", json={"metadata": {"a": "b"}}), 404)
    fault(client.delete(f"{meta}/wrong_key"), 404)
    assert client.delete(f"{meta}/only").status_code == 200
    assert client.get(meta).json()["metadata"] == {}
    fault(client.get(meta, headers={V: "2.77"}), 404)

    assert client.delete(f"{path}/{subnet['id']}").status_code == 202
    fault(client.get(f"{path}/{subnet['id']}"), 404)
    fault(client.delete(f"{path}/{subnet['id']}"), 404)
    assert client.get(f"/share-networks/{sn['id']}").json()["share_network"]["share_network_subnets"][0][
        "availability_zone"] is None


def test_share_network_quota_and_projects(client, share_api):
    with share_api.server.client(project=uuid.uuid4().hex) as other:
        mine = other.post("/share-networks", json={"share_network": {"name": "theirs"}}).json()["share_network"]
        try:
            # another project's network is not found, nor listed (without all_tenants)
            fault(client.get(f"/share-networks/{mine['id']}"), 404)
            assert mine["id"] not in {s["id"] for s in client.get("/share-networks").json()["share_networks"]}
            assert mine["id"] in {s["id"] for s in client.get("/share-networks", params={
                "all_tenants": 1}).json()["share_networks"]}
            assert [s["id"] for s in client.get("/share-networks/detail", params={
                "project_id": mine["project_id"]}).json()["share_networks"]] == [mine["id"]]
            fault(client.get("/share-networks", params={"all_tenants": "perhaps"}), 400)
            # the project's quota counts its share networks
            pid = mine["project_id"]
            assert client.put(f"/quota-sets/{pid}", json={"quota_set": {"share_networks": 1}}).status_code == 200
            usage = other.get(f"/quota-sets/{pid}/detail").json()["quota_set"]["share_networks"]
            assert usage["in_use"] == 1 and usage["limit"] == 1
            resp = other.post("/share-networks", json={"share_network": {"name": "one too many"}})
            assert resp.status_code == 413 and "share-networks" in resp.text
            assert len(other.get("/share-networks").json()["share_networks"]) == 1
        finally:
            assert other.delete(f"/share-networks/{mine['id']}").status_code == 202
            client.delete(f"/quota-sets/{mine['project_id']}")


def test_hostile_input_is_a_4xx_that_changes_nothing(client):
    sn = client.post("/share-networks", json={"share_network": {"name": "target"}}).json()["share_network"]
    for body in ({"name": 5}, {"name": "\ud800"}, {"segmentation_id": 2**64}, {"ip_version": "four"},
                 {"created_at": 5}, {"created_at": "yesterday"}, {"availability_zone": []},
                 {"availability_zone": {"a": 1}}, {"cidr": ["10.0.0.0/8"]}, {"nova_net_id": "x"}):
        resp = client.post("/share-networks", content=json.dumps({"share_network": body}),  # \ud800 escaped
                           headers={"Content-Type": "application/json"})
        assert resp.status_code == 400, (body, resp.status_code, resp.text)
    for body in ({"availability_zone": []}, {"mtu": "big"}, {"metadata": {"k": 1}}):
        resp = client.post(f"/share-networks/{sn['id']}/subnets", json={"share-network-subnet": body})
        assert resp.status_code == 400, (body, resp.status_code, resp.text)
    for body in ({"type": ["ldap"]}, {"type": {"k": "v"}}, {"type": "ldap", "password": 7},
                 {"type": "ldap", "dns_ip": "1" * 65}):
        resp = client.post("/security-services", json={"security_service": body})
        assert resp.status_code == 400, (body, resp.status_code, resp.text)
    action = f"/share-networks/{sn['id']}/action"
    for body in ({"add_security_service": {"security_service_id": []}}, {"add_security_service": []},
                 {"reset_status": {"status": []}}, {"no_such_action": {}}):
        resp = client.post(action, json=body)
        assert resp.status_code in (400, 404), (body, resp.status_code, resp.text)
    for params in ({"ip_version": "abc"}, {"created_before": "2014-10-23T08:31:58"}):
        fault(client.get("/share-networks/detail", params=params), 400)
    for body in ({"resource_id": ["x"]}, {"resource_id": str(uuid.uuid4()), "resource_type": []},
                 {"resource_id": str(uuid.uuid4()), "lock_reason": 5}):
        resp = client.post("/resource-locks", json={"resource_lock": body})
        assert resp.status_code == 400, (body, resp.status_code, resp.text)
    assert [s["id"] for s in client.get("/share-networks").json()["share_networks"]] == [sn["id"]]
    assert client.get("/security-services").json()["security_services"] == []
