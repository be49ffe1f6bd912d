"""What the volume API's lists take in the query, one model per route family (see
api/openstack/queries.py for the field types and their Cinder messages)."""

from __future__ import annotations

from pydantic import Field, model_validator

from shoal.api.openstack.queries import Flag, Paging, Query, parameters

BAD_DIRECTION = "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'."


class Sorted(Paging):
    """Cinder's two ways to sort: `sort=key[:dir],...`, or the older `sort_key`/`sort_dir`."""

    sort: str | None = Field(None, description="key[:asc|desc],... (not with sort_key or sort_dir)")

    @model_validator(mode="after")
    def _one_way(self) -> Sorted:
        if self.sort is not None and (self.sort_key is not None or self.sort_dir is not None):
            raise ValueError("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used "
                             "with the 'sort' parameter.")
        for _, direction in self.pairs():
            if direction not in ("asc", "desc"):
                raise ValueError(BAD_DIRECTION)
        return self

    def pairs(self, key: str = "created_at", direction: str = "desc") -> list[tuple[str, str]]:
        """[(sort key, direction)], Cinder's get_sort_params with these defaults."""
        if self.sort is not None:
            out = []
            for item in self.sort.strip().split(","):
                name, _, way = item.partition(":")
                out.append((name.strip(), way.strip().lower() or direction))
            return out
        return [((self.sort_key or key).strip(), self.sort_dir or direction)]


class VolumeList(Sorted):
    all_tenants: Flag | None = None
    with_count: Flag | None = Field(None, description="3.45+: the number of volumes the filters match")
    name: str | None = None
    display_name: str | None = None
    name_like: str | None = Field(None, alias="name~")
    status: str | None = None
    availability_zone: str | None = None
    bootable: str | None = None
    project_id: str | None = None
    attach_status: str | None = None
    metadata: str | None = Field(None, description="a dict literal, as cinderclient sends it")


class SnapshotList(Sorted):
    all_tenants: Flag | None = None
    with_count: Flag | None = Field(None, description="3.45+")
    name: str | None = None
    display_name: str | None = None
    status: str | None = None
    volume_id: str | None = None


class AttachmentList(Query):
    all_tenants: Flag | None = None
    volume_id: str | None = None


class MessageList(Paging):
    resource_uuid: str | None = None


class ManageableList(Sorted):
    host: str | None = None


class GroupTypeList(Sorted):
    is_public: str | None = Field(None, description="true, false or none (both)")


class TypeList(Query):
    is_public: str | None = Field(None, description="true, false or none (both)")


class Scope(Query):
    """The lists that only know all_tenants (groups, group snapshots, transfers, the summary)."""

    all_tenants: Flag | None = None


class GroupShow(Scope):
    list_volume: Flag | None = Field(None, description="3.25+: the group's volume ids")


class VolumeDelete(Query):
    cascade: Flag | None = None
    force: Flag | None = None


class Force(Query):
    force: Flag | None = None


class PoolList(Query):
    detail: Flag | None = None


class QosAssociation(Query):
    vol_type_id: str | None = Field(None, description="the volume type to (dis)associate")


class ServiceList(Query):
    binary: str | None = Field(None, description="cinder-scheduler or cinder-volume")
    host: str | None = Field(None, description="shoal, or shoal@backend")


class QuotaShow(Query):
    usage: Flag | None = None


class QuotaUpdate(Query):
    skip_validation: Flag | None = None


VOLUME_LIST = parameters(VolumeList)
SNAPSHOT_LIST = parameters(SnapshotList)
ATTACHMENT_LIST = parameters(AttachmentList)
MESSAGE_LIST = parameters(MessageList)
MANAGEABLE_LIST = parameters(ManageableList)
GROUP_TYPE_LIST = parameters(GroupTypeList)
TYPE_LIST = parameters(TypeList)
SCOPE = parameters(Scope)
GROUP_SHOW = parameters(GroupShow)
VOLUME_DELETE = parameters(VolumeDelete)
FORCE = parameters(Force)
POOL_LIST = parameters(PoolList)
QOS_ASSOCIATION = parameters(QosAssociation)
SERVICE_LIST = parameters(ServiceList)
QUOTA_SHOW = parameters(QuotaShow)
QUOTA_UPDATE = parameters(QuotaUpdate)
