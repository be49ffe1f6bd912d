"""/snapshots: create, list, show, update, delete, actions, manage."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.answers import as_json
from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read

from . import bodies, queries, views
from .call import ShareCall, share_call
from .shares import _action_name

router = APIRouter()


LIKE = {"name_like": "name~", "description_like": "description~"}  # the services' names of the like filters


async def _list(call: ShareCall, detail: bool) -> dict:
    q = read(call, queries.SnapshotList)
    keys = ("name", "status", "share_id", "description", "name_like", "description_like") if call.v("2.36") else \
        ("name", "status", "share_id")  # the description and like filters came at 2.36
    filters = {LIKE.get(k, k): getattr(q, k) for k in keys if getattr(q, k)}
    snaps = await sync(call.services.snapshots.list, call.ctx, all_tenants=bool(q.all_tenants), filters=filters,
                       sort_key=q.sort_key or "created_at", sort_dir=q.sort_dir or "desc",
                       limit=q.limit, offset=q.offset)
    view = views.snapshot_detail if detail else views.snapshot_summary
    return {"snapshots": [view(call, s) for s in snaps]}


@router.get("/snapshots", openapi_extra=queries.SNAPSHOT_LIST)
async def list_snapshots(call: ShareCall = Depends(share_call)):
    return as_json(await _list(call, detail=False))


@router.get("/snapshots/detail", openapi_extra=queries.SNAPSHOT_LIST)
async def list_snapshots_detail(call: ShareCall = Depends(share_call)):
    return as_json(await _list(call, detail=True))


@router.post("/snapshots", status_code=202, openapi_extra=bodies.CREATE_SNAPSHOT)
async def create_snapshot(call: ShareCall = Depends(share_call)):
    b = parse(call, bodies.SnapshotCreate, await call.body("snapshot"), "snapshot")
    await sync(call.services.recycle_bin.refuse_if_soft_deleted, call.ctx, b.share_id, "Snapshot cannot be created")
    snap = await sync(call.services.snapshots.create, call.ctx, b.share_id, b.first("name", "display_name"),
                      b.first("description", "display_description"), bool(b.force), b.metadata or {})
    return {"snapshot": views.snapshot_detail(call, snap)}


@router.post("/snapshots/manage", status_code=202, openapi_extra=bodies.MANAGE_SNAPSHOT)
async def manage_snapshot(call: ShareCall = Depends(share_call)):
    b = parse(call, bodies.SnapshotManage, await call.body("snapshot"), "snapshot")
    snap = await sync(call.services.snapshots.manage, call.ctx, share_id=b.share_id,
                      provider_location=b.provider_location, name=b.first("name", "display_name"),
                      description=b.first("description", "display_description"),
                      driver_options=b.driver_options or {})
    return {"snapshot": views.snapshot_detail(call, snap)}


@router.get("/snapshots/{snapshot_id}")
async def show_snapshot(snapshot_id: str, call: ShareCall = Depends(share_call)):
    return {"snapshot": views.snapshot_detail(call, await sync(call.services.snapshots.get, call.ctx, snapshot_id))}


@router.put("/snapshots/{snapshot_id}", openapi_extra=bodies.UPDATE_SNAPSHOT)
async def update_snapshot(snapshot_id: str, call: ShareCall = Depends(share_call)):
    b = parse(call, bodies.SnapshotUpdate, await call.body("snapshot"), "snapshot")
    snap = await sync(call.services.snapshots.update, call.ctx, snapshot_id, b.model_dump(exclude_unset=True))
    return {"snapshot": views.snapshot_detail(call, snap)}


@router.delete("/snapshots/{snapshot_id}", status_code=202)
async def delete_snapshot(snapshot_id: str, call: ShareCall = Depends(share_call)):
    await sync(call.services.snapshots.delete, call.ctx, snapshot_id)
    return Response(status_code=202)


@router.post("/snapshots/{snapshot_id}/action", openapi_extra=bodies.SNAPSHOT_ACTION)
async def snapshot_action(snapshot_id: str, call: ShareCall = Depends(share_call)):
    name, arg = _action_name(await call.body())
    if name == "reset_status":
        status = parse(call, bodies.Status, arg, name).status
        await sync(call.services.snapshots.reset_status, call.ctx, snapshot_id, status)
    elif name == "force_delete":
        await sync(call.services.snapshots.delete, call.ctx, snapshot_id, True)
    elif name == "unmanage":
        await sync(call.services.snapshots.unmanage, call.ctx, snapshot_id)
    else:
        raise ApiError(400, f"Invalid request: unknown snapshot action {name!r}")
    return Response(status_code=202)


# Snapshots are not mountable here (mount_snapshot_support is False): these
# answer with empty lists, which is what `openstack share snapshot show` reads.
@router.get("/snapshots/{snapshot_id}/export-locations")
async def snapshot_export_locations(snapshot_id: str, call: ShareCall = Depends(share_call)):
    await sync(call.services.snapshots.get, call.ctx, snapshot_id)
    return {"share_snapshot_export_locations": []}


@router.get("/snapshots/{snapshot_id}/access-list")
async def snapshot_access_list(snapshot_id: str, call: ShareCall = Depends(share_call)):
    await sync(call.services.snapshots.get, call.ctx, snapshot_id)
    return {"snapshot_access_list": []}
