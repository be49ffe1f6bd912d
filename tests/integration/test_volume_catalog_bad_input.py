"""Bad input to the volume catalogue's calls (QoS specs, encryption types, transfers, group
types, groups, group snapshots) gets a 4xx with the OpenStack error body and changes
nothing: wrong types, lists where strings go, NUL bytes and lone surrogates in names."""

from __future__ import annotations

import json
import uuid

import pytest

from .volume_helpers import cinder, volume_api  # noqa: F401 - fixture

pytestmark = pytest.mark.integration
SURROGATE = "bad-\ud800"


def test_malformed_bodies_are_refused_and_change_nothing(volume_api):
    tag = uuid.uuid4().hex[:6]
    vtype = volume_api.create_type(f"bad-input-{tag}")
    volume = volume_api.create_volume(1, volume_type=vtype["id"])
    with cinder(volume_api.server, version="3.20") as client:
        gtype = client.post("/group_types", json={"group_type": {"name": f"gt-{tag}"}}).json()["group_type"]
        qos_before = client.get("/qos-specs").json()
        cases = [
            ("POST", "/qos-specs", {"qos_specs": {"name": 5}}),
            ("POST", "/qos-specs", {"qos_specs": {"name": SURROGATE}}),
            ("POST", "/qos-specs", {"qos_specs": {"name": "a\x00b"}}),
            ("POST", "/qos-specs", {"qos_specs": {"name": f"q-{tag}", "read_iops_sec": 5}}),
            ("POST", "/qos-specs", {"qos_specs": {"name": f"q-{tag}", "consumer": ["front-end"]}}),
            ("POST", "/qos-specs", {"qos_specs": "fast"}),
            ("POST", f"/types/{vtype['id']}/encryption", {"encryption": {"provider": 5}}),
            ("POST", f"/types/{vtype['id']}/encryption", {"encryption": {"provider": SURROGATE}}),
            ("POST", f"/types/{vtype['id']}/encryption", {"encryption": {"provider": "luks", "key_size": "256"}}),
            ("POST", f"/types/{vtype['id']}/encryption", {"encryption": {"provider": "luks", "key_size": 2**70}}),
            ("POST", f"/types/{vtype['id']}/encryption", {"encryption": {"provider": "luks", "colour": "red"}}),
            ("POST", "/os-volume-transfer", {"transfer": {"volume_id": 5}}),
            ("POST", "/os-volume-transfer", {"transfer": {"volume_id": volume["id"], "name": ["x"]}}),
            ("POST", "/os-volume-transfer", {"transfer": {"volume_id": volume["id"], "name": SURROGATE}}),
            ("POST", "/volume-transfers", {"transfer": {"volume_id": volume["id"], "no_snapshots": "maybe"}}),
            ("POST", f"/os-volume-transfer/{uuid.uuid4()}/accept", {"accept": {"auth_key": 5}}),
            ("POST", "/group_types", {"group_type": {"name": {"a": 1}}}),
            ("POST", "/group_types", {"group_type": {"name": SURROGATE}}),
            ("POST", "/group_types", {"group_type": {"name": f"x-{tag}", "group_specs": ["a"]}}),
            ("POST", "/group_types", {"group_type": {"name": f"x-{tag}", "is_public": "perhaps"}}),
            ("POST", "/groups", {"group": {"group_type": gtype["id"], "volume_types": vtype["id"]}}),
            ("POST", "/groups", {"group": {"group_type": gtype["id"], "volume_types": [vtype["id"]], "name": 5}}),
            ("POST", "/groups", {"group": {"group_type": gtype["id"], "volume_types": [vtype["id"]],
                                           "name": SURROGATE}}),
            ("POST", "/groups", {"group": {"group_type": [gtype["id"]], "volume_types": [vtype["id"]]}}),
            ("POST", "/groups/action", {"create-from-src": {"group_snapshot_id": 5}}),
            ("POST", "/groups/action", {"create-from-src": {}}),
            ("POST", "/group_snapshots", {"group_snapshot": {"group_id": ["x"]}}),
        ]
        for method, path, body in cases:
            # json.dumps writes a lone surrogate as its escape, as a client's JSON would carry it
            answer = client.request(method, path, content=json.dumps(body),
                                    headers={"Content-Type": "application/json"})
            assert 400 <= answer.status_code < 500, (method, path, body, answer.status_code, answer.text)
            ((_, fault),) = answer.json().items()
            assert fault["code"] == answer.status_code and fault["message"]
        assert client.get("/qos-specs").json() == qos_before
        assert client.get(f"/types/{vtype['id']}/encryption").json() == {}
        assert client.get("/os-volume-transfer").json()["transfers"] == []
        assert volume_api.volume(volume["id"])["status"] == "available"
        assert not [g for g in client.get("/groups").json()["groups"]]
        assert not [t for t in client.get("/group_types").json()["group_types"] if t["name"].endswith(tag)
                    and t["id"] != gtype["id"]]
        assert client.delete(f"/group_types/{gtype['id']}").status_code == 202
    volume_api.delete_volume(volume["id"])
