"""/types/{type_id}/encryption: a volume type's encryption type."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.share.views import ts

from . import admin_bodies as bodies
from .call import VolumeCall, volume_call

router = APIRouter()


def _encryption(row, full: bool) -> dict:
    view = {"volume_type_id": row.type_id, "encryption_id": row.encryption_id, "provider": row.provider,
            "cipher": row.cipher, "key_size": row.key_size, "control_location": row.control_location}
    if full:  # a show carries Cinder's row bookkeeping too
        view.update({"deleted": False, "created_at": ts(row.created_at), "updated_at": ts(row.updated_at),
                     "deleted_at": None})
    return view


@router.get("/types/{type_id}/encryption")
async def show_encryption(type_id: str, call: VolumeCall = Depends(volume_call)):
    row = await sync(call.services.encryption_types.get, call.ctx, type_id)
    return _encryption(row, full=True) if row is not None else {}


@router.get("/types/{type_id}/encryption/{key}")
async def show_encryption_item(type_id: str, key: str, call: VolumeCall = Depends(volume_call)):
    row = await sync(call.services.encryption_types.get, call.ctx, type_id)
    view = _encryption(row, full=False) if row is not None else {}
    if key not in view:
        raise ApiError(404, f"Volume type encryption for type {type_id} has no {key}.")
    return {key: view[key]}


@router.post("/types/{type_id}/encryption", openapi_extra=bodies.CREATE_ENCRYPTION)
async def create_encryption(type_id: str, call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.EncryptionCreate, await call.body("encryption"), "encryption")
    row = await sync(call.services.encryption_types.create, call.ctx, type_id, b.model_dump(exclude_unset=True))
    return {"encryption": _encryption(row, full=False)}


@router.put("/types/{type_id}/encryption/{encryption_id}", openapi_extra=bodies.UPDATE_ENCRYPTION)
async def update_encryption(type_id: str, encryption_id: str, call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.EncryptionUpdate, await call.body("encryption"), "encryption")
    changed = await sync(call.services.encryption_types.update, call.ctx, type_id, b.model_dump(exclude_unset=True))
    return {"encryption": changed}


@router.delete("/types/{type_id}/encryption/{encryption_id}", status_code=202)
async def delete_encryption(type_id: str, encryption_id: str, call: VolumeCall = Depends(volume_call)):
    await sync(call.services.encryption_types.delete, call.ctx, type_id)
    return Response(status_code=202)
