"""Volume transfers: /os-volume-transfer (every microversion, Cinder's original view) and
/volume-transfers (3.55+: `no_snapshots`; 3.57+: source, destination, accepted)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.share.views import ts
from shoal.api.openstack.queries import read

from . import bodies, queries
from .call import VolumeCall, volume_call

router = APIRouter()
LEGACY, CURRENT = "os-volume-transfer", "volume-transfers"


def _collection(call: VolumeCall) -> str:
    """Which of the two collections this request is on; the new one exists from 3.55."""
    collection = CURRENT if f"/{CURRENT}" in call.request.url.path else LEGACY
    if collection == CURRENT and not call.v("3.55"):
        raise ApiError(404, "The resource could not be found.")
    return collection


def _view(call: VolumeCall, collection: str, row, detail: bool = True) -> dict:
    view = {"id": row.id, "name": row.name, "volume_id": row.volume_id,
            "links": call.link(collection, row.id, "v3")}
    if not detail:
        return view
    view["created_at"] = ts(row.created_at)
    if collection == CURRENT:
        view["no_snapshots"] = row.no_snapshots
        if call.v("3.57"):
            # accepted transfers are gone (Cinder's too, for everyone but an admin's deleted filter)
            view.update({"source_project_id": row.source_project_id, "destination_project_id": None,
                         "accepted": False})
    return view


async def _list(call: VolumeCall, detail: bool) -> dict:
    collection = _collection(call)
    rows = await sync(call.services.transfers.list, call.ctx, bool(read(call, queries.Scope).all_tenants))
    return {"transfers": [_view(call, collection, r, detail) for r in rows]}


@router.get(f"/{LEGACY}", openapi_extra=queries.SCOPE)
@router.get(f"/{CURRENT}", openapi_extra=queries.SCOPE)
async def list_transfers(call: VolumeCall = Depends(volume_call)):
    return await _list(call, detail=False)


@router.get(f"/{LEGACY}/detail", openapi_extra=queries.SCOPE)
@router.get(f"/{CURRENT}/detail", openapi_extra=queries.SCOPE)
async def list_transfers_detail(call: VolumeCall = Depends(volume_call)):
    return await _list(call, detail=True)


@router.post(f"/{LEGACY}", status_code=202)
@router.post(f"/{CURRENT}", status_code=202, openapi_extra=bodies.CREATE_TRANSFER)
async def create_transfer(call: VolumeCall = Depends(volume_call)):
    collection = _collection(call)
    b = parse(call, bodies.TransferCreate, await call.body("transfer"), "transfer")
    no_snapshots = bool(b.no_snapshots) if collection == CURRENT else False
    row, auth_key = await sync(call.services.transfers.create, call.ctx, b.volume_id, b.name, no_snapshots)
    return {"transfer": {**_view(call, collection, row), "auth_key": auth_key}}


@router.get(f"/{LEGACY}/{{transfer_id}}")
@router.get(f"/{CURRENT}/{{transfer_id}}")
async def show_transfer(transfer_id: str, call: VolumeCall = Depends(volume_call)):
    collection = _collection(call)
    return {"transfer": _view(call, collection, await sync(call.services.transfers.get, call.ctx, transfer_id))}


@router.delete(f"/{LEGACY}/{{transfer_id}}", status_code=202)
@router.delete(f"/{CURRENT}/{{transfer_id}}", status_code=202)
async def delete_transfer(transfer_id: str, call: VolumeCall = Depends(volume_call)):
    _collection(call)
    await sync(call.services.transfers.delete, call.ctx, transfer_id)
    return Response(status_code=202)


@router.post(f"/{LEGACY}/{{transfer_id}}/accept", status_code=202)
@router.post(f"/{CURRENT}/{{transfer_id}}/accept", status_code=202, openapi_extra=bodies.ACCEPT_TRANSFER)
async def accept_transfer(transfer_id: str, call: VolumeCall = Depends(volume_call)):
    collection = _collection(call)
    auth_key = parse(call, bodies.TransferAccept, await call.body("accept"), "accept").auth_key
    row = await sync(call.services.transfers.accept, call.ctx, transfer_id, auth_key)
    return {"transfer": _view(call, collection, row, detail=False)}
