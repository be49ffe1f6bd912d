"""QoS specs and encryption types: what an admin attaches to volume types.

The story: an admin creates QoS specs for the front end, adds and removes keys, and
associates them with two volume types, which then show the specs' id; a type already
associated elsewhere is refused, the specs cannot be deleted while in use (only with
force), and disassociating one type and then all leaves no association. The admin gives a
type an encryption type, reads it whole and key by key, changes it and deletes it; a
type with volumes cannot get one. Everything is still there after a restart of Shoal
(it is in the database, not in memory).
"""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.shoal import restart_server

from .volume_helpers import cinder, fault, volume_api  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def test_qos_specs_lifecycle_and_associations(volume_api):
    client, tag = volume_api.client, uuid.uuid4().hex[:6]
    created = client.post("/qos-specs", json={"qos_specs": {"name": f"fast-{tag}", "consumer": "front-end",
                                                            "read_iops_sec": "2000"}})
    assert created.status_code == 200, created.text
    body = created.json()
    qos = body["qos_specs"]
    assert qos == {"id": qos["id"], "name": f"fast-{tag}", "consumer": "front-end",
                   "specs": {"read_iops_sec": "2000"}}
    assert {link["rel"] for link in body["links"]} == {"self", "bookmark"}
    assert qos in client.get("/qos-specs").json()["qos_specs"]
    fault(client.post("/qos-specs", json={"qos_specs": {"name": f"fast-{tag}"}}), 409)
    fault(client.post("/qos-specs", json={"qos_specs": {"name": f"odd-{tag}", "consumer": "sideways"}}), 400)
    fault(client.get(f"/qos-specs/{uuid.uuid4()}"), 404)

    # keys: set answers what was set; unset of a key it does not have is 404
    assert client.put(f"/qos-specs/{qos['id']}", json={"qos_specs": {"iops_bytes": "500"}}).json() == \
        {"qos_specs": {"iops_bytes": "500"}}
    assert client.get(f"/qos-specs/{qos['id']}").json()["qos_specs"]["specs"] == {
        "read_iops_sec": "2000", "iops_bytes": "500"}
    assert client.put(f"/qos-specs/{qos['id']}/delete_keys", json={"keys": ["iops_bytes"]}).status_code == 202
    fault(client.put(f"/qos-specs/{qos['id']}/delete_keys", json={"keys": ["iops_bytes"]}), 404)
    assert client.get(f"/qos-specs/{qos['id']}").json()["qos_specs"]["specs"] == {"read_iops_sec": "2000"}

    # associations, shown in the types' qos_specs_id
    gold = volume_api.create_type(f"gold-{tag}")
    silver = volume_api.create_type(f"silver-{tag}")
    for vtype in (gold, silver):
        assert client.get(f"/qos-specs/{qos['id']}/associate", params={"vol_type_id": vtype["id"]}).status_code == 202
    assert {(a["id"], a["name"], a["association_type"]) for a in
            client.get(f"/qos-specs/{qos['id']}/associations").json()["qos_associations"]} == {
        (gold["id"], gold["name"], "volume_type"), (silver["id"], silver["name"], "volume_type")}
    assert client.get(f"/types/{gold['id']}").json()["volume_type"]["qos_specs_id"] == qos["id"]
    listed = {t["id"]: t for t in client.get("/types").json()["volume_types"]}
    assert listed[silver["id"]]["qos_specs_id"] == qos["id"]
    other = client.post("/qos-specs", json={"qos_specs": {"name": f"slow-{tag}"}}).json()["qos_specs"]
    assert other["consumer"] == "back-end"  # Cinder's default
    fault(client.get(f"/qos-specs/{other['id']}/associate", params={"vol_type_id": gold["id"]}), 400)
    fault(client.get(f"/qos-specs/{other['id']}/associate", params={"vol_type_id": str(uuid.uuid4())}), 404)
    fault(client.get(f"/qos-specs/{other['id']}/associate"), 400)

    # still there after a restart
    restart_server(volume_api.server)
    assert client.get(f"/types/{gold['id']}").json()["volume_type"]["qos_specs_id"] == qos["id"]

    fault(client.delete(f"/qos-specs/{qos['id']}"), 400)  # in use
    assert client.get(f"/qos-specs/{qos['id']}/disassociate", params={"vol_type_id": gold["id"]}).status_code == 202
    assert client.get(f"/types/{gold['id']}").json()["volume_type"]["qos_specs_id"] is None
    assert client.get(f"/qos-specs/{qos['id']}/disassociate_all").status_code == 202
    assert client.get(f"/qos-specs/{qos['id']}/associations").json() == {"qos_associations": []}
    assert client.get(f"/qos-specs/{other['id']}/associate", params={"vol_type_id": gold["id"]}).status_code == 202
    assert client.delete(f"/qos-specs/{other['id']}", params={"force": "True"}).status_code == 202
    assert client.get(f"/types/{gold['id']}").json()["volume_type"]["qos_specs_id"] is None
    assert client.delete(f"/qos-specs/{qos['id']}").status_code == 202
    fault(client.get(f"/qos-specs/{qos['id']}"), 404)
    assert qos["id"] not in {q["id"] for q in client.get("/qos-specs").json()["qos_specs"]}


def test_encryption_type_of_a_volume_type(volume_api):
    client, tag = volume_api.client, uuid.uuid4().hex[:6]
    vtype = volume_api.create_type(f"secret-{tag}")
    base = f"/types/{vtype['id']}/encryption"
    assert client.get(base).json() == {}  # none yet
    wanted = {"provider": "luks", "cipher": "aes-xts-plain64", "key_size": 256, "control_location": "front-end"}
    created = client.post(base, json={"encryption": wanted})
    assert created.status_code == 200, created.text
    enc = created.json()["encryption"]
    assert {k: enc[k] for k in wanted} == wanted and enc["volume_type_id"] == vtype["id"]
    fault(client.post(base, json={"encryption": wanted}), 400)  # one per type
    shown = client.get(base).json()
    assert {k: shown[k] for k in wanted} == wanted and shown["encryption_id"] == enc["encryption_id"]
    assert shown["deleted"] is False and shown["created_at"]
    assert client.get(f"{base}/cipher").json() == {"cipher": "aes-xts-plain64"}
    fault(client.get(f"{base}/colour"), 404)

    changed = client.put(f"{base}/{enc['encryption_id']}",
                         json={"encryption": {"key_size": 128, "control_location": "back-end"}})
    assert changed.status_code == 200 and changed.json() == {
        "encryption": {"key_size": 128, "control_location": "back-end"}}
    fault(client.put(f"{base}/{enc['encryption_id']}", json={"encryption": {"control_location": "middle"}}), 400)
    restart_server(volume_api.server)
    assert client.get(base).json()["key_size"] == 128

    # a type with volumes keeps its encryption as it is
    volume = volume_api.create_volume(1, volume_type=vtype["id"])
    fault(client.delete(f"{base}/{enc['encryption_id']}"), 400)
    volume_api.delete_volume(volume["id"])
    assert client.delete(f"{base}/{enc['encryption_id']}").status_code == 202
    assert client.get(base).json() == {}
    fault(client.delete(f"{base}/{enc['encryption_id']}"), 404)
    fault(client.post(f"/types/{uuid.uuid4()}/encryption", json={"encryption": wanted}), 404)
    fault(client.post(base, json={"encryption": {"cipher": "x"}}), 400)  # no provider


def test_group_types_and_their_specs(volume_api):
    tag = uuid.uuid4().hex[:6]
    with cinder(volume_api.server, version="3.11") as client:
        created = client.post("/group_types", json={"group_type": {
            "name": f"a-{tag}", "description": "first", "group_specs": {"consistent_group_snapshot_enabled": "<is> False"},
            "is_public": True}})
        assert created.status_code == 202, created.text
        a = created.json()["group_type"]
        assert (a["name"], a["description"], a["is_public"], a["group_specs"]) == (
            f"a-{tag}", "first", True, {"consistent_group_snapshot_enabled": "<is> False"})
        b = client.post("/group_types", json={"group_type": {"name": f"b-{tag}", "is_public": False}}).json()[
            "group_type"]
        fault(client.post("/group_types", json={"group_type": {"name": f"a-{tag}"}}), 409)
        try:
            def names(**params) -> list[str]:
                return [t["name"] for t in client.get("/group_types", params=params).json()["group_types"]
                        if t["name"].endswith(tag)]

            assert names(sort="name:asc", is_public="None") == [f"a-{tag}", f"b-{tag}"]
            assert names(sort="name:desc", is_public="None") == [f"b-{tag}", f"a-{tag}"]
            assert names(is_public="false") == [f"b-{tag}"] and names(is_public="true") == [f"a-{tag}"]

            updated = client.put(f"/group_types/{a['id']}", json={"group_type": {"name": f"c-{tag}",
                                                                                 "description": "renamed"}})
            assert updated.status_code == 200 and updated.json()["group_type"]["name"] == f"c-{tag}"
            assert client.get(f"/group_types/{a['id']}").json()["group_type"]["description"] == "renamed"

            specs = f"/group_types/{b['id']}/group_specs"
            assert client.post(specs, json={"group_specs": {"k1": "v1", "k2": "v2"}}).json() == {
                "group_specs": {"k1": "v1", "k2": "v2"}}
            assert client.post(specs, json={"group_specs": {"k2": "v2b", "k3": "v3"}}).json() == {
                "group_specs": {"k2": "v2b", "k3": "v3"}}
            assert client.put(f"{specs}/k3", json={"k3": "v3b"}).json() == {"k3": "v3b"}
            assert client.get(f"{specs}/k2").json() == {"k2": "v2b"}
            assert client.get(specs).json() == {"group_specs": {"k1": "v1", "k2": "v2b", "k3": "v3b"}}
            for key in ("k1", "k2", "k3"):
                assert client.delete(f"{specs}/{key}").status_code == 202
                fault(client.get(f"{specs}/{key}"), 404)
            fault(client.put(f"{specs}/k1", json={"other": "x"}), 400)
        finally:
            for gt in (a, b):
                assert client.delete(f"/group_types/{gt['id']}").status_code == 202
        fault(client.get(f"/group_types/{a['id']}"), 404)
    with cinder(volume_api.server, version="3.10") as old:  # group types came with 3.11
        fault(old.get("/group_types"), 404)
