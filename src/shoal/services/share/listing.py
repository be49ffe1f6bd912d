"""The share list's filters as SQL: which shares a caller's list holds, before
the order and the page (services/common/paging.py)."""

from __future__ import annotations

from sqlalchemy import Select, func, literal, or_, select

from shoal.db import models

from ..common import paging
from ..common.context import RequestContext

SORT_KEYS = {"created_at", "updated_at", "name", "size", "status", "id", "project_id", "share_type_id",
             "availability_zone", "share_proto"}
_S = models.Share
_EQUAL = ("name", "status", "share_type_id", "snapshot_id", "availability_zone", "share_proto", "description",
          "share_group_id")


def check_sort(sort_key: str, sort_dir: str) -> None:
    paging.check_sort([(sort_key, sort_dir)], SORT_KEYS, "sort_key {key!r} is not one of {known}",
                      "sort_dir must be asc or desc")


def share_query(ctx: RequestContext, all_tenants: bool, filters: dict | None) -> tuple[Select, dict | None]:
    """(the query of the shares the list holds, the metadata they must carry,
    which the caller matches in Python: paging.has_metadata)."""
    filters = dict(filters or {})
    query = select(_S)
    if not (ctx.is_admin and all_tenants):
        project = ctx.project_id
        query = query.where(or_(_S.project_id == project, _S.is_public.is_(True))
                            if filters.pop("is_public", False) else _S.project_id == project)
    else:
        filters.pop("is_public", None)
        if project := filters.pop("project_id", None):
            query = query.where(_S.project_id == project)
    query = query.where(_S.is_soft_deleted.is_(bool(filters.pop("is_soft_deleted", False))))
    for key, column in (("export_location_id", models.ExportLocation.id),
                        ("export_location_path", models.ExportLocation.path)):
        if (value := filters.pop(key, None)) is not None:
            query = query.where(_S.id.in_(select(models.ExportLocation.share_id).where(column == value)))
    for key in _EQUAL:
        if (value := filters.pop(key, None)) is not None:
            query = query.where(getattr(_S, key) == value)
    if (value := filters.pop("name~", None)) is not None:
        query = query.where(_S.name.contains(value))
    if (value := filters.pop("description~", None)) is not None:
        query = query.where(_S.description.contains(value))
    if (value := filters.pop("size", None)) is not None:
        query = query.where(_S.size == int(value))
    if (host := filters.pop("host", None)) is not None:  # the view's host: shoal@<backend>#<pool>
        shown = literal("shoal@") + _S.backend + "#" + func.coalesce(_S.pool, "None")
        query = query.where(_S.backend.is_not(None), shown == host)
    return query, filters.pop("metadata", None) or None


def snapshot_query(ctx: RequestContext, all_tenants: bool, filters: dict | None) -> Select:
    query = select(models.ShareSnapshot)
    if not (ctx.is_admin and all_tenants):
        query = query.where(models.ShareSnapshot.project_id == ctx.project_id)
    for key in ("name", "status", "share_id", "description"):
        if (value := (filters or {}).get(key)) is not None:
            query = query.where(getattr(models.ShareSnapshot, key) == value)
    for key in ("name", "description"):  # Manila's like filters, `name~` and `description~`
        if (value := (filters or {}).get(f"{key}~")) is not None:
            query = query.where(getattr(models.ShareSnapshot, key).contains(value))
    return query
