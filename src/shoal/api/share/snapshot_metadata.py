"""Snapshot metadata (Manila 2.73): /snapshots/{id}/metadata and its items, as
Manila's metadata controller answers them; and the one item call shares lacked
(POST /shares/{id}/metadata/{key}, Manila's update_metadata_item)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import MetadataSet, parse
from shoal.api.openstack.errors import ApiError

from . import bodies
from .call import ShareCall, share_call

router = APIRouter()


def _since_273(call: ShareCall) -> None:
    if not call.v("2.73"):
        raise ApiError(404, "The resource could not be found.")


async def _item_body(call: ShareCall, key: str) -> dict:
    """The body of an item update: {"metadata": {key: value}} with that key only."""
    item = parse(call, MetadataSet, await call.body()).metadata
    if key not in item:
        raise ApiError(400, "Request body and URI mismatch")
    if len(item) > 1:
        raise ApiError(400, "Request body contains too many items")
    return item


@router.get("/snapshots/{snapshot_id}/metadata")
async def snapshot_metadata(snapshot_id: str, call: ShareCall = Depends(share_call)):
    _since_273(call)
    return {"metadata": await sync(call.services.snapshots.metadata, call.ctx, snapshot_id)}


@router.put("/snapshots/{snapshot_id}/metadata", openapi_extra=bodies.METADATA)
@router.post("/snapshots/{snapshot_id}/metadata", openapi_extra=bodies.METADATA)
async def set_snapshot_metadata(snapshot_id: str, call: ShareCall = Depends(share_call)):
    """PUT replaces all of it, POST adds to it."""
    _since_273(call)
    metadata = parse(call, MetadataSet, await call.body()).metadata
    replace = call.request.method == "PUT"
    meta = await sync(call.services.snapshots.set_metadata, call.ctx, snapshot_id, metadata, replace)
    return {"metadata": meta}


@router.get("/snapshots/{snapshot_id}/metadata/{key}")
async def snapshot_metadata_item(snapshot_id: str, key: str, call: ShareCall = Depends(share_call)):
    _since_273(call)
    meta = await sync(call.services.snapshots.metadata, call.ctx, snapshot_id)
    if key not in meta:
        raise ApiError(404, f"Metadata item {key} was not found.")
    return {"meta": {key: meta[key]}}


@router.post("/snapshots/{snapshot_id}/metadata/{key}")
async def update_snapshot_metadata_item(snapshot_id: str, key: str, call: ShareCall = Depends(share_call)):
    _since_273(call)
    item = await _item_body(call, key)
    meta = await sync(call.services.snapshots.set_metadata, call.ctx, snapshot_id, item, False)
    return {"metadata": meta}


@router.delete("/snapshots/{snapshot_id}/metadata/{key}", status_code=200)
async def delete_snapshot_metadata_item(snapshot_id: str, key: str, call: ShareCall = Depends(share_call)):
    _since_273(call)
    await sync(call.services.snapshots.delete_metadata, call.ctx, snapshot_id, key)
    return Response(status_code=200)


@router.post("/shares/{share_id}/metadata/{key}")
async def update_share_metadata_item(share_id: str, key: str, call: ShareCall = Depends(share_call)):
    item = await _item_body(call, key)
    return {"metadata": await sync(call.services.shares.set_metadata, call.ctx, share_id, item, False)}
