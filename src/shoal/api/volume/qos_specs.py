"""/qos-specs: QoS specs, their keys and their association with volume types."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.queries import read

from . import admin_bodies as bodies, queries
from .call import VolumeCall, volume_call

router = APIRouter()


def _qos(qos) -> dict:
    return {"id": qos.id, "name": qos.name, "consumer": qos.consumer, "specs": dict(qos.specs or {})}


def _answer(call: VolumeCall, qos) -> dict:
    return {"qos_specs": _qos(qos), "links": call.link("qos-specs", qos.id, "v3")}


@router.get("/qos-specs")
async def list_qos(call: VolumeCall = Depends(volume_call)):
    return {"qos_specs": [_qos(q) for q in await sync(call.services.qos_specs.list, call.ctx)]}


@router.post("/qos-specs", openapi_extra=bodies.CREATE_QOS)
async def create_qos(call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.QosCreate, await call.body("qos_specs"), "qos_specs")
    fields = {"name": b.name, **({"consumer": b.consumer} if b.consumer else {}), **b.specs()}
    return _answer(call, await sync(call.services.qos_specs.create, call.ctx, fields))


@router.get("/qos-specs/{qos_id}")
async def show_qos(qos_id: str, call: VolumeCall = Depends(volume_call)):
    return _answer(call, await sync(call.services.qos_specs.get, call.ctx, qos_id))


@router.put("/qos-specs/{qos_id}", openapi_extra=bodies.SET_QOS_KEYS)
async def set_keys(qos_id: str, call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.QosKeys, await call.body("qos_specs"), "qos_specs")
    return {"qos_specs": await sync(call.services.qos_specs.set_keys, call.ctx, qos_id, b.specs())}


@router.put("/qos-specs/{qos_id}/delete_keys", status_code=202, openapi_extra=bodies.UNSET_QOS_KEYS)
async def unset_keys(qos_id: str, call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.QosKeysUnset, await call.body())
    await sync(call.services.qos_specs.unset_keys, call.ctx, qos_id, b.keys)
    return Response(status_code=202)


@router.delete("/qos-specs/{qos_id}", status_code=202, openapi_extra=queries.FORCE)
async def delete_qos(qos_id: str, call: VolumeCall = Depends(volume_call)):
    await sync(call.services.qos_specs.delete, call.ctx, qos_id, bool(read(call, queries.Force).force))
    return Response(status_code=202)


@router.get("/qos-specs/{qos_id}/associations")
async def associations(qos_id: str, call: VolumeCall = Depends(volume_call)):
    types = await sync(call.services.qos_specs.associations, call.ctx, qos_id)
    return {"qos_associations": [{"association_type": "volume_type", "name": t.name, "id": t.id} for t in types]}


# Cinder's association calls are GETs that change state (its API, kept for its clients).
@router.get("/qos-specs/{qos_id}/associate", status_code=202, openapi_extra=queries.QOS_ASSOCIATION)
async def associate(qos_id: str, call: VolumeCall = Depends(volume_call)):
    type_id = read(call, queries.QosAssociation).vol_type_id  # none: the service's "vol_type_id is required"
    await sync(call.services.qos_specs.associate, call.ctx, qos_id, type_id)
    return Response(status_code=202)


@router.get("/qos-specs/{qos_id}/disassociate", status_code=202, openapi_extra=queries.QOS_ASSOCIATION)
async def disassociate(qos_id: str, call: VolumeCall = Depends(volume_call)):
    type_id = read(call, queries.QosAssociation).vol_type_id
    await sync(call.services.qos_specs.disassociate, call.ctx, qos_id, type_id)
    return Response(status_code=202)


@router.get("/qos-specs/{qos_id}/disassociate_all", status_code=202)
async def disassociate_all(qos_id: str, call: VolumeCall = Depends(volume_call)):
    await sync(call.services.qos_specs.disassociate_all, call.ctx, qos_id)
    return Response(status_code=202)
