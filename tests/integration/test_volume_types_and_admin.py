"""Volume types, retype, and what an admin sees and does.

The story: an admin defines volume types with extra specs, looks at the
default type, and retypes a volume from a thin type to a thick, compressed
one on the same backend: the dataset stays where it is (no data moves) and
ZFS gets the new properties. A retype that would need another backend is
refused and changes nothing. Stuck volumes are reset or force-deleted. The
admin reads pools, services, zones, limits and quotas. Another project sees
none of the first project's volumes.
"""

from __future__ import annotations

import time
import uuid

import pytest

from .volume_helpers import (
    GiB,
    HOST1,
    MiB,
    Lun,
    cinder,
    fault,
    pattern,
    sha256,
    volume_api,  # noqa: F401 - fixture
    wait_gone,
    zfs_exists,
    zfs_get,
)

pytestmark = pytest.mark.integration


def test_volume_types_crud_and_extra_specs(volume_api):
    client, tag = volume_api.client, uuid.uuid4().hex[:6]
    vtype = volume_api.create_type(f"gold-{tag}", {"provisioning:type": "thin"}, description="fast")
    tid = vtype["id"]
    assert vtype["extra_specs"] == {"provisioning:type": "thin"} and vtype["is_public"] is True
    assert vtype["description"] == "fast"
    # Each answer in Cinder's shape: a create's has no qos_specs_id, an update's not the access flag either.
    assert "qos_specs_id" not in vtype and vtype["os-volume-type-access:is_public"] is True
    assert "qos_specs_id" in client.get(f"/types/{tid}").json()["volume_type"]
    fault(client.post("/types", json={"volume_type": {"name": f"gold-{tag}"}}), 409)
    fault(client.post("/types", json={"volume_type": {"name": ""}}), 400)

    assert client.get(f"/types/{tid}").json()["volume_type"]["name"] == f"gold-{tag}"
    assert client.get(f"/types/gold-{tag}").json()["volume_type"]["id"] == tid
    assert tid in {t["id"] for t in client.get("/types").json()["volume_types"]}

    resp = client.put(f"/types/{tid}", json={"volume_type": {"name": f"platinum-{tag}", "description": "faster"}})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["volume_type"]["name"], resp.json()["volume_type"]["description"]) == (
        f"platinum-{tag}", "faster")
    assert not {"qos_specs_id", "os-volume-type-access:is_public"} & set(resp.json()["volume_type"])

    specs = f"/types/{tid}/extra_specs"
    assert client.get(specs).json() == {"extra_specs": {"provisioning:type": "thin"}}
    resp = client.post(specs, json={"extra_specs": {"compression": "<is> True", "multiattach": "<is> False"}})
    # Cinder answers with the specs the request set; the type has them beside its others
    assert resp.json() == {"extra_specs": {"compression": "<is> True", "multiattach": "<is> False"}}
    assert client.get(specs).json() == {"extra_specs": {"provisioning:type": "thin", "compression": "<is> True",
                                                        "multiattach": "<is> False"}}
    assert client.get(f"{specs}/compression").json() == {"compression": "<is> True"}
    assert client.put(f"{specs}/compression", json={"compression": "<is> False"}).json() == {
        "compression": "<is> False"}
    fault(client.put(f"{specs}/compression", json={"other": "x"}), 400)
    assert client.delete(f"{specs}/multiattach").status_code == 202
    fault(client.get(f"{specs}/multiattach"), 404)
    fault(client.delete(f"{specs}/multiattach"), 404)
    assert client.get(specs).json()["extra_specs"] == {"provisioning:type": "thin", "compression": "<is> False"}

    # A type in use cannot be deleted; an unused one can.
    volume = volume_api.create_volume(1, volume_type=tid)
    assert volume["volume_type"] == f"platinum-{tag}" and volume["volume_type_id"] == tid
    fault(client.delete(f"/types/{tid}"), 409)
    volume_api.delete_volume(volume["id"])
    assert client.delete(f"/types/{tid}").status_code == 202
    fault(client.get(f"/types/{tid}"), 404)

    # The default type: /types/default from 3.62, and it cannot be deleted.
    default = client.get("/types/default")
    assert default.status_code == 200, default.text
    assert default.json()["volume_type"]["name"] == "__DEFAULT__"
    fault(client.get("/types/default", headers={"OpenStack-API-Version": "volume 3.61"}), 404)
    fault(client.delete(f"/types/{default.json()['volume_type']['id']}"), 400)


def test_retype_on_the_same_backend_moves_no_data(volume_api):
    client, tag = volume_api.client, uuid.uuid4().hex[:6]
    thin = volume_api.create_type(f"thin-{tag}", {"provisioning:type": "thin"})
    thick = volume_api.create_type(f"thick-{tag}", {"provisioning:type": "thick", "compression": "<is> True"})
    elsewhere = volume_api.create_type(f"elsewhere-{tag}", {"volume_backend_name": "no-such-backend"})
    volume = volume_api.create_volume(1, volume_type=thin["name"])
    vid, dataset = volume["id"], volume_api.dataset(volume["id"])
    data = pattern(f"retype-{vid}")
    attachment = volume_api.attach(vid, HOST1)
    Lun.of(attachment["connection_info"]).write(HOST1, data)
    volume_api.detach(attachment["id"])
    guid = zfs_get(dataset, "guid")
    assert zfs_get(dataset, "refreservation") in ("0", "none", "-")

    resp = volume_api.action(vid, "os-retype", {"new_type": thick["name"], "migration_policy": "never"})
    assert resp.status_code == 202, resp.text
    retyped = volume_api.wait_volume(vid, "available")
    assert retyped["volume_type"] == thick["name"] and retyped["volume_type_id"] == thick["id"]
    # Same dataset (same guid: nothing was copied or moved), now thick and compressed.
    assert zfs_get(dataset, "guid") == guid
    assert int(zfs_get(dataset, "refreservation")) == GiB
    assert zfs_get(dataset, "compression") == "on"
    attachment = volume_api.attach(vid, HOST1)
    assert sha256(Lun.of(attachment["connection_info"]).read(HOST1, MiB)) == sha256(data)
    volume_api.detach(attachment["id"])

    # The same type again is refused; so is a type for another backend without a migration
    # policy that allows moving the data (the default is never): both change nothing.
    fault(volume_api.action(vid, "os-retype", {"new_type": thick["name"]}), 400)
    fault(volume_api.action(vid, "os-retype", {"new_type": "no-such-type"}), 404)
    assert "Retype requires migration" in fault(volume_api.action(vid, "os-retype", {"new_type": elsewhere["name"]}), 400)
    kept = volume_api.wait_volume(vid, "available")
    assert kept["volume_type"] == thick["name"]
    assert zfs_get(dataset, "guid") == guid

    volume_api.delete_volume(vid)
    for vtype in (thin, thick, elsewhere):
        assert client.delete(f"/types/{vtype['id']}").status_code == 202


def test_reset_status_and_force_delete(volume_api):
    volume = volume_api.create_volume(1)
    vid = volume["id"]
    resp = volume_api.action(vid, "os-reset_status", {"status": "error"})
    assert resp.status_code == 202, resp.text
    assert volume_api.volume(vid)["status"] == "error"
    assert volume_api.action(vid, "os-reset_status", {"status": "available"}).status_code == 202
    assert volume_api.volume(vid)["status"] == "available"
    fault(volume_api.action(vid, "os-reset_status", {"status": "nonsense"}), 400)
    fault(volume_api.action(vid, "os-reset_status", {}), 400)

    # Stuck in a state an ordinary delete refuses: force_delete removes it, dataset included.
    assert volume_api.action(vid, "os-reset_status", {"status": "maintenance"}).status_code == 202
    fault(volume_api.client.delete(f"/volumes/{vid}"), 400)
    resp = volume_api.action(vid, "os-force_delete")
    assert resp.status_code == 202, resp.text
    wait_gone(volume_api.client, f"/volumes/{vid}")
    assert not zfs_exists(volume_api.dataset(vid))


def test_force_delete_while_creating_leaves_no_dataset(volume_api):
    """As for shares: a volume force-deleted while its create task works leaves
    no dataset, whichever task reaches ZFS first."""
    volume_api.delete_volume(volume_api.create_volume(1)["id"])  # pools' report cached: placed in the request
    ids = []
    for _ in range(4):
        vid = volume_api.create_volume(1, wait=None)["id"]
        assert volume_api.action(vid, "os-force_delete").status_code == 202
        ids.append(vid)
    for vid in ids:
        wait_gone(volume_api.client, f"/volumes/{vid}")
    deadline = time.monotonic() + 30  # the create task may still be undoing its work
    while any(zfs_exists(volume_api.dataset(v)) for v in ids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [v for v in ids if zfs_exists(volume_api.dataset(v))] == []


def test_pools_services_zones_limits_and_quotas(volume_api):
    client, server = volume_api.client, volume_api.server
    zpool = server.pool_root.split("/")[0]

    pools = client.get("/scheduler-stats/get_pools", params={"detail": "True"}).json()["pools"]
    pool = next(p for p in pools if p["name"] == f"shoal@test#{zpool}")
    caps = pool["capabilities"]
    assert caps["volume_backend_name"] == "test" and caps["storage_protocol"] == "iSCSI"
    assert caps["total_capacity_gb"] > 0 and 0 < caps["free_capacity_gb"] <= caps["total_capacity_gb"]
    assert caps["thin_provisioning_support"] is True and caps["multiattach"] is True
    assert caps["dataset"] == server.pool_root
    brief = client.get("/scheduler-stats/get_pools").json()["pools"]
    assert {"name": f"shoal@test#{zpool}"} in brief

    services = client.get("/os-services").json()["services"]
    volume_service = next(s for s in services if s["binary"] == "cinder-volume" and s["host"] == "shoal@test")
    assert volume_service["state"] == "up" and volume_service["status"] == "enabled"
    assert any(s["binary"] == "cinder-scheduler" for s in services)

    zones = client.get("/os-availability-zone").json()["availabilityZoneInfo"]
    assert {"zoneName": "nova", "zoneState": {"available": True}} in zones

    before = client.get("/limits").json()["limits"]["absolute"]
    volume = volume_api.create_volume(2)
    after = client.get("/limits").json()["limits"]["absolute"]
    assert after["totalVolumesUsed"] == before["totalVolumesUsed"] + 1
    assert after["totalGigabytesUsed"] == before["totalGigabytesUsed"] + 2
    assert after["maxTotalVolumes"] == -1

    quota = client.get(f"/os-quota-sets/{server.project}").json()["quota_set"]
    assert quota["id"] == server.project and quota["volumes"] == -1 and quota["gigabytes"] == -1
    volume_api.delete_volume(volume["id"])


@pytest.fixture
def other_project(volume_api):
    with cinder(volume_api.server, project=uuid.uuid4().hex) as client:
        yield client


def test_another_project_does_not_list_the_volume(volume_api, other_project):
    volume = volume_api.create_volume(1, name=f"private-{uuid.uuid4().hex[:6]}")
    snap = volume_api.create_snapshot(volume["id"])
    b = other_project
    for path in ("/volumes", "/volumes/detail"):
        assert volume["id"] not in {v["id"] for v in b.get(path).json()["volumes"]}
        assert b.get(path, params={"name": volume["name"]}).json()["volumes"] == []
    for path in ("/snapshots", "/snapshots/detail"):
        assert snap["id"] not in {s["id"] for s in b.get(path).json()["snapshots"]}
    assert b.get("/volumes/summary").json()["volume-summary"]["total_count"] == 0
    assert b.get("/limits").json()["limits"]["absolute"]["totalVolumesUsed"] == 0
    # The owner sees it; an admin asking for all projects does too.
    assert volume["id"] in {v["id"] for v in volume_api.client.get("/volumes").json()["volumes"]}
    everyone = b.get("/volumes/detail", params={"all_tenants": 1}).json()["volumes"]
    assert volume["id"] in {v["id"] for v in everyone}
    volume_api.delete_snapshot(snap["id"])
    volume_api.delete_volume(volume["id"])


def test_another_project_gets_404_for_the_volume(volume_api, other_project):
    volume = volume_api.create_volume(1, name="not-yours")
    vid, b = volume["id"], other_project
    fault(b.get(f"/volumes/{vid}"), 404)
    fault(b.put(f"/volumes/{vid}", json={"volume": {"name": "taken over"}}), 404)
    fault(b.get(f"/volumes/{vid}/metadata"), 404)
    fault(b.post(f"/volumes/{vid}/action", json={"os-extend": {"new_size": 2}}), 404)
    fault(b.post("/attachments", json={"attachment": {"volume_uuid": vid}}), 404)
    fault(b.delete(f"/volumes/{vid}"), 404)
    still = volume_api.volume(vid)
    assert (still["name"], still["size"], still["status"]) == ("not-yours", 1, "available")
    volume_api.delete_volume(vid)
