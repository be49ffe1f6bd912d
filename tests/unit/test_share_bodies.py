"""The share API's bodies converted under issue 14 (share networks, their subnets, security
services, ...): what each model takes, and Manila's 400s for what it does not."""

from __future__ import annotations

from shoal.api.openstack.bodies import parse
from shoal.api.share import admin_bodies, bodies, group_bodies, network_bodies
from tests.unit.test_request_bodies import LONE, MANILA
from tests.unit.test_request_bodies import refused as refused_by


def refused(model, data, where="body") -> str:
    return refused_by(MANILA, model, data, where)


def test_share_network_bodies():
    b = parse(MANILA, network_bodies.ShareNetworkCreate, {"name": "n", "neutron_net_id": "net", "neutron_subnet_id": "sub",
                                                  "segmentation_id": "100", "mtu": 1500, "ip_version": None,
                                                  "availability_zone": "az", "unknown": [1]})
    assert b.model_dump(exclude_unset=True) == {"name": "n", "neutron_net_id": "net", "neutron_subnet_id": "sub",
                                                "segmentation_id": 100, "mtu": 1500, "ip_version": None,
                                                "availability_zone": "az"}
    assert "nova_net_id" in parse(MANILA, network_bodies.ShareNetworkUpdate, {"nova_net_id": None}).model_fields_set
    assert refused(network_bodies.ShareNetworkCreate, {"name": 5}) == "name must be a string"
    assert "must be valid Unicode" in refused(network_bodies.ShareNetworkCreate, {"description": LONE})
    assert refused(network_bodies.ShareNetworkCreate, {"segmentation_id": 2**64}) == "segmentation_id is out of range"
    assert refused(network_bodies.ShareNetworkCreate, {"ip_version": "four"}) == "ip_version must be an integer, not 'four'"
    assert refused(network_bodies.ShareNetworkCreate, {"mtu": True}) == "mtu must be an integer, not True"
    assert refused(network_bodies.ShareNetworkCreate, {"cidr": ["10.0.0.0/8"]}) == "cidr must be a string"
    assert refused(network_bodies.ShareNetworkCreate, {"network_type": "x" * 33}) == \
        "network_type is longer than 32 characters"
    assert refused(network_bodies.ShareNetworkCreate, {"created_at": 5}) == "created_at must be a string"
    assert parse(MANILA, network_bodies.ShareNetworkUpdate, {"availability_zone": []}).model_dump(exclude_unset=True) == {}


def test_subnet_and_action_bodies():
    sub = parse(MANILA, network_bodies.SubnetCreate, {"availability_zone": "az", "metadata": {"k": "v"}, "reset": False})
    assert (sub.availability_zone, sub.metadata) == ("az", {"k": "v"})
    assert refused(network_bodies.SubnetCreate, {"metadata": {"k": 1}}).startswith("metadata keys must be")
    assert refused(network_bodies.SubnetCreate, {"availability_zone": {"a": 1}}) == "availability_zone must be a string"
    assert refused(network_bodies.SecurityServiceLink, {}) == "'security_service_id' is a required property"
    assert refused(network_bodies.SecurityServiceLink, {"security_service_id": []}) == "security_service_id must be a string"
    swap = parse(MANILA, network_bodies.SecurityServiceSwap, {"current_service_id": "a", "new_service_id": "b"})
    assert (swap.current_service_id, swap.new_service_id) == ("a", "b")
    assert set(network_bodies.SHARE_NETWORK_ACTIONS) >= {"add_security_service", "reset_status",
                                                  "share_network_subnet_create_check"}


def test_security_service_bodies():
    b = parse(MANILA, network_bodies.SecurityServiceFields, {"type": "ldap", "password": "p", "ou": "OU=x", "other": 1})
    assert b.model_dump(exclude_unset=True) == {"type": "ldap", "password": "p", "ou": "OU=x"}
    assert parse(MANILA, network_bodies.SecurityServiceFields, {}).type is None  # the service's "Invalid type None ..."
    assert refused(network_bodies.SecurityServiceFields, {"type": ["ldap"]}) == "type must be a string"
    assert refused(network_bodies.SecurityServiceFields, {"password": 7}) == "password must be a string"
    assert refused(network_bodies.SecurityServiceFields, {"dns_ip": "1" * 65}) == "dns_ip is longer than 64 characters"
    assert refused(network_bodies.SecurityServiceFields, {"description": "d" * 256}) == \
        "description is longer than 255 characters"


def test_share_group_bodies():
    gid = "0b5d1e9c-8b8a-4a43-8d7a-3f9b1f0c2a11"
    b = parse(MANILA, group_bodies.ShareGroupCreate, {"name": "g", "share_group_type_id": gid, "share_types": [gid],
                                                "availability_zone": "az"})
    assert (b.name, b.share_group_type_id, b.share_types, b.availability_zone) == ("g", gid, [gid], "az")
    assert parse(MANILA, group_bodies.ShareGroupCreate, {"share_types": None}).share_types is None  # the default type
    assert refused(group_bodies.ShareGroupCreate, {"share_types": [gid, "x"]}) == \
        "The 'share_types' attribute must be a list of uuids"
    assert refused(group_bodies.ShareGroupCreate, {"share_types": gid}) == "The 'share_types' attribute must be a list of uuids"
    for field in ("share_group_type_id", "source_share_group_snapshot_id", "share_network_id"):
        for value in ("not-a-uuid", None, 5):
            assert refused(group_bodies.ShareGroupCreate, {field: value}) == f"The '{field}' attribute must be a uuid."
    assert refused(group_bodies.ShareGroupCreate, {"availability_zone": 5}) == "availability_zone must be a string"
    assert "name must be valid Unicode" in refused(group_bodies.ShareGroupCreate, {"name": LONE})
    assert refused(group_bodies.ShareGroupCreate, {"host": "h"}) == "The fields host are invalid."
    assert group_bodies.GroupRename.UNDECLARED.format({"status"}) == \
        "The fields {'status'} are invalid or not allowed to be updated."  # Manila's words, as the handler says them
    assert refused(group_bodies.GroupRename, {"description": "d" * 1025}) == "description is longer than 1024 characters"
    snap = parse(MANILA, group_bodies.GroupSnapshotCreate, {"share_group_id": gid, "name": "s"})
    assert (snap.share_group_id, snap.name) == (gid, "s")
    assert parse(MANILA, group_bodies.GroupSnapshotCreate, {}).share_group_id is None  # "Must supply ...": the handler
    assert refused(group_bodies.GroupSnapshotCreate, {"share_group_id": "x"}) == "The 'share_group_id' attribute must be a uuid."
    assert set(group_bodies.GROUP_ACTIONS) == {"reset_status", "force_delete"}


def test_share_group_type_bodies():
    b = parse(MANILA, group_bodies.GroupTypeCreate, {"name": "g", "share_types": ["default"], "is_public": "false",
                                               "group_specs": {"consistent_snapshot_support": "pool"}})
    assert (b.name, b.share_types, b.is_public, b.group_specs) == \
        ("g", ["default"], False, {"consistent_snapshot_support": "pool"})
    assert parse(MANILA, group_bodies.GroupTypeCreate, {"name": "g", "share_types": ["t"]}).is_public is True
    # Manila's words, for a missing field too, share types first
    assert refused(group_bodies.GroupTypeCreate, {}) == "Supported share types must be provided."
    assert refused(group_bodies.GroupTypeCreate, {"name": "g", "share_types": []}) == "Supported share types must be provided."
    assert refused(group_bodies.GroupTypeCreate, {"share_types": ["t"]}) == "Share group type name is not valid."
    assert refused(group_bodies.GroupTypeCreate, {"name": "x" * 256, "share_types": ["t"]}) == \
        "Share group type name is not valid."
    assert "must be valid Unicode" in refused(group_bodies.GroupTypeCreate, {"name": LONE, "share_types": ["t"]})
    assert refused(group_bodies.GroupTypeCreate, {"name": "g", "share_types": [5]}) == \
        "share_types must be a list of names or ids"
    assert refused(group_bodies.GroupTypeCreate, {"name": "g", "share_types": ["t"], "group_specs": ["k"]}) == \
        "Group specs can be either of 'None' or 'dict' types."
    assert refused(group_bodies.GroupTypeCreate, {"name": "g", "share_types": ["t"], "group_specs": {"k": 5}}) == \
        "Group specs keys and values should be strings of 1-255 characters."
    assert refused(group_bodies.GroupTypeCreate, {"name": "g", "share_types": ["t"], "is_public": "perhaps"}) == \
        "is_public must be a boolean"
    assert parse(MANILA, group_bodies.GroupSpecsSet, {"group_specs": {"k": "v"}}).group_specs == {"k": "v"}
    assert refused(group_bodies.GroupSpecsSet, {"group_specs": None}) == "group_specs must be an object"
    assert refused(group_bodies.GroupSpecsSet, {}) == "'group_specs' is a required property"
    assert refused(group_bodies.ProjectAccess, {"project": ["p"]}) == "project must be a string"


def test_share_replica_bodies():
    b = parse(MANILA, admin_bodies.ReplicaCreate, {"share_id": "s", "availability_zone": "az"})
    assert (b.share_id, b.availability_zone, b.share_network_id) == ("s", "az", None)
    assert parse(MANILA, admin_bodies.ReplicaCreate, {}).share_id is None  # the service's "share_id is required"
    assert refused(admin_bodies.ReplicaCreate, {"share_id": 7}) == "share_id must be a string"
    assert refused(admin_bodies.ReplicaCreate, {"share_id": "s", "availability_zone": ["az"]}) == \
        "availability_zone must be a string"
    assert parse(MANILA, admin_bodies.Promote, None).quiesce_wait_time is None
    assert parse(MANILA, admin_bodies.Promote, {"quiesce_wait_time": 0}).quiesce_wait_time == 0
    for bad in (-1, "5", 1.5, True, 2**31):
        assert refused(admin_bodies.Promote, {"quiesce_wait_time": bad}) == "quiesce_wait_time must be a non-negative integer"
    assert refused(admin_bodies.ReplicaState, {}) == "'replica_state' is a required property"
    assert refused(admin_bodies.ReplicaState, {"replica_state": ["active"]}) == "replica_state must be a string"
    assert refused(admin_bodies.Promote, "now", "promote") == "promote must be an object"


def test_migration_start_body():
    flags = {"preserve_metadata": "false", "writable": True, "nondisruptive": False, "preserve_snapshots": "no"}
    b = parse(MANILA, admin_bodies.MigrationStart, {"host": "shoal@b#p", **flags, "new_share_type_id": "t"})
    assert b.model_dump(exclude_unset=True) == {"host": "shoal@b#p", "preserve_metadata": False, "writable": True,
                                                "nondisruptive": False, "preserve_snapshots": False,
                                                "new_share_type_id": "t"}
    assert "host" not in parse(MANILA, admin_bodies.MigrationStart, flags).model_fields_set  # "'host' is missing.": the service
    assert parse(MANILA, admin_bodies.MigrationStart, {"host": "h"}).force_host_assisted_migration is False
    assert refused(admin_bodies.MigrationStart, {"host": "h", "writable": "perhaps"}) == "writable must be a boolean"
    assert refused(admin_bodies.MigrationStart, {"host": "h", "writable": None}) == "writable must be a boolean"
    assert refused(admin_bodies.MigrationStart, {"host": 5}) == "host must be a string"
    assert refused(admin_bodies.MigrationStart, {"host": "h", "new_share_type_id": ["t"]}) == \
        "new_share_type_id must be a string"
    schema = admin_bodies.MigrationStart.model_json_schema()
    assert set(schema["required"]) == {"host", "preserve_metadata", "writable", "nondisruptive", "preserve_snapshots"}


def test_quota_bodies():
    b = parse(MANILA, admin_bodies.QuotaSetUpdate, {"shares": "10", "gigabytes": -1, "tenant_id": "p", "cores": 4,
                                              "force": "true"})
    assert b.force is True
    # the other keys go on to the quota service (Manila's id and tenant_id ignored, 'Bad key(s) cores')
    assert b.model_dump(exclude_unset=True, exclude={"force"}) == {"shares": 10, "gigabytes": -1, "tenant_id": "p",
                                                                   "cores": 4}
    assert parse(MANILA, admin_bodies.QuotaSetUpdate, {}).force is False
    assert refused(admin_bodies.QuotaSetUpdate, {"force": "perhaps"}) == \
        "Invalid input received: force must be a boolean, not 'perhaps'"
    assert refused(admin_bodies.QuotaSetUpdate, {"shares": -2}) == \
        "Invalid input received: Quota limit for shares must be -1 (unlimited) or greater, not -2."
    for bad in ("lots", None, True, 1.5, [1]):
        assert "Quota limit for gigabytes must be an integer" in refused(admin_bodies.QuotaValues, {"gigabytes": bad})
    assert "must be at most" in refused(admin_bodies.QuotaValues, {"share_replicas": 2**31})
    assert "force" not in admin_bodies.QuotaValues.model_fields  # a class set takes none


def test_instance_action_bodies():
    assert set(admin_bodies.INSTANCE_ACTIONS) == {"reset_status", "force_delete"}
    assert parse(MANILA, admin_bodies.INSTANCE_ACTIONS["reset_status"], {"status": "error"}).status == "error"
    assert refused(admin_bodies.INSTANCE_ACTIONS["reset_status"], {"status": [1]}) == "status must be a string"
    assert refused(admin_bodies.INSTANCE_ACTIONS["reset_status"], "error", "reset_status") == \
        "reset_status must be an object"


def test_group_spec_item_body():
    assert parse(MANILA, group_bodies.GroupSpecItem, {"k": "v"}).model_dump() == {"k": "v"}
    assert refused(group_bodies.GroupSpecItem, {"k": 5}) == "Group specs keys and values should be strings of 1-255 characters."
    assert "must be valid Unicode" in refused(group_bodies.GroupSpecItem, {"k": LONE})


def test_extra_specs_body():
    assert parse(MANILA, bodies.ExtraSpecsSet, {"extra_specs": {"k": "v", "n": 1}}).extra_specs == {"k": "v", "n": 1}
    assert refused(bodies.ExtraSpecsSet, {}) == "'extra_specs' is a required property"
    assert refused(bodies.ExtraSpecsSet, {"extra_specs": ["k"]}) == "extra_specs must be an object"
