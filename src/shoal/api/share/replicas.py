"""/share-replicas (Manila API 2.11+; experimental until 2.56, then the same calls
for good): create, list, detail, show, delete, actions, export locations."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.db.replicas import ShareReplica

from . import admin_bodies
from .call import ShareCall, share_call
from .shares import _action_name
from .views import ts

router = APIRouter()


def _since(call: ShareCall, version: str) -> None:
    if not call.v(version):
        raise ApiError(404, f"share replicas need API version {version} or later")


def replica_summary(call: ShareCall, row: ShareReplica) -> dict:
    return {"id": row.id, "share_id": row.share_id, "status": row.status, "replica_state": row.replica_state}


def replica_detail(call: ShareCall, row: ShareReplica) -> dict:
    view = {
        "id": row.id,
        "share_id": row.share_id,
        "availability_zone": row.availability_zone,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "status": row.status,
        "share_network_id": None,
        "replica_state": row.replica_state,
        # Shoal's own: how far the work on the replica has come (as a share's progress)
        "progress": row.progress,
    }
    if call.ctx.is_admin:
        view["share_server_id"] = None
        view["host"] = f"shoal@{row.backend}#{row.pool}" if row.backend else None
        if row.status_reason:
            view["status_reason"] = row.status_reason
        view["task_state"] = row.task_state
    if call.v("2.30") and call.ctx.is_admin:
        view["cast_rules_to_readonly"] = row.replica_state != "active"
    if call.v("2.95"):
        view["metadata"] = {}
    return view


def replica_location(call: ShareCall, row: ShareReplica, index: int, loc: dict) -> dict:
    view = {"id": f"{row.id}-{index}", "path": loc["path"], "preferred": loc.get("preferred", False),
            "replica_state": row.replica_state, "availability_zone": row.availability_zone}
    if call.ctx.is_admin:
        view["is_admin_only"] = loc.get("is_admin_only", False)
        view["share_instance_id"] = row.id
    return view


def _locations(call: ShareCall, row: ShareReplica) -> list[dict]:
    return [replica_location(call, row, i, loc) for i, loc in enumerate(row.export_locations or [])
            if call.ctx.is_admin or not loc.get("is_admin_only")]


async def _list(call: ShareCall, detail: bool) -> dict:
    _since(call, "2.11")
    rows = await sync(call.services.replicas.list, call.ctx, call.query("share_id"))
    view = replica_detail if detail else replica_summary
    return {"share_replicas": [view(call, r) for r in rows]}


@router.get("/share-replicas")
async def list_replicas(call: ShareCall = Depends(share_call)):
    return await _list(call, detail=False)


@router.get("/share-replicas/detail")
async def list_replicas_detail(call: ShareCall = Depends(share_call)):
    return await _list(call, detail=True)


@router.post("/share-replicas", status_code=202, openapi_extra=admin_bodies.CREATE_REPLICA)
async def create_replica(call: ShareCall = Depends(share_call)):
    _since(call, "2.11")
    b = parse(call, admin_bodies.ReplicaCreate, await call.body("share_replica"), "share_replica")
    if b.share_network_id:
        raise ApiError(400, "share networks are not supported here (driver_handles_share_servers is False)")
    row = await sync(call.services.replicas.create, call.ctx, b.share_id, b.availability_zone)
    return {"share_replica": replica_detail(call, row)}


@router.get("/share-replicas/{replica_id}")
async def show_replica(replica_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.11")
    return {"share_replica": replica_detail(call, await sync(call.services.replicas.get, call.ctx, replica_id))}


@router.delete("/share-replicas/{replica_id}", status_code=202)
async def delete_replica(replica_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.11")
    await sync(call.services.replicas.delete, call.ctx, replica_id)
    return Response(status_code=202)


@router.post("/share-replicas/{replica_id}/action", openapi_extra=admin_bodies.REPLICA_ACTION)
async def replica_action(replica_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.11")
    name, raw_arg = _action_name(await call.body())
    svc, ctx = call.services.replicas, call.ctx
    if name in ("reset_status", "reset_replica_state"):
        svc.check_admin(ctx, name)  # policy first: a member learns nothing from a bad argument either
    model = admin_bodies.REPLICA_ACTIONS.get(name)
    if name == "promote" and not call.v("2.75"):
        model = None  # no argument before 2.75: whatever is sent is ignored
    arg = parse(call, model, raw_arg, name) if model is not None else None
    if name == "promote":
        await sync(svc.promote, ctx, replica_id, arg.quiesce_wait_time if arg is not None else None)
    elif name == "resync":
        await sync(svc.resync, ctx, replica_id)
    elif name == "reset_status":
        await sync(svc.reset_status, ctx, replica_id, arg.status)
    elif name == "reset_replica_state":
        await sync(svc.reset_replica_state, ctx, replica_id, arg.replica_state)
    elif name == "force_delete":
        await sync(svc.delete, ctx, replica_id, True)
    else:
        raise ApiError(400, f"Invalid request: unknown share replica action {name!r}")
    return Response(status_code=202)


@router.get("/share-replicas/{replica_id}/export-locations")
async def replica_export_locations(replica_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.47")
    row = await sync(call.services.replicas.get, call.ctx, replica_id)
    return {"export_locations": _locations(call, row)}


@router.get("/share-replicas/{replica_id}/export-locations/{location_id}")
async def replica_export_location(replica_id: str, location_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.47")
    row = await sync(call.services.replicas.get, call.ctx, replica_id)
    for view in _locations(call, row):
        if view["id"] == location_id:
            return {"export_location": view}
    raise ApiError(404, f"Export location {location_id} could not be found.")
