"""/snapshots: volume snapshots."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.answers import as_json
from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read

from . import bodies, metadata_items, paging, queries, views
from .call import VolumeCall, volume_call

router = APIRouter()


# Cinder's snapshot sort keys under their old names too
SORT_ALIASES = {"display_name": "name", "display_description": "description"}


async def _list(call: VolumeCall, detail: bool) -> dict:
    q = read(call, queries.SnapshotList)
    filters = {k: getattr(q, k) for k in ("name", "status", "volume_id") if getattr(q, k)}
    if q.display_name and "name" not in filters:
        filters["name"] = q.display_name
    limit = paging.page_limit(call, q.limit)
    (sort_key, sort_dir), *_ = q.pairs()  # the first key: the snapshot list sorts by one
    snaps = await sync(call.services.volume_snapshots.list, call.ctx, all_tenants=bool(q.all_tenants),
                       filters=filters, sort_key=SORT_ALIASES.get(sort_key, sort_key),
                       sort_dir=sort_dir, limit=limit, offset=q.offset, marker=q.marker)
    view = views.snapshot_detail if detail else views.snapshot_summary
    body = {"snapshots": [view(call, s) for s in snaps], **paging.next_links(call, "snapshots", snaps, limit)}
    if q.with_count and call.v("3.45"):  # Cinder's count (3.45): every match, whatever the page holds
        body["count"] = await sync(call.services.volume_snapshots.count, call.ctx,
                                   all_tenants=bool(q.all_tenants), filters=filters)
    return body


@router.get("/snapshots", openapi_extra=queries.SNAPSHOT_LIST)
async def list_snapshots(call: VolumeCall = Depends(volume_call)):
    return as_json(await _list(call, detail=False))


@router.get("/snapshots/detail", openapi_extra=queries.SNAPSHOT_LIST)
async def list_snapshots_detail(call: VolumeCall = Depends(volume_call)):
    return as_json(await _list(call, detail=True))


@router.post("/snapshots", status_code=202, openapi_extra=bodies.CREATE_SNAPSHOT)
async def create_snapshot(call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.SnapshotCreate, await call.body("snapshot"), "snapshot")
    force = bool(b.force) or call.v("3.66")  # from 3.66 an in-use volume may be snapshotted without it
    snap = await sync(call.services.volume_snapshots.create, call.ctx, b.volume_id, b.first("name", "display_name"),
                      b.first("description", "display_description"), force, b.metadata or {})
    return {"snapshot": views.snapshot_summary(call, snap)}


@router.get("/snapshots/{snapshot_id}")
async def show_snapshot(snapshot_id: str, call: VolumeCall = Depends(volume_call)):
    snap = await sync(call.services.volume_snapshots.get, call.ctx, snapshot_id)
    return {"snapshot": views.snapshot_detail(call, snap)}


@router.put("/snapshots/{snapshot_id}", openapi_extra=bodies.UPDATE_SNAPSHOT)
async def update_snapshot(snapshot_id: str, call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.SnapshotUpdate, await call.body("snapshot"), "snapshot")
    snap = await sync(call.services.volume_snapshots.update, call.ctx, snapshot_id, b.model_dump(exclude_unset=True))
    return {"snapshot": views.snapshot_summary(call, snap)}


@router.delete("/snapshots/{snapshot_id}", status_code=202)
async def delete_snapshot(snapshot_id: str, call: VolumeCall = Depends(volume_call)):
    await sync(call.services.volume_snapshots.delete, call.ctx, snapshot_id)
    return Response(status_code=202)


metadata_items.add_metadata_routes(router, "snapshots", lambda call: call.services.volume_snapshots)


@router.post("/snapshots/{snapshot_id}/action", openapi_extra=bodies.SNAPSHOT_ACTION)
async def snapshot_action(snapshot_id: str, call: VolumeCall = Depends(volume_call)):
    body = await call.body()
    if len(body) != 1:
        raise ApiError(400, "Invalid input received: exactly one action is expected")
    (name, arg), = body.items()
    svc = call.services.volume_snapshots
    if name == "os-reset_status":
        await sync(svc.reset_status, call.ctx, snapshot_id, parse(call, bodies.Status, arg, name).status)
    elif name == "os-force_delete":
        await sync(svc.delete, call.ctx, snapshot_id, True)
    elif name == "os-unmanage":
        await sync(svc.unmanage, call.ctx, snapshot_id)
    elif name == "os-update_snapshot_status":
        update = parse(call, bodies.SnapshotStatus, arg, name)
        await sync(svc.update_status, call.ctx, snapshot_id, update.status, update.progress)
    else:
        raise ApiError(400, f"Invalid input received: unknown snapshot action {name!r}")
    return Response(status_code=202)
