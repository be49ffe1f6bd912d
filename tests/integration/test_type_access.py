"""Private volume and share types and their project access lists.

The story: an admin makes a private volume type and a private share type, gives
two projects access, reads the lists back, takes one project off again, and
creates a volume and a share of those types. Public types have no list.
Listings show a project the public types plus the private ones it is on the list
of; `is_public=false` shows an admin the private ones, `None`/`all` everything.
Deleting a type takes its list with it.

The test server runs in noauth mode, where every caller is an admin; what a
member of another project sees (nothing: 404) is proven on the services in
tests/unit/test_type_access_rules.py.
"""

from __future__ import annotations

import uuid

import pytest

from .share_helpers import share_api  # noqa: F401 - fixture
from .volume_helpers import cinder, fault, volume_api  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

DHSS = {"driver_handles_share_servers": "False"}


def listed(client, key: str, **params) -> set[str]:
    resp = client.get("/types", params=params)
    assert resp.status_code == 200, resp.text
    return {t["id"] for t in resp.json()[key]}


def access_action(client, type_id: str, action: str, project: str):
    return client.post(f"/types/{type_id}/action", json={action: {"project": project}})


def test_private_volume_type_with_an_access_list(volume_api, shoal_server):
    api, client, tag = volume_api, volume_api.client, uuid.uuid4().hex[:6]
    other, stranger = uuid.uuid4().hex, uuid.uuid4().hex

    vtype = api.create_type(f"private-{tag}", {}, **{"os-volume-type-access:is_public": False})
    tid = vtype["id"]
    assert vtype["is_public"] is False and vtype["os-volume-type-access:is_public"] is False
    also_private = api.create_type(f"private2-{tag}", {}, is_public=False)
    assert also_private["os-volume-type-access:is_public"] is False

    access = f"/types/{tid}/os-volume-type-access"
    assert client.get(access).json() == {"volume_type_access": []}
    for project in (shoal_server.project, other):
        resp = access_action(client, tid, "addProjectAccess", project)
        assert resp.status_code == 202, resp.text
    assert sorted(client.get(access).json()["volume_type_access"], key=lambda a: a["project_id"]) == sorted(
        [{"volume_type_id": tid, "project_id": p} for p in (shoal_server.project, other)],
        key=lambda a: a["project_id"])
    assert "already exists" in fault(access_action(client, tid, "addProjectAccess", other), 409)
    assert access_action(client, tid, "removeProjectAccess", other).status_code == 202
    fault(access_action(client, tid, "removeProjectAccess", other), 404)
    assert client.get(access).json() == {"volume_type_access": [{"volume_type_id": tid,
                                                                  "project_id": shoal_server.project}]}
    fault(client.post(f"/types/{tid}/action", json={"grantEverything": {}}), 400)
    fault(client.post(f"/types/{tid}/action", json={"addProjectAccess": {}}), 400)

    # The run's project is on the list: the default listing shows the type; a project
    # that is not sees it only when it asks for private or all types (it is an admin here).
    assert tid in listed(client, "volume_types") and also_private["id"] not in listed(client, "volume_types")
    with cinder(shoal_server, project=stranger) as elsewhere:
        assert tid not in listed(elsewhere, "volume_types")
        private = listed(elsewhere, "volume_types", is_public="false")
        assert {tid, also_private["id"]} <= private
        assert not {t["id"] for t in elsewhere.get("/types").json()["volume_types"] if t["is_public"]} & private
        for every in ("None", "all"):
            assert {tid, also_private["id"]} <= listed(elsewhere, "volume_types", is_public=every)
        fault(elsewhere.get("/types", params={"is_public": "perhaps"}), 400)

    volume = api.create_volume(volume_type=f"private-{tag}")
    assert volume["volume_type"] == f"private-{tag}"
    fault(client.delete(f"/types/{tid}"), 409)  # in use
    api.delete_volume(volume["id"])
    assert client.delete(f"/types/{tid}").status_code == 202
    fault(client.get(access), 404)

    # A public type has no list to read or change (Cinder: 404 and 400).
    public = api.create_type(f"public-{tag}", {})
    assert public["os-volume-type-access:is_public"] is True
    assert "not available for public" in fault(client.get(f"/types/{public['id']}/os-volume-type-access"), 404)
    assert "not applicable to public" in fault(access_action(client, public["id"], "addProjectAccess", other), 400)
    fault(access_action(client, str(uuid.uuid4()), "addProjectAccess", other), 404)


def test_private_share_type_with_an_access_list(share_api, shoal_server):
    api, client, tag = share_api, share_api.client, uuid.uuid4().hex[:6]
    other, stranger = uuid.uuid4().hex, uuid.uuid4().hex

    resp = client.post("/types", json={"share_type": {"name": f"private-{tag}", "extra_specs": DHSS,
                                                      "share_type_access:is_public": False}})
    assert resp.status_code == 200, resp.text
    stype = resp.json()["share_type"]
    tid = stype["id"]
    assert stype["share_type_access:is_public"] is False and "os-share-type-access:is_public" not in stype

    access = f"/types/{tid}/share_type_access"
    assert client.get(access).json() == {"share_type_access": []}
    for project in (shoal_server.project, other):
        resp = access_action(client, tid, "addProjectAccess", project)
        assert resp.status_code == 202, resp.text
    assert {a["project_id"] for a in client.get(access).json()["share_type_access"]} == {
        shoal_server.project, other}
    assert all(a["share_type_id"] == tid for a in client.get(access).json()["share_type_access"])
    assert "already exists" in fault(access_action(client, tid, "addProjectAccess", other), 409)
    assert access_action(client, tid, "removeProjectAccess", other).status_code == 202
    fault(access_action(client, tid, "removeProjectAccess", other), 404)
    assert "Bad project format" in fault(access_action(client, tid, "addProjectAccess", "not a uuid"), 400)

    assert tid in listed(client, "share_types")
    with shoal_server.client(project=stranger) as elsewhere:
        assert tid not in listed(elsewhere, "share_types")
        assert tid in listed(elsewhere, "share_types", is_public="false")
        assert tid in listed(elsewhere, "share_types", is_public="all")

    share = api.create_share(share_type=f"private-{tag}")
    assert share["share_type"] == tid
    fault(client.delete(f"/types/{tid}"), 409)  # in use
    api.delete_share(share["id"])
    assert client.delete(f"/types/{tid}").status_code == 202
    fault(client.get(access), 404)

    # A public type has no list to read or change (Manila: 404 and 409).
    public = client.post("/types", json={"share_type": {"name": f"public-{tag}", "extra_specs": DHSS}}).json()
    pid = public["share_type"]["id"]
    assert public["share_type"]["share_type_access:is_public"] is True
    assert "not available for public" in fault(client.get(f"/types/{pid}/share_type_access"), 404)
    assert "not applicable to public" in fault(access_action(client, pid, "addProjectAccess", other), 409)

    # 2.50 may make a type private (and the list applies from then on).
    resp = client.put(f"/types/{pid}", json={"share_type": {"share_type_access:is_public": False}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["share_type"]["share_type_access:is_public"] is False
    assert client.get(f"/types/{pid}/share_type_access").json() == {"share_type_access": []}
    fault(client.put(f"/types/{pid}", json={"share_type": {}}), 400)


def test_share_type_access_before_microversion_2_7(share_api, shoal_server):
    tag = uuid.uuid4().hex[:6]
    with shoal_server.client(version="2.6") as old:
        resp = old.post("/types", json={"share_type": {"name": f"legacy-{tag}", "extra_specs": DHSS,
                                                       "os-share-type-access:is_public": False}})
        assert resp.status_code == 200, resp.text
        stype = resp.json()["share_type"]
        assert stype["os-share-type-access:is_public"] is False and "share_type_access:is_public" not in stype
        assert access_action(old, stype["id"], "addProjectAccess", shoal_server.project).status_code == 202
        assert old.get(f"/types/{stype['id']}/os-share-type-access").json() == {
            "share_type_access": [{"share_type_id": stype["id"], "project_id": shoal_server.project}]}
        assert old.put(f"/types/{stype['id']}", json={"share_type": {"name": "x"}}).status_code == 404
