"""Request bodies are read through the declared models (api/openstack/bodies.parse):
what they accept, the 400 messages of each API, and that nothing unsafe gets through
(lone surrogates, NUL, numbers past the database's integers, lists where objects are due)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.share import bodies as share
from shoal.api.volume import bodies as volume

MANILA, CINDER = SimpleNamespace(root="share"), SimpleNamespace(root="volume")
LONE = "\ud800"


def refused(call, model, data, where="body") -> str:
    with pytest.raises(ApiError) as caught:
        parse(call, model, data, where)
    assert caught.value.code == 400
    message = caught.value.message
    message.encode("utf-8")  # an answer can always be sent
    return message


def test_a_valid_create_is_read_with_its_types():
    b = parse(MANILA, share.ShareCreate, {"size": "2", "share_proto": "NFS", "display_name": "old name",
                                          "metadata": {"k": "v"}, "is_public": "yes", "unknown": [1]}, "share")
    assert (b.size, b.share_proto, b.first("name", "display_name"), b.metadata, b.is_public) == \
        (2, "NFS", "old name", {"k": "v"}, True)
    assert b.first("description", "display_description") is None
    v = parse(CINDER, volume.VolumeCreate, {"name": "n", "display_name": "old"}, "volume")
    assert v.size is None and v.first("name", "display_name") == "n"  # the new name first


@pytest.mark.parametrize(("field", "value", "words"), [
    ("name", 123, "name must be a string"),
    ("name", ["x"], "name must be a string"),
    ("name", f"a{LONE}", "valid Unicode text without NUL"),
    ("name", "a\x00b", "valid Unicode text without NUL"),
    ("name", "n" * 256, "longer than 255"),
    ("description", "d" * 1025, "longer than 1024"),
    ("size", 2**63, "at most 2147483647"),
    ("size", 0, "positive integer"),
    ("size", 1.5, "positive integer"),
    ("size", True, "positive integer"),
    ("size", None, "positive integer"),
    ("metadata", {"k": LONE}, "valid Unicode"),
    ("metadata", {"k": 1}, "metadata keys must be"),
    ("metadata", ["k"], "metadata must be an object"),
    ("is_public", "perhaps", "is_public must be a boolean"),
    ("snapshot_id", {"id": 1}, "snapshot_id must be a string"),
    ("availability_zone", ["nova"], "availability_zone must be a string"),
])
def test_a_bad_field_is_refused_by_name(field, value, words):
    message = refused(MANILA, share.ShareCreate, {"size": 1, "share_proto": "NFS", field: value}, "share")
    assert words in message and not message.startswith("Invalid input received"), message
    cinder_too = field in volume.VolumeCreate.model_fields and value is not None  # no size: the source's
    message = refused(CINDER, volume.VolumeCreate, {"size": 1, field: value}, "volume") if cinder_too else None
    assert message is None or (message.startswith("Invalid input received: ") and words in message), message


def test_missing_fields_and_arguments_that_are_not_objects():
    assert refused(MANILA, share.ShareCreate, {"size": 1}, "share") == "'share_proto' is a required property"
    assert refused(MANILA, share.NewSize, "2", "extend") == "extend must be an object"
    assert refused(MANILA, share.NewSize, None, "extend") == "'new_size' is a required property"
    assert refused(CINDER, volume.NewSize, [], "os-extend") == "Invalid input received: os-extend must be an object"
    assert "connector must be an object" in refused(CINDER, volume.Connector, {"connector": "iqn"})
    assert "instance_uuid must be a string" in refused(CINDER, volume.Attach, {"instance_uuid": 5})
    assert "bootable must be a boolean" in refused(CINDER, volume.Bootable, {"bootable": "perhaps"})
    assert parse(CINDER, volume.Bootable, {"bootable": "False"}).bootable is False


def test_an_update_changes_only_what_it_declares():
    assert refused(MANILA, share.ShareUpdate, {"size": 9, "host": "x", "name": "n"}) == "cannot update host, size"
    assert refused(CINDER, volume.VolumeUpdate, {"status": "x"}) == "Invalid input received: cannot update status"
    assert refused(MANILA, share.ShareUpdate, {"is_public": "yes"}) == "is_public must be a boolean"
    assert refused(MANILA, share.ShareUpdate, {"is_public": None}) == "is_public must be a boolean"
    update = parse(MANILA, share.ShareUpdate, {"display_name": None, "is_public": False})
    assert update.model_dump(exclude_unset=True) == {"display_name": None, "is_public": False}


def test_a_refused_value_is_shown_escaped():
    message = refused(MANILA, share.SnapshotUpdate, {"name": LONE})
    assert LONE not in message
    message = refused(CINDER, volume.SnapshotStatus, {"status": "x", "progress": "9" * 17})
    assert "longer than 16" in message


def test_reset_task_state_takes_the_old_name_too():
    arg = parse(MANILA, share.TaskState, {"os-task_state": "migration_error"})
    assert arg.first("task_state", "os_task_state") == "migration_error"


def test_a_strict_action_names_what_it_does_not_take():
    message = refused(CINDER, volume.MigrateVolume, {"host": "shoal@zfs#pool", "speed": "fast", "eta": 1})
    assert message == "Invalid input received: Additional properties are not allowed (eta, speed)"
    assert "force_host_copy must be a boolean" in refused(CINDER, volume.MigrateVolume, {"force_host_copy": "perhaps"})
    arg = parse(CINDER, volume.MigrateVolume, {"host": "shoal@zfs#pool", "lock_volume": "yes"})
    assert (arg.host, arg.lock_volume, arg.model_fields_set) == ("shoal@zfs#pool", True, {"host", "lock_volume"})


def test_manage_bodies():
    ref = {"source-name": "vol-1"}
    assert "volume_type must be a string" in refused(CINDER, volume.VolumeManage, {"ref": ref, "volume_type": [1]})
    assert "bootable must be a boolean" in refused(CINDER, volume.VolumeManage, {"ref": ref, "bootable": "perhaps"})
    assert "ref must be an object" in refused(CINDER, volume.VolumeManage, {"ref": "vol-1"})
    assert "'ref' is a required property" in refused(CINDER, volume.SnapshotManage, {"volume_id": "v"})
    assert "description must be valid Unicode" in refused(CINDER, volume.SnapshotManage,
                                                          {"ref": ref, "description": LONE})
    location = {"path": "10.0.0.1:/x", "preferred": True}
    assert parse(MANILA, share.ShareManage, {"export_path": location}).export_path == location
    assert parse(MANILA, share.ShareManage, {"export_path": "10.0.0.1:/x"}).export_path == "10.0.0.1:/x"
    assert "export_path" in refused(MANILA, share.ShareManage, {"export_path": 5})
    assert refused(MANILA, share.SnapshotManage, {"provider_location": "p"}) == "'share_id' is a required property"


def test_type_bodies():
    created = parse(CINDER, volume.TypeCreate, {"name": "t", "os-volume-type-access:is_public": "false"})
    assert created.first("access_is_public", "is_public") is False
    assert "name must be a string" in refused(CINDER, volume.TypeCreate, {"name": 5})
    long = {"name": "t", "description": "d" * 256}
    assert "description is longer than 255" in refused(CINDER, volume.TypeCreate, long)
    assert "extra_specs must be an object" in refused(CINDER, volume.TypeCreate, {"name": "t", "extra_specs": []})
    assert refused(CINDER, volume.TypeUpdate, {"extra_specs": {}}) == \
        "Invalid input received: Additional properties are not allowed (extra_specs)"
    share_type = parse(MANILA, share.TypeCreate, {"name": "t", "share_type_access:is_public": "no"})
    assert share_type.first("access_is_public", "old_access_is_public") is False
    assert refused(MANILA, share.TypeUpdate, {"share_type_access:is_public": "x"}) == \
        "share_type_access:is_public must be a boolean"  # the key the client sent


def test_share_type_spec_item_and_access_bodies():
    assert parse(MANILA, share.SpecItem, {"k": True}).model_extra == {"k": "True"}  # Manila keeps a flag as text
    assert "extra spec k must be a string" in refused(MANILA, share.SpecItem, {"k": ["v"]})
    assert "valid Unicode" in refused(MANILA, share.SpecItem, {"k": f"v{LONE}"})
    assert "must be true or false" in refused(MANILA, share.SpecItem, {"driver_handles_share_servers": "maybe"})
    assert parse(MANILA, share.TYPE_ACTIONS["addProjectAccess"], {"project": "p"}).project == "p"
    assert refused(MANILA, share.TYPE_ACTIONS["removeProjectAccess"], {}) == "'project' is a required property"


def test_resource_lock_bodies():
    created = parse(MANILA, share.LockCreate, {"resource_id": "r", "lock_reason": None, "other": 1})
    assert created.model_fields_set == {"resource_id", "lock_reason"}  # the service tells given from not
    assert refused(MANILA, share.LockCreate, {"lock_reason": "x" * 1024}) == \
        "'lock_reason' can contain a maximum of 1023 characters."
    assert "resource_action must be a string" in refused(MANILA, share.LockCreate, {"resource_action": ["show"]})
    assert refused(MANILA, share.LockUpdate, {"lock_reason": "r", "resource_id": "x"}) == \
        "Only 'resource_action' and 'lock_reason' can be updated."  # Manila's words
    assert "valid Unicode" in refused(MANILA, share.LockUpdate, {"lock_reason": LONE})


def test_transfer_bodies():
    assert "name must be valid Unicode" in refused(CINDER, volume.TransferCreate, {"volume_id": "v", "name": LONE})
    assert "no_snapshots must be a boolean" in refused(CINDER, volume.TransferCreate, {"no_snapshots": "x"})
    assert "auth_key must be a string" in refused(CINDER, volume.TransferAccept, {"auth_key": 5})
    assert "share_id must be a string" in refused(MANILA, share.TransferCreate, {"share_id": ["s"]})
    accept = parse(MANILA, share.TransferAccept, {"auth_key": "k", "clear_access_rules": "true"})
    assert (accept.auth_key, accept.clear_access_rules) == ("k", True)
    assert parse(MANILA, share.TransferCreate, {}).share_id is None  # the service's "Must supply 'share_id'"


def test_group_bodies():
    assert "volume_types must be a list" in refused(CINDER, volume.GroupCreate, {"volume_types": "t1"})
    assert "volume_types must be a list" in refused(CINDER, volume.GroupCreate, {"volume_types": ["t1", 2]})
    assert "valid Unicode" in refused(CINDER, volume.GroupCreate, {"volume_types": [LONE]})
    assert "group_type must be a string" in refused(CINDER, volume.GroupCreate, {"group_type": ["g"]})
    assert "add_volumes must be a string" in refused(CINDER, volume.GroupUpdate, {"add_volumes": ["v"]})
    update = parse(CINDER, volume.GroupUpdate, {"add_volumes": "a,b", "name": None})
    assert update.model_dump(exclude_unset=True) == {"add_volumes": "a,b", "name": None}
    assert "group_snapshot_id must be a string" in refused(CINDER, volume.GroupFromSource, {"group_snapshot_id": 5})
    assert "name must be valid Unicode" in refused(CINDER, volume.GroupSnapshotCreate, {"group_id": "g", "name": LONE})
