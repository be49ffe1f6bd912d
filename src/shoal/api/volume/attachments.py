"""/attachments (3.27+): create with a connector, update, complete, delete."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read

from . import bodies, queries, views
from .call import VolumeCall, volume_call

router = APIRouter()


def _require(call: VolumeCall) -> None:
    if not call.v("3.27"):
        raise ApiError(404, "The resource could not be found.")


@router.post("/attachments", openapi_extra=bodies.CREATE_ATTACHMENT)
async def create_attachment(call: VolumeCall = Depends(volume_call)):
    _require(call)
    b = parse(call, bodies.AttachmentCreate, await call.body("attachment"), "attachment")
    mode = b.mode or "rw" if call.v("3.54") else "rw"
    row, info = await sync(call.services.attachments.create, call.ctx, b.volume_uuid, b.instance_uuid, b.connector,
                           mode)
    return {"attachment": views.attachment(call, row, info)}


@router.get("/attachments", openapi_extra=queries.ATTACHMENT_LIST)
@router.get("/attachments/detail", openapi_extra=queries.ATTACHMENT_LIST)
async def list_attachments(call: VolumeCall = Depends(volume_call)):
    _require(call)
    q = read(call, queries.AttachmentList)
    rows = await sync(call.services.attachments.list, call.ctx, bool(q.all_tenants), q.volume_id)
    detail = call.request.url.path.endswith("/detail")
    return {"attachments": [views.attachment(call, r, detail=detail) for r in rows]}


@router.get("/attachments/{attachment_id}")
async def show_attachment(attachment_id: str, call: VolumeCall = Depends(volume_call)):
    _require(call)
    row = await sync(call.services.attachments.get, call.ctx, attachment_id)
    info = await sync(call.services.attachments.connection_info, call.ctx, row)
    return {"attachment": views.attachment(call, row, info)}


@router.put("/attachments/{attachment_id}", openapi_extra=bodies.UPDATE_ATTACHMENT)
async def update_attachment(attachment_id: str, call: VolumeCall = Depends(volume_call)):
    _require(call)
    b = parse(call, bodies.AttachmentUpdate, await call.body("attachment"), "attachment")
    row, info = await sync(call.services.attachments.update, call.ctx, attachment_id, b.connector)
    return {"attachment": views.attachment(call, row, info)}


@router.post("/attachments/{attachment_id}/action", status_code=204, openapi_extra=bodies.ATTACHMENT_ACTION)
async def attachment_action(attachment_id: str, call: VolumeCall = Depends(volume_call)):
    _require(call)
    body = await call.body()
    if list(body) != ["os-complete"] or not call.v("3.44"):
        raise ApiError(400, "Invalid input received: the only attachment action is os-complete (3.44+)")
    await sync(call.services.attachments.complete, call.ctx, attachment_id)
    return Response(status_code=204)


@router.delete("/attachments/{attachment_id}")
async def delete_attachment(attachment_id: str, call: VolumeCall = Depends(volume_call)):
    _require(call)
    await sync(call.services.attachments.delete, call.ctx, attachment_id)
    return {"attachments": []}
