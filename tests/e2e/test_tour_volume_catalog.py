"""Client tour, what an admin hangs on volume types and how a volume changes hands, with the
unmodified clients: `openstack volume qos create/set/unset/associate/disassociate/show/delete`,
`openstack volume type create --encryption-*` and `show --encryption-type`, `openstack volume
transfer request create/list/accept`, and `cinder group-type-*`, `list-extensions`,
`get-capabilities`. Members are refused the admin's calls (403), as Cinder's policy says."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.tour_fixtures import VOLUMES, remove, wait_status

pytestmark = pytest.mark.e2e


def test_qos_specs_with_openstack_cli(tour):
    tag = uuid.uuid4().hex[:6]
    qos_name, type_name = f"tour-qos-{tag}", f"tour-qos-type-{tag}"
    qos, vtype = tour.osc_batch("admin", ["volume", "qos", "create", "--consumer", "front-end", "--property",
                                          "read_iops_sec=2000", qos_name, "-f", "json"],
                                ["volume", "type", "create", type_name, "-f", "json"])
    try:
        assert (qos["name"], qos["consumer"]) == (qos_name, "front-end")
        (shown,) = tour.osc_batch("admin", ["volume", "qos", "set", "--property", "write_iops_sec=500", qos_name],
                                  ["volume", "qos", "unset", "--property", "read_iops_sec", qos_name],
                                  ["volume", "qos", "associate", qos_name, type_name],
                                  ["volume", "qos", "show", qos_name, "-f", "json"])
        assert shown["properties"] == {"write_iops_sec": "500"}
        assert type_name in str(shown["associations"])
        # `openstack volume type show` leaves qos_specs_id out; cinder shows it
        assert qos["id"] in tour.cinder("admin", "type-show", type_name).stdout
        # a member may not even list them
        tour.osc_batch_fails("a-member", "ForbiddenException: 403", ["volume", "qos", "list"])
        (after,) = tour.osc_batch("admin", ["volume", "qos", "disassociate", "--volume-type", type_name, qos_name],
                                  ["volume", "qos", "show", qos_name, "-f", "json"])
        assert type_name not in str(after.get("associations") or "")
    finally:
        tour.osc_batch("admin", ["volume", "qos", "delete", "--force", qos_name], ["volume", "type", "delete", type_name])
    (listed,) = tour.osc_batch("admin", ["volume", "qos", "list", "-f", "json"])
    assert qos_name not in {q["Name"] for q in listed}


def test_encryption_type_with_openstack_cli(tour):
    type_name = f"tour-crypt-{uuid.uuid4().hex[:6]}"
    tour.osc("admin", "volume", "type", "create", "--encryption-provider", "luks", "--encryption-cipher",
             "aes-xts-plain64", "--encryption-key-size", "256", "--encryption-control-location", "front-end",
             type_name)
    try:
        shown = tour.osc_json("admin", "volume", "type", "show", "--encryption-type", type_name)
        encryption = shown["encryption"]
        assert (encryption["provider"], encryption["cipher"], encryption["key_size"],
                encryption["control_location"]) == ("luks", "aes-xts-plain64", 256, "front-end")
        tour.osc("admin", "volume", "type", "set", "--encryption-key-size", "128", type_name)
        assert tour.osc_json("admin", "volume", "type", "show", "--encryption-type", type_name)[
            "encryption"]["key_size"] == 128
        tour.osc("admin", "volume", "type", "unset", "--encryption-type", type_name)
        assert not tour.osc_json("admin", "volume", "type", "show", "--encryption-type", type_name).get("encryption")
    finally:
        tour.osc("admin", "volume", "type", "delete", type_name)


def test_volume_transfer_between_projects_with_openstack_cli(tour):
    a, b = tour.sdk("a-member").block_storage, tour.sdk("b-member").block_storage
    volume = a.create_volume(size=1, name=f"tour-gift-{uuid.uuid4().hex[:6]}")
    owner = a
    try:
        wait_status(a.get_volume, volume.id, "available")
        offer = tour.osc_json("a-member", "volume", "transfer", "request", "create", "--name", "to-b", volume.id)
        assert offer["volume_id"] == volume.id and offer["auth_key"]
        wait_status(a.get_volume, volume.id, "awaiting-transfer")
        (mine, theirs) = (tour.osc_json("a-member", "volume", "transfer", "request", "list"),
                          tour.osc_json("b-member", "volume", "transfer", "request", "list"))
        assert offer["id"] in {t["ID"] for t in mine} and offer["id"] not in {t["ID"] for t in theirs}
        tour.osc("b-member", "volume", "transfer", "request", "accept", "--auth-key", offer["auth_key"], offer["id"])
        owner = b
        taken = wait_status(b.get_volume, volume.id, "available")
        assert taken.project_id == tour.projects["tour-b"]
        assert volume.id not in {v.id for v in a.volumes()}
    finally:
        remove(owner, VOLUMES, [volume.id])


def test_group_types_extensions_and_capabilities_with_cinder_cli(tour):
    name = f"tour-group-type-{uuid.uuid4().hex[:6]}"
    v = ["--os-volume-api-version", "3.11"]
    tour.cinder("admin", *v, "group-type-create", name)
    try:
        tour.cinder("admin", *v, "group-type-key", name, "set", "consistent_group_snapshot_enabled=<is> False")
        listed = tour.cinder("admin", *v, "group-type-list").stdout
        assert name in listed
        specs = tour.cinder("admin", *v, "group-specs-list").stdout
        assert "consistent_group_snapshot_enabled" in specs
        refused = tour.cinder("a-member", *v, "group-type-create", f"{name}-x", check=False)
        assert refused.returncode != 0 and "403" in refused.stderr
    finally:
        tour.cinder("admin", *v, "group-type-delete", name)
    assert name not in tour.cinder("admin", *v, "group-type-list").stdout

    extensions = tour.cinder("admin", "list-extensions").stdout
    assert "os-volume-transfer" in extensions and "qos-specs" in extensions
    caps = tour.cinder("admin", "get-capabilities", "shoal@test").stdout
    assert "volume_backend_name" in caps and "test" in caps
    refused = tour.cinder("a-member", "get-capabilities", "shoal@test", check=False)
    assert refused.returncode != 0 and "403" in refused.stderr


def test_members_are_refused_the_admins_calls(tour):
    """What Cinder's policy keeps for administrators answers a member 403 (and changes
    nothing); what is the member's own (transfers, groups of its project) it may do."""
    admin = tour.http(tour.token_id("admin"))
    admin.headers["OpenStack-API-Version"] = "volume 3.67"  # project-less URLs: the admin's token is for its own
    member = tour.http(tour.token_id("a-member"))
    base = f"/volume/v3/{tour.projects['tour-a']}"
    tag = uuid.uuid4().hex[:6]
    v313 = {"OpenStack-API-Version": "volume 3.20"}  # groups, group types and their reset-status
    vtype = admin.post("/volume/v3/types", json={"volume_type": {"name": f"tour-policy-{tag}"}})
    assert vtype.status_code == 200, vtype.text
    type_id = vtype.json()["volume_type"]["id"]
    gtype = admin.post("/volume/v3/group_types", json={"group_type": {"name": f"tour-gt-{tag}"}})
    assert gtype.status_code == 202, gtype.text
    gtype_id = gtype.json()["group_type"]["id"]
    try:
        refused = [
            member.get(f"{base}/qos-specs"),
            member.post(f"{base}/qos-specs", json={"qos_specs": {"name": f"m-{tag}"}}),
            member.get(f"{base}/types/{type_id}/encryption"),
            member.post(f"{base}/types/{type_id}/encryption", json={"encryption": {"provider": "luks"}}),
            member.get(f"{base}/os-hosts"),
            member.get(f"{base}/os-hosts/shoal@test"),
            member.get(f"{base}/capabilities/shoal@test"),
            member.put(f"{base}/os-services/disable", json={"host": "shoal@test", "binary": "cinder-volume"}),
            member.put(f"{base}/os-services/freeze", json={"host": "shoal@test"}),
            member.post(f"{base}/group_types", headers=v313, json={"group_type": {"name": f"m-{tag}"}}),
            member.post(f"{base}/group_types/{gtype_id}/group_specs", headers=v313,
                        json={"group_specs": {"k": "v"}}),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused), [(r.request.url, r.text) for r in refused]
        assert all(r.json()["forbidden"]["code"] == 403 for r in refused)
        assert admin.get(f"/volume/v3/types/{type_id}/encryption").json() == {}  # nothing was made
        assert {s["status"] for s in admin.get("/volume/v3/os-services").json()["services"]} == {"enabled"}
        assert f"m-{tag}" not in {q["name"] for q in admin.get("/volume/v3/qos-specs").json()["qos_specs"]}
        # its own group: made, reset-status refused, deleted
        group = member.post(f"{base}/groups", headers=v313, json={"group": {
            "group_type": gtype_id, "volume_types": [type_id], "name": f"m-{tag}"}})
        assert group.status_code == 202, group.text
        gid = group.json()["group"]["id"]
        reset = member.post(f"{base}/groups/{gid}/action", headers=v313, json={"reset_status": {"status": "error"}})
        assert reset.status_code == 403, reset.text
        assert member.post(f"{base}/groups/{gid}/action", headers=v313,
                           json={"delete": {"delete-volumes": False}}).status_code == 202
    finally:
        assert admin.delete(f"/volume/v3/group_types/{gtype_id}").status_code == 202
        assert admin.delete(f"/volume/v3/types/{type_id}").status_code == 202
