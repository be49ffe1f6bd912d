"""The volume API's administrators' bodies (api/volume/admin_bodies.py) read through their
models: QoS specs and encryption types, with the services' 400 messages, and the
OpenAPI document describing each of them (what schemathesis fuzzes)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.volume import admin_bodies as admin
from shoal.app import create_app
from shoal.config import Settings

CINDER = SimpleNamespace(root="volume")
LONE = "\ud800"


def refused(model, data) -> str:
    with pytest.raises(ApiError) as caught:
        parse(CINDER, model, data)
    assert caught.value.code == 400
    message = caught.value.message
    message.encode("utf-8")  # an answer can always be sent
    assert message.startswith("Invalid input received: "), message
    return message.removeprefix("Invalid input received: ")


def test_qos_create_takes_a_name_a_consumer_and_the_specs_as_other_keys():
    b = parse(CINDER, admin.QosCreate, {"name": "fast", "consumer": "front-end", "read_iops_sec": "2000",
                                        "burst": True})
    assert (b.name, b.consumer, b.specs()) == ("fast", "front-end", {"read_iops_sec": "2000", "burst": "True"})
    assert parse(CINDER, admin.QosCreate, {"name": "slow"}).consumer is None  # the service's back-end


@pytest.mark.parametrize(("data", "words"), [
    ({}, "'name' is a required property"),
    ({"name": 5}, "name must be a string of 1-255 characters"),
    ({"name": "  "}, "name must be a string of 1-255 characters"),
    ({"name": "a\x00b"}, "name must be valid Unicode text without NUL characters"),
    ({"name": LONE}, "name must be valid Unicode text without NUL characters"),
    ({"name": "n" * 256}, "name is longer than 255 characters"),
    ({"name": "q", "consumer": ["front-end"]}, "consumer must be one of front-end, back-end, both, not ['front-end']"),
    ({"name": "q", "consumer": "sideways"}, "consumer must be one of front-end, back-end, both, not 'sideways'"),
    ({"name": "q", "read_iops_sec": 5}, "extra spec read_iops_sec must be a string of at most 255 characters"),
    ({"name": "q", "read_iops_sec": LONE}, "must be valid Unicode text without NUL characters"),
    ({"name": "q", "k\x00": "v"}, "extra spec key must be valid Unicode text without NUL characters"),
    ({"name": "q", "k" * 256: "v"}, "must be 1-255 characters"),
])
def test_a_bad_qos_create_is_refused(data, words):
    assert words in refused(admin.QosCreate, data)


def test_qos_keys_set_and_unset():
    b = parse(CINDER, admin.QosKeys, {"consumer": "both", "iops": "5"})
    assert b.specs() == {"iops": "5", "consumer": "both"}
    assert parse(CINDER, admin.QosKeys, {"iops": "5"}).specs() == {"iops": "5"}
    assert refused(admin.QosKeys, {}) == "qos_specs must be a non-empty object"
    assert "extra spec iops must be a string" in refused(admin.QosKeys, {"iops": ["5"]})
    assert "consumer must be one of" in refused(admin.QosKeys, {"consumer": 1})
    assert parse(CINDER, admin.QosKeysUnset, {"keys": ["a", "b"]}).keys == ["a", "b"]
    assert refused(admin.QosKeysUnset, {}) == "'keys' is a required property"
    assert "keys must be a list" in refused(admin.QosKeysUnset, {"keys": "a"})
    assert "keys must be a list" in refused(admin.QosKeysUnset, {"keys": ["a", 1]})
    assert "valid Unicode" in refused(admin.QosKeysUnset, {"keys": [LONE]})
    assert refused(admin.QosKeysUnset, {"keys": [], "other": 1}) == "Additional properties are not allowed (other)"


def test_encryption_create_and_update():
    wanted = {"provider": "luks", "cipher": "aes-xts-plain64", "key_size": 256, "control_location": "front-end"}
    assert parse(CINDER, admin.EncryptionCreate, wanted).model_dump(exclude_unset=True) == wanted
    assert parse(CINDER, admin.EncryptionCreate, {"provider": "luks", "key_size": None}).key_size is None
    assert refused(admin.EncryptionCreate, {"cipher": "x"}) == "'provider' is a required property"
    assert refused(admin.EncryptionCreate, {"provider": None}) == "provider must be a string of 1-255 characters"
    assert refused(admin.EncryptionCreate, {"provider": 5}) == "provider must be a string of 1-255 characters"
    assert "valid Unicode" in refused(admin.EncryptionCreate, {"provider": LONE})
    for size in ("256", 2**70, -1, True, 1.5):
        assert refused(admin.EncryptionCreate, {"provider": "luks", "key_size": size}) == \
            "key_size must be a non-negative integer"
    assert refused(admin.EncryptionCreate, {"provider": "luks", "colour": "red", "age": 1}) == \
        "unknown encryption fields age, colour"
    assert refused(admin.EncryptionCreate, {"provider": "luks", "control_location": "middle"}) == \
        "Valid control location are: ['front-end', 'back-end']"
    assert refused(admin.EncryptionUpdate, {}) == "encryption must be a non-empty object"
    assert refused(admin.EncryptionUpdate, {"provider": ""}) == "provider must be a string of 1-255 characters"
    assert refused(admin.EncryptionUpdate, {"control_location": None}) == \
        "Valid control location are: ['front-end', 'back-end']"
    changed = parse(CINDER, admin.EncryptionUpdate, {"key_size": 128, "control_location": "back-end"})
    assert changed.model_dump(exclude_unset=True) == {"key_size": 128, "control_location": "back-end"}


PATHS = create_app(Settings(api={"auth": "noauth"}), start=False).openapi()["paths"]


@pytest.mark.parametrize("project", ["", "/{project_id}"])
@pytest.mark.parametrize(("method", "path", "keys"), [
    ("post", "/volume/v3{p}/qos-specs", {"qos_specs"}),
    ("put", "/volume/v3{p}/qos-specs/{{qos_id}}", {"qos_specs"}),
    ("put", "/volume/v3{p}/qos-specs/{{qos_id}}/delete_keys", {"keys"}),
    ("post", "/volume/v3{p}/types/{{type_id}}/encryption", {"encryption"}),
    ("put", "/volume/v3{p}/types/{{type_id}}/encryption/{{encryption_id}}", {"encryption"}),
])
def test_the_bodies_are_described(method, path, keys, project):
    schema = PATHS[path.format(p=project)][method]["requestBody"]["content"]["application/json"]["schema"]
    assert keys <= set(schema["properties"]), schema


def test_the_qos_association_query_is_described():
    parameters = PATHS["/volume/v3/qos-specs/{qos_id}/associate"]["get"]["parameters"]
    assert "vol_type_id" in {p["name"] for p in parameters}


def test_quota_set_and_class_values():
    b = parse(CINDER, admin.QuotaSetUpdate, {"quota_set": {"volumes": "x"}, "skip_validation": "false"})
    assert b.skip_validation is False
    values = parse(CINDER, admin.QuotaValues, {"volumes": "5", "volumes_gold": 3, "id": "p"})
    # the per-type keys and Cinder's ignored ones go on to the quota service, which knows the types
    assert values.model_dump(exclude_unset=True) == {"volumes": 5, "volumes_gold": 3, "id": "p"}
    for value, words in ((-2, "must be -1 (unlimited) or greater, not -2."), (True, "must be an integer, not True."),
                         (None, "must be an integer, not None."), ("1.5", "must be an integer, not '1.5'."),
                         (2**40, "must be at most 2147483647."), ([1], "must be an integer, not [1].")):
        assert refused(admin.QuotaValues, {"gigabytes": value}) == f"Quota limit for gigabytes {words}"
    assert refused(admin.QuotaSetUpdate, {"quota_set": {}, "skip_validation": "x"}) == \
        "skip_validation must be a boolean"
    assert parse(CINDER, admin.QuotaSetUpdate, {"quota_set": {}}).skip_validation is None  # then the query's
    assert parse(CINDER, admin.QuotaValues, {"volumes": -1, "class_name": "default"}).volumes == -1


def test_the_quota_bodies_are_described():
    quota_set = PATHS["/volume/v3/os-quota-sets/{target_project}"]["put"]
    schema = quota_set["requestBody"]["content"]["application/json"]["schema"]
    assert "$ref" not in str(schema)  # whole, as schemathesis reads it
    assert schema["properties"]["quota_set"]["properties"]["volumes"]["minimum"] == -1
    assert schema["properties"]["skip_validation"] == {"type": "boolean"}
    assert "skip_validation" in {p["name"] for p in quota_set["parameters"]}  # the query's too
    quota_class = PATHS["/volume/v3/os-quota-class-sets/{class_name}"]["put"]
    assert "quota_class_set" in quota_class["requestBody"]["content"]["application/json"]["schema"]["properties"]


def test_group_type_bodies():
    b = parse(CINDER, admin.GroupTypeCreate, {"name": "g", "is_public": "false", "group_specs": {"k": True},
                                              "unknown": 1})
    assert b.model_dump(exclude_none=True) == {"name": "g", "is_public": False, "group_specs": {"k": "True"}}
    assert refused(admin.GroupTypeCreate, {}) == "'name' is a required property"
    assert refused(admin.GroupTypeCreate, {"name": {"a": 1}}) == "name must be a string of 1-255 characters"
    assert "valid Unicode" in refused(admin.GroupTypeCreate, {"name": LONE})
    assert refused(admin.GroupTypeCreate, {"name": "g", "description": "d" * 256}) == \
        "description is longer than 255 characters"
    assert refused(admin.GroupTypeCreate, {"name": "g", "group_specs": ["a"]}) == "group_specs must be an object"
    assert refused(admin.GroupTypeCreate, {"name": "g", "group_specs": {"k": 1}}) == \
        "group spec k must be a string of at most 255 characters"
    assert refused(admin.GroupTypeCreate, {"name": "g", "is_public": "perhaps"}) == "is_public must be a boolean"
    assert refused(admin.GroupTypeCreate, {"name": "g", "is_public": None}) == "is_public must be a boolean"
    update = parse(CINDER, admin.GroupTypeUpdate, {"name": None, "description": "d"})
    assert update.model_dump(exclude_unset=True) == {"name": None, "description": "d"}
    assert refused(admin.GroupTypeUpdate, {"group_specs": {}}) == "Additional properties are not allowed (group_specs)"
    assert refused(admin.GroupTypeUpdate, {"name": " "}) == "name must be a string of 1-255 characters"
    assert parse(CINDER, admin.GroupSpecsSet, {"group_specs": {"a": "1"}}).group_specs == {"a": "1"}
    assert refused(admin.GroupSpecsSet, {}) == "'group_specs' is a required property"
    assert refused(admin.GroupSpecsSet, {"group_specs": {"a": "1"}, "b": 2}) == \
        "Additional properties are not allowed (b)"
    assert parse(CINDER, admin.GroupSpecItem, {"k3": "v"}).specs() == {"k3": "v"}
    assert refused(admin.GroupSpecItem, {"k3": ["v"]}) == "group spec k3 must be a string of at most 255 characters"
    assert "valid Unicode" in refused(admin.GroupSpecItem, {"k3": LONE})


@pytest.mark.parametrize("project", ["", "/{project_id}"])
@pytest.mark.parametrize(("method", "path", "keys"), [
    ("post", "/volume/v3{p}/group_types", {"group_type"}),
    ("put", "/volume/v3{p}/group_types/{{type_id}}", {"group_type"}),
    ("post", "/volume/v3{p}/group_types/{{type_id}}/group_specs", {"group_specs"}),
])
def test_the_group_type_bodies_are_described(method, path, keys, project):
    test_the_bodies_are_described(method, path, keys, project)


def test_service_bodies():
    assert parse(CINDER, admin.ServiceFreeze, {"host": "shoal@test"}).host == "shoal@test"
    assert refused(admin.ServiceFreeze, {"host": "shoal@test", "binary": "cinder-volume"}) == \
        "Additional properties are not allowed (binary)"
    enable = parse(CINDER, admin.ServiceEnable, {"host": "shoal@test", "binary": "cinder-volume"})
    assert (enable.host, enable.binary) == ("shoal@test", "cinder-volume")
    assert refused(admin.ServiceEnable, {"host": ["shoal@test"]}) == "host must be a string"
    assert refused(admin.ServiceEnable, {"host": "h", "disabled_reason": "x"}) == \
        "Additional properties are not allowed (disabled_reason)"  # only disable-log-reason takes one
    reason = {"host": "h", "binary": "cinder-volume", "disabled_reason": "maintenance"}
    assert parse(CINDER, admin.ServiceDisableWithReason, reason).disabled_reason == "maintenance"
    assert refused(admin.ServiceDisableWithReason, {"host": "h"}) == "'disabled_reason' is a required property"
    for bad in ("", " ", "r" * 256, "a\x00b", LONE, 5, None):
        assert refused(admin.ServiceDisableWithReason, {**reason, "disabled_reason": bad}) == \
            "Disabled reason contains invalid characters or is too long"
    assert set(admin.SERVICE_ACTIONS) == {"enable", "disable", "disable-log-reason", "freeze", "thaw"}


def test_the_service_body_is_described():
    schema = PATHS["/volume/v3/os-services/{action}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"host", "binary"} <= set(schema["properties"]) and schema["additionalProperties"] is False


def test_volume_type_specs_and_access():
    assert parse(CINDER, admin.ExtraSpecsSet, {"extra_specs": {"compression": "<is> True", "thin": True}}).extra_specs \
        == {"compression": "<is> True", "thin": "True"}
    assert refused(admin.ExtraSpecsSet, {}) == "'extra_specs' is a required property"
    assert refused(admin.ExtraSpecsSet, {"extra_specs": ["a"]}) == "extra_specs must be an object"
    assert refused(admin.ExtraSpecsSet, {"extra_specs": {"k": {"v": 1}}}) == \
        "extra spec k must be a string of at most 255 characters"
    assert "valid Unicode" in refused(admin.ExtraSpecsSet, {"extra_specs": {LONE: "v"}})
    assert refused(admin.ExtraSpecsSet, {"extra_specs": {}, "other": 1}) == "Additional properties are not allowed (other)"
    assert parse(CINDER, admin.SpecItem, {"k": "v"}).specs() == {"k": "v"}
    assert refused(admin.SpecItem, {"k": 5}) == "extra spec k must be a string of at most 255 characters"
    assert parse(CINDER, admin.ProjectAccess, {"project": "p1"}).project == "p1"
    assert refused(admin.ProjectAccess, {}) == "'project' is a required property"
    assert refused(admin.ProjectAccess, {"project": ["p1"]}) == "project must be a string"
    assert refused(admin.ProjectAccess, {"project": "p1", "role": "x"}) == "Additional properties are not allowed (role)"


def test_the_volume_type_bodies_are_described():
    test_the_bodies_are_described("post", "/volume/v3{p}/types/{{type_id}}/extra_specs", {"extra_specs"}, "")
    schema = PATHS["/volume/v3/types/{type_id}/action"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {key for option in schema["oneOf"] for key in option["properties"]} == {"addProjectAccess",
                                                                                   "removeProjectAccess"}
