"""/share-group-snapshots (Manila 2.31+): create, list/detail, show, update, delete,
members, and the admin actions reset_status and force_delete; Manila's controller
checks and view (manila/api/views/share_group_snapshots.py). The rules in
services/share/group_snapshots.py."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read

from . import group_bodies, queries
from .call import ShareCall, share_call
from .paging import next_links
from .share_groups import admin_action, group_body, renaming, since_groups
from .views import ts

router = APIRouter()
FILTERS = ("name", "status", "share_group_id", "description", "project_id")


def summary(call: ShareCall, snap) -> dict:
    return {"id": snap.id, "name": snap.name, "links": call.link("share-group-snapshots", snap.id)}


def detail(call: ShareCall, snap) -> dict:
    return {
        "id": snap.id, "name": snap.name, "created_at": ts(snap.created_at), "status": snap.status,
        "description": snap.description, "project_id": snap.project_id, "share_group_id": snap.share_group_id,
        "members": [{"id": m.id, "size": m.size, "share_id": m.share_id} for m in snap.members_],
        "links": call.link("share-group-snapshots", snap.id),
    }


def _page(q: queries.GroupList, rows: list) -> tuple[list, int | None]:
    offset, limit = q.offset or 0, q.limit
    return rows[offset:offset + limit if limit is not None else None], limit


async def _list(call: ShareCall, is_detail: bool) -> dict:
    since_groups(call)
    q = read(call, queries.GroupList)
    filters = {k: call.query(k) for k in FILTERS if call.query(k) not in (None, "")}
    rows = await sync(call.services.share_group_snapshots.list, call.ctx, all_tenants=bool(q.all_tenants),
                      filters=filters, sort_key=q.sort_key or "created_at", sort_dir=q.sort_dir or "desc")
    rows, limit = _page(q, rows)
    view = detail if is_detail else summary
    out: dict = {"share_group_snapshots": [view(call, s) for s in rows]}
    if links := next_links(call, "share_group_snapshots", [s.id for s in rows], limit):
        out["share_group_snapshot_links"] = links  # Manila's name for them
    return out


@router.get("/share-group-snapshots", openapi_extra=queries.GROUP_LIST)
async def list_group_snapshots(call: ShareCall = Depends(share_call)):
    return await _list(call, is_detail=False)


@router.get("/share-group-snapshots/detail", openapi_extra=queries.GROUP_LIST)
async def list_group_snapshots_detail(call: ShareCall = Depends(share_call)):
    return await _list(call, is_detail=True)


@router.get("/share-group-snapshots/{snap_id}")
async def show_group_snapshot(snap_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    return {"share_group_snapshot": detail(call, await sync(call.services.share_group_snapshots.get, call.ctx,
                                                            snap_id))}


@router.get("/share-group-snapshots/{snap_id}/members")
async def list_group_snapshot_members(snap_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    members = await sync(call.services.share_group_snapshots.members, call.ctx, snap_id)
    members, _ = _page(read(call, queries.GroupList), members)
    return {"share_group_snapshot_members": [
        {"id": m.id, "created_at": ts(m.created_at), "size": m.size, "share_protocol": m.share_proto,
         "project_id": m.project_id, "share_group_snapshot_id": m.share_group_snapshot_id, "share_id": m.share_id}
        for m in members]}


@router.post("/share-group-snapshots", status_code=202, openapi_extra=group_bodies.CREATE_GROUP_SNAPSHOT)
async def create_group_snapshot(call: ShareCall = Depends(share_call)):
    since_groups(call)
    b = await group_body(call, "share_group_snapshot", group_bodies.GroupSnapshotCreate)
    if not b.share_group_id:
        raise ApiError(400, "Must supply 'share_group_id' attribute.")
    made = await sync(call.services.share_group_snapshots.create, call.ctx, b.share_group_id, name=b.name,
                      description=b.description)
    return {"share_group_snapshot": detail(call, made)}


@router.put("/share-group-snapshots/{snap_id}", openapi_extra=group_bodies.UPDATE_GROUP_SNAPSHOT)
async def update_group_snapshot(snap_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    fields = await renaming(call, "share_group_snapshot")
    snap = await sync(call.services.share_group_snapshots.update, call.ctx, snap_id, fields)
    return {"share_group_snapshot": detail(call, snap)}


@router.delete("/share-group-snapshots/{snap_id}", status_code=202)
async def delete_group_snapshot(snap_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    await sync(call.services.share_group_snapshots.delete, call.ctx, snap_id)
    return Response(status_code=202)


@router.post("/share-group-snapshots/{snap_id}/action", status_code=202, openapi_extra=group_bodies.GROUP_ACTION)
async def group_snapshot_action(snap_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    return await admin_action(call, call.services.share_group_snapshots, snap_id)
