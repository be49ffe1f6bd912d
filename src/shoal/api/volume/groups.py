"""/groups (3.13+; from a source 3.14+, reset-status 3.20+) and /group_snapshots (3.14+;
reset-status 3.19+): generic volume groups and their snapshots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.share.views import ts
from shoal.api.openstack.queries import read

from . import bodies, queries
from .call import VolumeCall, volume_call

router = APIRouter()


def _since(call: VolumeCall, version: str) -> None:
    if not call.v(version):
        raise ApiError(404, "The resource could not be found.")


def _group(call: VolumeCall, row, volume_ids: list[str] | None = None) -> dict:
    view = {"id": row.id, "name": row.name, "description": row.description, "status": row.status,
            "availability_zone": row.availability_zone, "created_at": ts(row.created_at),
            "group_type": row.group_type_id, "volume_types": list(row.volume_type_ids),
            "group_snapshot_id": row.group_snapshot_id, "source_group_id": row.source_group_id}
    if volume_ids is not None:  # 3.25+, when asked for with list_volume
        view["volumes"] = volume_ids
    return view


def _group_snapshot(row) -> dict:
    return {"id": row.id, "name": row.name, "description": row.description, "status": row.status,
            "group_id": row.group_id, "group_type_id": row.group_type_id, "created_at": ts(row.created_at)}


def _action(body: dict) -> tuple[str, Any]:
    """The action's name and its argument as sent (its model says what it must be)."""
    if len(body) != 1:
        raise ApiError(400, "Invalid input received: exactly one action is expected")
    ((name, arg),) = body.items()
    return name, arg


# ---- groups ------------------------------------------------------------------------------

async def _list_groups(call: VolumeCall, detail: bool) -> dict:
    _since(call, "3.13")
    q = read(call, queries.GroupShow)
    rows = await sync(call.services.groups.list, call.ctx, bool(q.all_tenants))
    if not detail:
        return {"groups": [{"id": r.id, "name": r.name} for r in rows]}
    with_volumes = call.v("3.25") and q.list_volume
    out = []
    for r in rows:
        ids = await sync(call.services.groups.volume_ids, r.id) if with_volumes else None
        out.append(_group(call, r, ids))
    return {"groups": out}


@router.get("/groups", openapi_extra=queries.GROUP_SHOW)
async def list_groups(call: VolumeCall = Depends(volume_call)):
    return await _list_groups(call, detail=False)


@router.get("/groups/detail", openapi_extra=queries.GROUP_SHOW)
async def list_groups_detail(call: VolumeCall = Depends(volume_call)):
    return await _list_groups(call, detail=True)


@router.post("/groups", status_code=202, openapi_extra=bodies.CREATE_GROUP)
async def create_group(call: VolumeCall = Depends(volume_call)):
    _since(call, "3.13")
    b = parse(call, bodies.GroupCreate, await call.body("group"), "group")
    row = await sync(call.services.groups.create, call.ctx, b.model_dump())
    return {"group": {"id": row.id, "name": row.name}}


@router.post("/groups/action", status_code=202, openapi_extra=bodies.GROUPS_ACTION)
async def groups_action(call: VolumeCall = Depends(volume_call)):
    _since(call, "3.14")
    name, arg = _action(await call.body())
    if name != "create-from-src":
        raise ApiError(400, f"Invalid input received: unknown group action {name!r}")
    source = parse(call, bodies.GroupFromSource, arg, name)
    row = await sync(call.services.groups.create_from_source, call.ctx, source.model_dump())
    return {"group": {"id": row.id, "name": row.name}}


@router.get("/groups/{group_id}", openapi_extra=queries.GROUP_SHOW)
async def show_group(group_id: str, call: VolumeCall = Depends(volume_call)):
    _since(call, "3.13")
    row = await sync(call.services.groups.get, call.ctx, group_id)
    listed = call.v("3.25") and read(call, queries.GroupShow).list_volume
    ids = await sync(call.services.groups.volume_ids, row.id) if listed else None
    return {"group": _group(call, row, ids)}


@router.put("/groups/{group_id}", status_code=202, openapi_extra=bodies.UPDATE_GROUP)
async def update_group(group_id: str, call: VolumeCall = Depends(volume_call)):
    _since(call, "3.13")
    b = parse(call, bodies.GroupUpdate, await call.body("group"), "group")
    await sync(call.services.groups.update, call.ctx, group_id, b.model_dump(exclude_unset=True))
    return Response(status_code=202)


@router.post("/groups/{group_id}/action", status_code=202, openapi_extra=bodies.GROUP_ACTION)
async def group_action(group_id: str, call: VolumeCall = Depends(volume_call)):
    _since(call, "3.13")
    name, raw = _action(await call.body())
    if name not in bodies.GROUP_ACTIONS or name == "reset_status" and not call.v("3.20"):
        raise ApiError(400, f"Invalid input received: unknown group action {name!r}")
    arg = parse(call, bodies.GROUP_ACTIONS[name], raw, name)
    if name == "delete":
        await sync(call.services.groups.delete, call.ctx, group_id, bool(arg.delete_volumes))
    else:
        await sync(call.services.groups.reset_status, call.ctx, group_id, arg.status)
    return Response(status_code=202)


# ---- group snapshots ---------------------------------------------------------------------

async def _list_group_snapshots(call: VolumeCall, detail: bool) -> dict:
    _since(call, "3.14")
    rows = await sync(call.services.group_snapshots.list, call.ctx, bool(read(call, queries.Scope).all_tenants))
    return {"group_snapshots": [_group_snapshot(r) if detail else {"id": r.id, "name": r.name} for r in rows]}


@router.get("/group_snapshots", openapi_extra=queries.SCOPE)
async def list_group_snapshots(call: VolumeCall = Depends(volume_call)):
    return await _list_group_snapshots(call, detail=False)


@router.get("/group_snapshots/detail", openapi_extra=queries.SCOPE)
async def list_group_snapshots_detail(call: VolumeCall = Depends(volume_call)):
    return await _list_group_snapshots(call, detail=True)


@router.post("/group_snapshots", status_code=202, openapi_extra=bodies.CREATE_GROUP_SNAPSHOT)
async def create_group_snapshot(call: VolumeCall = Depends(volume_call)):
    _since(call, "3.14")
    b = parse(call, bodies.GroupSnapshotCreate, await call.body("group_snapshot"), "group_snapshot")
    row = await sync(call.services.group_snapshots.create, call.ctx, b.model_dump())
    return {"group_snapshot": {"id": row.id, "name": row.name, "group_type_id": row.group_type_id}}


@router.get("/group_snapshots/{gsnap_id}")
async def show_group_snapshot(gsnap_id: str, call: VolumeCall = Depends(volume_call)):
    _since(call, "3.14")
    return {"group_snapshot": _group_snapshot(await sync(call.services.group_snapshots.get, call.ctx, gsnap_id))}


@router.delete("/group_snapshots/{gsnap_id}", status_code=202)
async def delete_group_snapshot(gsnap_id: str, call: VolumeCall = Depends(volume_call)):
    _since(call, "3.14")
    await sync(call.services.group_snapshots.delete, call.ctx, gsnap_id)
    return Response(status_code=202)


@router.post("/group_snapshots/{gsnap_id}/action", status_code=202, openapi_extra=bodies.GROUP_SNAPSHOT_ACTION)
async def group_snapshot_action(gsnap_id: str, call: VolumeCall = Depends(volume_call)):
    _since(call, "3.19")
    name, raw = _action(await call.body())
    if name != "reset_status":
        raise ApiError(400, f"Invalid input received: unknown group snapshot action {name!r}")
    status = parse(call, bodies.GroupStatus, raw, name).status
    await sync(call.services.group_snapshots.reset_status, call.ctx, gsnap_id, status)
    return Response(status_code=202)
