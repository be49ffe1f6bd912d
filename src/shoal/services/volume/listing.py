"""The volume and snapshot lists' filters as SQL: which rows a caller's list
holds, before the order and the page (services/common/paging.py)."""

from __future__ import annotations

from sqlalchemy import Select, select

from shoal.db import models

from ..common import paging
from ..common.context import RequestContext

SORT_KEYS = {"created_at", "updated_at", "name", "size", "status", "id", "project_id", "volume_type_id",
             "availability_zone", "bootable"}
SNAPSHOT_SORT_KEYS = {"created_at", "updated_at", "name", "size", "status", "id", "volume_id"}
_V = models.Volume


def check_sort(sort: list[tuple[str, str]], known: set[str]) -> None:
    paging.check_sort(sort, known, "Invalid input received: sort key {key!r} is not one of {known}",
                      "Invalid input received: sort direction must be asc or desc")


def volume_query(ctx: RequestContext, all_tenants: bool, filters: dict | None) -> tuple[Select, dict | None]:
    """(the query of the volumes the list holds, the metadata they must carry,
    which the caller matches in Python: paging.has_metadata)."""
    filters = dict(filters or {})
    query = select(_V)
    if ctx.is_admin and all_tenants:
        if project := filters.pop("project_id", None):
            query = query.where(_V.project_id == project)
    else:
        filters.pop("project_id", None)
        query = query.where(_V.project_id == ctx.project_id)
    if not ctx.is_admin:  # as Cinder: the hidden target of a migration is listed to admins only
        query = query.where(_V.migration_status.is_(None) | _V.migration_status.not_like("target:%"))
    for key in ("name", "status", "availability_zone", "volume_type_id", "attach_status", "snapshot_id",
                "source_volid"):
        if (value := filters.pop(key, None)) is not None:
            query = query.where(getattr(_V, key) == value)
    if (value := filters.pop("bootable", None)) is not None:
        query = query.where(_V.bootable.is_(str(value).lower() in ("1", "true")))
    if (value := filters.pop("name~", None)) is not None:
        query = query.where(_V.name.contains(value))
    return query, filters.pop("metadata", None) or None


def snapshot_query(ctx: RequestContext, all_tenants: bool, filters: dict | None) -> Select:
    query = select(models.VolumeSnapshot)
    if not (ctx.is_admin and all_tenants):
        query = query.where(models.VolumeSnapshot.project_id == ctx.project_id)
    for key in ("name", "status", "volume_id"):
        if (value := (filters or {}).get(key)) is not None:
            query = query.where(getattr(models.VolumeSnapshot, key) == value)
    return query
