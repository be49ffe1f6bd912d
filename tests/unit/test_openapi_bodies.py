"""The OpenAPI document describes the request bodies of the share and volume APIs' main operations,
on the project-less and the project-scoped paths alike (what tests/integration/test_api_fuzz.py fuzzes)."""

from __future__ import annotations

import pytest

from shoal.app import create_app
from shoal.config import Settings

PATHS = create_app(Settings(api={"auth": "noauth"}), start=False).openapi()["paths"]

DESCRIBED = [  # (method, path after the API root, the body's top-level key or action names)
    ("post", "/share/v2{p}/shares", {"share"}),
    ("put", "/share/v2{p}/shares/{{share_id}}", {"share"}),
    ("post", "/share/v2{p}/shares/{{share_id}}/action", {"extend", "allow_access", "deny_access", "reset_status"}),
    ("post", "/share/v2{p}/snapshots", {"snapshot"}),
    ("put", "/share/v2{p}/snapshots/{{snapshot_id}}", {"snapshot"}),
    ("post", "/share/v2{p}/snapshots/{{snapshot_id}}/action", {"reset_status", "force_delete"}),
    ("put", "/share/v2{p}/share-access-rules/{{access_id}}/metadata", {"metadata"}),
    ("put", "/share/v2{p}/shares/{{share_id}}/metadata", {"metadata"}),
    ("post", "/share/v2{p}/shares/{{share_id}}/metadata", {"metadata"}),
    ("post", "/share/v2{p}/snapshots/{{snapshot_id}}/metadata", {"metadata"}),
    ("post", "/share/v2{p}/share-networks", {"share_network"}),
    ("put", "/share/v2{p}/share-networks/{{sn_id}}", {"share_network"}),
    ("post", "/share/v2{p}/share-networks/{{sn_id}}/action", {"add_security_service", "reset_status",
                                                             "share_network_subnet_create_check"}),
    ("post", "/share/v2{p}/share-networks/{{sn_id}}/subnets", {"share-network-subnet"}),
    ("put", "/share/v2{p}/share-networks/{{sn_id}}/subnets/{{subnet_id}}/metadata", {"metadata"}),
    ("post", "/share/v2{p}/security-services", {"security_service"}),
    ("put", "/share/v2{p}/security-services/{{ss_id}}", {"security_service"}),
    ("post", "/share/v2{p}/share-groups", {"share_group"}),
    ("put", "/share/v2{p}/share-groups/{{group_id}}", {"share_group"}),
    ("post", "/share/v2{p}/share-groups/{{group_id}}/action", {"reset_status", "force_delete"}),
    ("post", "/share/v2{p}/share-group-snapshots", {"share_group_snapshot"}),
    ("put", "/share/v2{p}/share-group-snapshots/{{snap_id}}", {"share_group_snapshot"}),
    ("post", "/share/v2{p}/share-group-types", {"share_group_type"}),
    ("post", "/share/v2{p}/share-group-types/{{type_id}}/group-specs", {"group_specs"}),
    ("post", "/share/v2{p}/share-group-types/{{type_id}}/action", {"addProjectAccess", "removeProjectAccess"}),
    ("post", "/share/v2{p}/share-replicas", {"share_replica"}),
    ("post", "/share/v2{p}/share-replicas/{{replica_id}}/action", {"promote", "reset_replica_state"}),
    ("post", "/share/v2{p}/shares/{{share_id}}/action", {"migration_start", "migration_cancel"}),
    ("put", "/share/v2{p}/quota-sets/{{target_project}}", {"quota_set"}),
    ("post", "/share/v2{p}/share_instances/{{instance_id}}/action", {"reset_status", "os-force_delete"}),
    ("post", "/share/v2{p}/snapshot-instances/{{instance_id}}/action", {"reset_status"}),
    ("post", "/share/v2{p}/types/{{type_id}}/extra_specs", {"extra_specs"}),
    ("put", "/share/v2{p}/quota-class-sets/{{class_name}}", {"quota_class_set"}),
    ("post", "/volume/v3{p}/volumes", {"volume"}),
    ("put", "/volume/v3{p}/volumes/{{volume_id}}", {"volume"}),
    ("post", "/volume/v3{p}/volumes/{{volume_id}}/action", {"os-extend", "os-attach", "os-reset_status",
                                                           "os-migrate_volume"}),
    ("put", "/volume/v3{p}/volumes/{{resource_id}}/metadata", {"metadata"}),
    ("post", "/volume/v3{p}/snapshots/{{resource_id}}/metadata", {"metadata"}),
    ("put", "/volume/v3{p}/volumes/{{resource_id}}/metadata/{{key}}", {"meta"}),
    ("post", "/volume/v3{p}/snapshots", {"snapshot"}),
    ("put", "/volume/v3{p}/snapshots/{{snapshot_id}}", {"snapshot"}),
    ("post", "/volume/v3{p}/snapshots/{{snapshot_id}}/action", {"os-reset_status"}),
    ("post", "/volume/v3{p}/attachments", {"attachment"}),
    ("put", "/volume/v3{p}/attachments/{{attachment_id}}", {"attachment"}),
    ("post", "/volume/v3{p}/attachments/{{attachment_id}}/action", {"os-complete"}),
]


def _keys(schema: dict) -> set[str]:
    if "oneOf" in schema:
        return {key for option in schema["oneOf"] for key in option["properties"]}
    return set(schema["properties"])


@pytest.mark.parametrize("project", ["", "/{project_id}"])
@pytest.mark.parametrize(("method", "path", "keys"), DESCRIBED)
def test_the_body_is_described(method, path, keys, project):
    operation = PATHS[path.format(p=project)][method]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert keys <= _keys(schema), schema


def test_a_create_names_its_fields_and_their_types():
    share = PATHS["/share/v2/shares"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    fields = share["properties"]["share"]
    assert set(fields["required"]) == {"size", "share_proto"}
    assert fields["properties"]["size"] | {"title": None} == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1,
                                                           "title": None}
    assert fields["properties"]["name"]["anyOf"][0] == {"type": "string", "maxLength": 255}
    assert fields["properties"]["metadata"]["anyOf"][0] == {
        "type": "object", "additionalProperties": {"type": "string", "maxLength": 1023}}
