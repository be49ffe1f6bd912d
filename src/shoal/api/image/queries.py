"""What the image list takes in the query string, declared as the volume and share
APIs' are (api/openstack/queries.py): the handler reads it through these models
and the OpenAPI document names the parameters. The image service reads the
filters' values (sizes, booleans, the `in:` and comparison forms Glance allows);
any other parameter is an image property to match."""

from __future__ import annotations

from pydantic import Field

from shoal.api.openstack.queries import Limit, Query, parameters


class ImageFilters(Query):
    """Glance's filters on the image's own attributes."""

    name: str | None = None
    status: str | None = None
    owner: str | None = None
    checksum: str | None = None
    os_hash_value: str | None = None
    container_format: str | None = None
    disk_format: str | None = None
    id: str | None = None
    visibility: str | None = None
    member_status: str | None = None
    size_min: str | None = None
    size_max: str | None = None
    protected: str | None = None
    os_hidden: str | None = None
    created_at: str | None = Field(None, description="Glance's time comparison; ignored here")
    updated_at: str | None = Field(None, description="Glance's time comparison; ignored here")


class ImageList(ImageFilters):
    """The list's paging and sorting; `sort_key`, `sort_dir` and `tag` may be repeated."""

    limit: Limit | None = None
    marker: str | None = None
    sort: str | None = Field(None, description="key:dir,key:dir (not with sort_key or sort_dir)")
    sort_key: str | None = None
    sort_dir: str | None = None
    tag: str | None = None


IGNORED = ("created_at", "updated_at")
FILTERS = tuple(name for name in ImageFilters.model_fields if name not in IGNORED)
IMAGE_LIST = parameters(ImageList)
