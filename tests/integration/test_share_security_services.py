"""Security services (Manila's /security-services): kept per project, shown per
microversion (ou from 2.44, default_ad_site from 2.76), filtered as Manila
filters, updated and deleted; bad input is a 400 that changes nothing."""

from __future__ import annotations

import uuid

import pytest

from .share_helpers import (
    fault,
    share_api,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.integration

V = "X-OpenStack-Manila-API-Version"


def test_security_services(share_api):
    client = share_api.client
    tag = uuid.uuid4().hex[:8]
    resp = client.post("/security-services", json={"security_service": {
        "type": "ldap", "name": f"ldap-{tag}", "dns_ip": "10.0.0.2", "server": "ldap.example.org",
        "domain": "example.org", "user": "admin", "password": "secret", "ou": "people"}})
    assert resp.status_code == 200, resp.text
    ldap = resp.json()["security_service"]
    assert ldap["type"] == "ldap" and ldap["status"] == "new" and ldap["ou"] == "people"
    kerberos = client.post("/security-services", json={"security_service": {
        "type": "kerberos", "name": f"krb-{tag}"}}).json()["security_service"]

    listed = client.get("/security-services").json()["security_services"]
    assert {ldap["id"], kerberos["id"]} <= {s["id"] for s in listed}
    assert set(listed[0]) == {"id", "name", "type", "status"}
    found = client.get("/security-services/detail", params={"type": "ldap", "name": f"ldap-{tag}"}).json()
    assert [s["id"] for s in found["security_services"]] == [ldap["id"]]
    assert found["security_services"][0]["share_networks"] == []
    # an administrator's unknown filter matches nothing (Manila keeps it); ou only from 2.44
    assert client.get("/security-services", params={"fake_opt": "x"}).json()["security_services"] == []
    old = client.get(f"/security-services/{ldap['id']}", headers={V: "2.43"}).json()["security_service"]
    assert "ou" not in old and old["server"] == "ldap.example.org"

    updated = client.put(f"/security-services/{ldap['id']}", json={"security_service": {
        "name": f"renamed-{tag}", "ou": "staff"}}).json()["security_service"]
    assert updated["name"] == f"renamed-{tag}" and updated["ou"] == "staff"
    for body in ({"type": "nis"}, {"type": ""}, {"type": "ldap", "name": 5}, {"type": "ldap", "server": ["x"]},
                 {"type": "ldap", "default_ad_site": "site"}):
        fault(client.post("/security-services", json={"security_service": body},
                          headers={V: "2.75"}), 400)
    fault(client.put(f"/security-services/{ldap['id']}", json={"security_service": {"user": 5}}), 400)
    assert client.get(f"/security-services/{ldap['id']}").json()["security_service"]["user"] == "admin"
    fault(client.get("/security-services/"), 404)
    fault(client.get(f"/security-services/{uuid.uuid4()}"), 404)
    for row in (ldap, kerberos):
        assert client.delete(f"/security-services/{row['id']}").status_code == 202
        fault(client.get(f"/security-services/{row['id']}"), 404)
