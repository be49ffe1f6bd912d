"""/group_types (3.11+): generic volume group types and their group specs."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read

from . import admin_bodies as bodies, queries
from .call import VolumeCall, volume_call

router = APIRouter()


def _since_3_11(call: VolumeCall) -> None:
    if not call.v("3.11"):
        raise ApiError(404, "The resource could not be found.")


def _view(call: VolumeCall, row) -> dict:
    view = {"id": row.id, "name": row.name, "description": row.description, "is_public": row.is_public}
    if call.ctx.is_admin:  # Cinder shows the specs to those who may manage them
        view["group_specs"] = dict(row.group_specs or {})
    return view


@router.get("/group_types", openapi_extra=queries.GROUP_TYPE_LIST)
async def list_group_types(call: VolumeCall = Depends(volume_call)):
    _since_3_11(call)
    q = read(call, queries.GroupTypeList)
    sort = q.pairs(direction="asc") if q.sort is not None or q.sort_key is not None else None
    rows = await sync(call.services.group_types.list, call.ctx, q.is_public, sort)
    return {"group_types": [_view(call, r) for r in rows]}


@router.post("/group_types", status_code=202, openapi_extra=bodies.CREATE_GROUP_TYPE)
async def create_group_type(call: VolumeCall = Depends(volume_call)):
    _since_3_11(call)
    b = parse(call, bodies.GroupTypeCreate, await call.body("group_type"), "group_type")
    row = await sync(call.services.group_types.create, call.ctx, b.model_dump(exclude_none=True))
    return {"group_type": _view(call, row)}


@router.get("/group_types/default")
async def show_default_group_type(call: VolumeCall = Depends(volume_call)):
    _since_3_11(call)
    raise ApiError(404, "Default group type could not be found.")  # none is configured


@router.get("/group_types/{type_id}")
async def show_group_type(type_id: str, call: VolumeCall = Depends(volume_call)):
    _since_3_11(call)
    return {"group_type": _view(call, await sync(call.services.group_types.get, call.ctx, type_id))}


@router.put("/group_types/{type_id}", openapi_extra=bodies.UPDATE_GROUP_TYPE)
async def update_group_type(type_id: str, call: VolumeCall = Depends(volume_call)):
    _since_3_11(call)
    b = parse(call, bodies.GroupTypeUpdate, await call.body("group_type"), "group_type")
    row = await sync(call.services.group_types.update, call.ctx, type_id, b.model_dump(exclude_unset=True))
    return {"group_type": _view(call, row)}


@router.delete("/group_types/{type_id}", status_code=202)
async def delete_group_type(type_id: str, call: VolumeCall = Depends(volume_call)):
    _since_3_11(call)
    await sync(call.services.group_types.delete, call.ctx, type_id)
    return Response(status_code=202)


@router.get("/group_types/{type_id}/group_specs")
async def list_group_specs(type_id: str, call: VolumeCall = Depends(volume_call)):
    _since_3_11(call)
    row = await sync(call.services.group_types.get, call.ctx, type_id)
    return {"group_specs": dict(row.group_specs or {})}


@router.post("/group_types/{type_id}/group_specs", status_code=202, openapi_extra=bodies.SET_GROUP_SPECS)
async def set_group_specs(type_id: str, call: VolumeCall = Depends(volume_call)):
    _since_3_11(call)
    specs = parse(call, bodies.GroupSpecsSet, await call.body()).group_specs
    return {"group_specs": await sync(call.services.group_types.set_specs, call.ctx, type_id, specs)}


@router.get("/group_types/{type_id}/group_specs/{key}")
async def show_group_spec(type_id: str, key: str, call: VolumeCall = Depends(volume_call)):
    _since_3_11(call)
    row = await sync(call.services.group_types.get, call.ctx, type_id)
    if key not in row.group_specs:
        raise ApiError(404, f"Group Type {type_id} has no specs with key {key}.")
    return {key: row.group_specs[key]}


@router.put("/group_types/{type_id}/group_specs/{key}", openapi_extra=bodies.PUT_GROUP_SPEC)
async def put_group_spec(type_id: str, key: str, call: VolumeCall = Depends(volume_call)):
    _since_3_11(call)
    body = await call.body()
    if set(body) != {key}:
        raise ApiError(400, "Malformed request body: the body must hold exactly the spec named in the URL")
    specs = parse(call, bodies.GroupSpecItem, body).specs()
    return await sync(call.services.group_types.set_specs, call.ctx, type_id, specs)


@router.delete("/group_types/{type_id}/group_specs/{key}", status_code=202)
async def delete_group_spec(type_id: str, key: str, call: VolumeCall = Depends(volume_call)):
    _since_3_11(call)
    await sync(call.services.group_types.unset_spec, call.ctx, type_id, key)
    return Response(status_code=202)
