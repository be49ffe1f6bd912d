"""/types: volume types, their extra specs, and the project access lists of private types."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read

from . import admin_bodies, bodies, queries, views
from .call import VolumeCall, volume_call

router = APIRouter()


@router.get("/types", openapi_extra=queries.TYPE_LIST)
async def list_types(call: VolumeCall = Depends(volume_call)):
    rows = await sync(call.services.volume_types.list, call.ctx, read(call, queries.TypeList).is_public)
    qos = await sync(call.services.qos_specs.of_types, [t.id for t in rows])
    return {"volume_types": [views.volume_type(call, t, qos_id=qos.get(t.id)) for t in rows]}


@router.get("/types/{type_id}")
async def show_type(type_id: str, call: VolumeCall = Depends(volume_call)):
    if type_id == "default" and not call.v("3.62"):
        raise ApiError(404, "Volume type default could not be found.")
    vtype = await sync(call.services.volume_types.get, call.ctx, type_id)
    qos = await sync(call.services.qos_specs.of_types, [vtype.id])
    return {"volume_type": views.volume_type(call, vtype, qos_id=qos.get(vtype.id))}


@router.post("/types", openapi_extra=bodies.CREATE_TYPE)
async def create_type(call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.TypeCreate, await call.body("volume_type"), "volume_type")
    is_public = b.first("access_is_public", "is_public")
    vtype = await sync(call.services.volume_types.create, call.ctx, b.name, b.extra_specs,
                       True if is_public is None else is_public, b.description)
    return {"volume_type": views.volume_type(call, vtype, answer_to="create")}


@router.put("/types/{type_id}", openapi_extra=bodies.UPDATE_TYPE)
async def update_type(type_id: str, call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.TypeUpdate, await call.body("volume_type"), "volume_type")
    vtype = await sync(call.services.volume_types.update, call.ctx, type_id, b.model_dump(exclude_unset=True))
    return {"volume_type": views.volume_type(call, vtype, answer_to="update")}


@router.delete("/types/{type_id}", status_code=202)
async def delete_type(type_id: str, call: VolumeCall = Depends(volume_call)):
    await sync(call.services.volume_types.delete, call.ctx, type_id)
    return Response(status_code=202)


@router.get("/types/{type_id}/extra_specs")
async def list_specs(type_id: str, call: VolumeCall = Depends(volume_call)):
    vtype = await sync(call.services.volume_types.get, call.ctx, type_id)
    return {"extra_specs": dict(vtype.extra_specs)}


@router.post("/types/{type_id}/extra_specs", openapi_extra=admin_bodies.SET_EXTRA_SPECS)
async def set_specs(type_id: str, call: VolumeCall = Depends(volume_call)):
    given = parse(call, admin_bodies.ExtraSpecsSet, await call.body()).extra_specs
    specs = await sync(call.services.volume_types.set_specs, call.ctx, type_id, given)
    # Cinder answers with the specs this request set, not all the type's
    return {"extra_specs": {k: v for k, v in specs.items() if k in given}}


@router.get("/types/{type_id}/extra_specs/{key}")
async def show_spec(type_id: str, key: str, call: VolumeCall = Depends(volume_call)):
    vtype = await sync(call.services.volume_types.get, call.ctx, type_id)
    if key not in vtype.extra_specs:
        raise ApiError(404, f"Volume Type {type_id} has no extra specs with key {key}.")
    return {key: vtype.extra_specs[key]}


@router.put("/types/{type_id}/extra_specs/{key}", openapi_extra=admin_bodies.PUT_EXTRA_SPEC)
async def put_spec(type_id: str, key: str, call: VolumeCall = Depends(volume_call)):
    body = await call.body()
    if set(body) != {key}:
        raise ApiError(400, "Invalid input received: the body must hold exactly the spec named in the URL")
    spec = parse(call, admin_bodies.SpecItem, body).specs()
    await sync(call.services.volume_types.set_specs, call.ctx, type_id, spec)
    return spec


@router.delete("/types/{type_id}/extra_specs/{key}", status_code=202)
async def unset_spec(type_id: str, key: str, call: VolumeCall = Depends(volume_call)):
    await sync(call.services.volume_types.unset_spec, call.ctx, type_id, key)
    return Response(status_code=202)


@router.get("/types/{type_id}/os-volume-type-access")
async def list_access(type_id: str, call: VolumeCall = Depends(volume_call)):
    tid, projects = await sync(call.services.volume_types.projects, call.ctx, type_id)
    return {"volume_type_access": [{"volume_type_id": tid, "project_id": p} for p in projects]}


@router.post("/types/{type_id}/action", status_code=202, openapi_extra=admin_bodies.TYPE_ACTION)
async def type_action(type_id: str, call: VolumeCall = Depends(volume_call)):
    body = await call.body()
    if len(body) == 1 and (name := next(iter(body))) in admin_bodies.TYPE_ACTIONS:
        body = {name: {"project": parse(call, admin_bodies.TYPE_ACTIONS[name], body[name], name).project}}
    # (any other action: the type catalog's 400, naming the two it knows)
    await sync(call.services.volume_types.access_action, call.ctx, type_id, body)
    return Response(status_code=202)
