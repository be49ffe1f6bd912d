"""What the share API's lists take in the query, one model per route family (see
api/openstack/queries.py for the field types and their Manila messages)."""

from __future__ import annotations

from pydantic import Field

from shoal.api.openstack.queries import Count, Flag, Limit, Offset, Paging, Query, parameters


class Pages(Query):
    """Manila's common.limited: the lists it pages in memory."""

    limit: Limit | None = None
    offset: Offset | None = None


class ShareList(Paging):
    all_tenants: Flag | None = None
    with_count: Flag | None = Field(None, description="2.42+: the number of shares the filters match")
    is_public: Flag | None = None
    is_soft_deleted: Flag | None = Field(None, description="2.69+: the shares in the recycle bin")
    size: Count | None = None
    name: str | None = None
    display_name: str | None = None
    name_like: str | None = Field(None, alias="name~")
    description: str | None = None
    description_like: str | None = Field(None, alias="description~")
    status: str | None = None
    share_type_id: str | None = None
    share_type: str | None = None
    snapshot_id: str | None = None
    availability_zone: str | None = None
    share_proto: str | None = None
    project_id: str | None = None
    share_group_id: str | None = None
    export_location_id: str | None = None
    export_location_path: str | None = None
    metadata: str | None = Field(None, description="a dict literal, as manilaclient sends it")
    host: str | None = None
    share_server_id: str | None = None


class SnapshotList(Paging):
    all_tenants: Flag | None = None
    name: str | None = None
    name_like: str | None = Field(None, alias="name~")
    description: str | None = None
    description_like: str | None = Field(None, alias="description~")
    status: str | None = None
    share_id: str | None = None


class NetworkList(Pages):
    all_tenants: str | None = Field(None, description="a boolean (the service reads it, with Manila's message)")
    project_id: str | None = None
    name: str | None = None
    description: str | None = None
    created_since: str | None = None
    created_before: str | None = None
    security_service_id: str | None = None


class SecurityServiceList(Pages):
    all_tenants: str | None = Field(None, description="a boolean (the service reads it, with Manila's message)")
    share_network_id: str | None = None


class AccessRuleList(Query):
    share_id: str | None = None
    access_type: str | None = None
    access_to: str | None = None
    access_level: str | None = None
    metadata: str | None = None


class MessageList(Paging):
    resource_id: str | None = None
    resource_type: str | None = None
    action_id: str | None = None
    detail_id: str | None = None
    message_level: str | None = None
    request_id: str | None = None
    created_since: str | None = Field(None, description="2.52+: an ISO 8601 time")
    created_before: str | None = Field(None, description="2.52+: an ISO 8601 time")


class GroupList(Paging):
    """Share groups and share group snapshots (their other filters are exact matches, read as given)."""

    all_tenants: Flag | None = None
    group_type_id: str | None = None


class ResourceLockList(Pages):
    with_count: Flag | None = None
    resource_id: str | None = None
    resource_type: str | None = None
    resource_action: str | None = None


class Scope(Query):
    all_tenants: Flag | None = None


class InstanceList(Query):
    is_soft_deleted: Flag | None = Field(None, description="2.69+")
    export_location_id: str | None = Field(None, description="2.35+")
    export_location_path: str | None = Field(None, description="2.35+")


class QuotaScope(Query):
    user_id: str | None = None
    share_type: str | None = Field(None, description="2.39+")


SHARE_LIST = parameters(ShareList)
SNAPSHOT_LIST = parameters(SnapshotList)
NETWORK_LIST = parameters(NetworkList)
SECURITY_SERVICE_LIST = parameters(SecurityServiceList)
ACCESS_RULE_LIST = parameters(AccessRuleList)
MESSAGE_LIST = parameters(MessageList)
GROUP_LIST = parameters(GroupList)
RESOURCE_LOCK_LIST = parameters(ResourceLockList)
SCOPE = parameters(Scope)
INSTANCE_LIST = parameters(InstanceList)
QUOTA_SCOPE = parameters(QuotaScope)
