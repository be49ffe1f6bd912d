"""/v2/images/{id}/members."""

from __future__ import annotations


from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.errors import ApiError

from . import views
from .call import ImageCall, image_call, read_json

router = APIRouter()


async def _field(call: ImageCall, name: str):
    body = await read_json(call)
    if not isinstance(body, dict) or name not in body:
        raise ApiError(400, f"Malformed request body: missing '{name}'")
    return body[name]


@router.get("/images/{image_id}/members")
async def list_members(image_id: str, call: ImageCall = Depends(image_call)):
    found = await sync(call.images.members.list, call.ctx, image_id)
    return {"members": [views.member(m) for m in found], "schema": "/v2/schemas/members"}


@router.post("/images/{image_id}/members")
async def add_member(image_id: str, call: ImageCall = Depends(image_call)):
    return views.member(await sync(call.images.members.add, call.ctx, image_id, await _field(call, "member")))


@router.get("/images/{image_id}/members/{member_id}")
async def show_member(image_id: str, member_id: str, call: ImageCall = Depends(image_call)):
    return views.member(await sync(call.images.members.get, call.ctx, image_id, member_id))


@router.put("/images/{image_id}/members/{member_id}")
async def update_member(image_id: str, member_id: str, call: ImageCall = Depends(image_call)):
    status = await _field(call, "status")
    return views.member(await sync(call.images.members.update, call.ctx, image_id, member_id, status))


@router.delete("/images/{image_id}/members/{member_id}", status_code=204)
async def delete_member(image_id: str, member_id: str, call: ImageCall = Depends(image_call)):
    await sync(call.images.members.delete, call.ctx, image_id, member_id)
    return Response(status_code=204)
