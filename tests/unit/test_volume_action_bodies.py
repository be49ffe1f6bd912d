"""The volume and group actions converted last (api/volume/bodies.py): the image actions
(os-volume_upload_image by microversion, os-set/unset_image_metadata) and the group
actions, with Cinder's 400 messages, and their place in the OpenAPI document."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.volume import bodies as volume
from shoal.app import create_app
from shoal.config import Settings

CINDER = SimpleNamespace(root="volume")
LONE = "\ud800"


def refused(model, data, where="body") -> str:
    with pytest.raises(ApiError) as caught:
        parse(CINDER, model, data, where)
    assert caught.value.code == 400
    message = caught.value.message
    message.encode("utf-8")
    assert message.startswith("Invalid input received: "), message
    return message.removeprefix("Invalid input received: ")


def test_an_upload_takes_cinders_fields_by_microversion():
    arg = parse(CINDER, volume.UploadImage, {"image_name": "img", "force": "true", "disk_format": "qcow2"})
    assert arg.model_dump(exclude_unset=True) == {"image_name": "img", "force": True, "disk_format": "qcow2"}
    assert refused(volume.UploadImage, {"image_name": "img", "visibility": "public"}) == \
        "Additional properties are not allowed (visibility)"  # before 3.1
    later = parse(CINDER, volume.UploadImageV31, {"image_name": "img", "visibility": "public", "protected": "no"})
    assert (later.visibility, later.protected) == ("public", False)


@pytest.mark.parametrize(("arg", "words"), [
    ({}, "'image_name' is a required property"),
    ({"image_name": ""}, "image_name must be a string of 1-255 characters"),
    ({"image_name": 5}, "image_name must be a string of 1-255 characters"),
    ({"image_name": "x" * 256}, "image_name is longer than 255 characters"),
    ({"image_name": f"a{LONE}"}, "image_name must be valid Unicode text without NUL characters"),
    ({"image_name": "x", "disk_format": "iso"}, "disk_format 'iso' is not one of raw, qcow2"),
    ({"image_name": "x", "disk_format": ["raw"]}, "disk_format ['raw'] is not one of"),
    ({"image_name": "x", "container_format": "ovf"}, "container_format 'ovf' is not one of bare"),
    ({"image_name": "x", "force": "maybe"}, "force must be a boolean"),
    ({"image_name": "x", "visibility": "everyone"}, "visibility must be one of public, private, shared, community"),
    ({"image_name": "x", "protected": "perhaps"}, "protected must be a boolean"),
    ({"image_name": "x", "colour": "red"}, "Additional properties are not allowed (colour)"),
])
def test_a_bad_upload_is_refused(arg, words):
    assert words in refused(volume.UploadImageV31, arg, "os-volume_upload_image")


def test_the_upload_argument_must_be_an_object():
    assert refused(volume.UploadImage, "img", "os-volume_upload_image") == "os-volume_upload_image must be an object"


def test_image_metadata_set_and_unset():
    assert parse(CINDER, volume.SetImageMetadata, {"metadata": {"hw_disk_bus": "scsi"}}).metadata == {
        "hw_disk_bus": "scsi"}
    assert refused(volume.SetImageMetadata, {}) == "'metadata' is a required property"
    assert "metadata must be an object" in refused(volume.SetImageMetadata, {"metadata": ["a"]})
    assert "valid Unicode" in refused(volume.SetImageMetadata, {"metadata": {"k": LONE}})
    assert refused(volume.SetImageMetadata, {"metadata": {"k": "v"}, "x": 1}) == \
        "Additional properties are not allowed (x)"
    assert parse(CINDER, volume.UnsetImageMetadata, {"key": "hw_disk_bus"}).key == "hw_disk_bus"
    assert refused(volume.UnsetImageMetadata, {}) == "'key' is a required property"
    assert refused(volume.UnsetImageMetadata, {"key": ["k"]}) == "key must be a string"


PATHS = create_app(Settings(api={"auth": "noauth"}), start=False).openapi()["paths"]


def _options(path: str, method: str = "post") -> dict:
    schema = PATHS[path][method]["requestBody"]["content"]["application/json"]["schema"]
    return {name: option["properties"][name] for option in schema["oneOf"] for name in option["properties"]}


@pytest.mark.parametrize("project", ["", "/{project_id}"])
def test_the_image_actions_are_described(project):
    options = _options(f"/volume/v3{project}/volumes/{{volume_id}}/action")
    assert {"os-volume_upload_image", "os-set_image_metadata", "os-unset_image_metadata",
            "os-show_image_metadata"} <= set(options)
    upload = options["os-volume_upload_image"]
    assert upload["required"] == ["image_name"] and upload["additionalProperties"] is False
    assert upload["properties"]["disk_format"]["enum"][0] == "raw"


def test_group_actions():
    assert parse(CINDER, volume.GroupDelete, {"delete-volumes": "true"}).delete_volumes is True
    assert parse(CINDER, volume.GroupDelete, {}).delete_volumes is None  # the service's False
    assert parse(CINDER, volume.GroupDelete, None).delete_volumes is None  # {"delete": null}
    assert refused(volume.GroupDelete, {"delete-volumes": "perhaps"}) == "delete-volumes must be a boolean"
    assert refused(volume.GroupDelete, {"delete_volumes": True}) == \
        "Additional properties are not allowed (delete_volumes)"  # Cinder's name has a dash
    assert refused(volume.GroupDelete, ["x"], "delete") == "delete must be an object"
    assert parse(CINDER, volume.GroupStatus, {"status": "error"}).status == "error"
    assert refused(volume.GroupStatus, {}) == "'status' is a required property"
    assert refused(volume.GroupStatus, {"status": ["error"]}) == "status must be a string"
    assert "valid Unicode" in refused(volume.GroupStatus, {"status": LONE})
    assert refused(volume.GroupStatus, {"status": "error", "force": True}) == \
        "Additional properties are not allowed (force)"


@pytest.mark.parametrize("project", ["", "/{project_id}"])
def test_the_group_actions_are_described(project):
    assert set(_options(f"/volume/v3{project}/groups/{{group_id}}/action")) == {"delete", "reset_status"}
    assert set(_options(f"/volume/v3{project}/group_snapshots/{{gsnap_id}}/action")) == {"reset_status"}
    delete = _options(f"/volume/v3{project}/groups/{{group_id}}/action")["delete"]
    assert delete["properties"]["delete-volumes"]["anyOf"][0] == {"type": "boolean"}
    created = PATHS[f"/volume/v3{project}/group_snapshots"]["post"]["requestBody"]["content"]["application/json"]
    assert set(created["schema"]["properties"]) == {"group_snapshot"}
