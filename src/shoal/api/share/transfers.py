"""/share-transfers (Manila 2.77): offer a share to another project, list, show,
withdraw, and accept with the auth key."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.db.share_transfers import ShareTransfer
from shoal.api.openstack.queries import read

from . import bodies, queries
from .call import ShareCall, share_call
from .views import ts

router = APIRouter()


def _since(call: ShareCall) -> None:
    if not call.v("2.77"):
        raise ApiError(404, "The resource could not be found.")


def transfer_summary(call: ShareCall, row: ShareTransfer) -> dict:
    return {"id": row.id, "name": row.name, "resource_type": "share", "resource_id": row.share_id,
            "links": call.link("share-transfers", row.id)}


def transfer_detail(call: ShareCall, row: ShareTransfer) -> dict:
    return {"id": row.id, "created_at": ts(row.created_at), "name": row.name, "resource_type": "share",
            "resource_id": row.share_id, "source_project_id": row.source_project_id,
            "destination_project_id": None, "accepted": False, "expires_at": None,
            "links": call.link("share-transfers", row.id)}


async def _list(call: ShareCall, detail: bool) -> dict:
    _since(call)
    rows = await sync(call.services.share_transfers.list, call.ctx, bool(read(call, queries.Scope).all_tenants))
    view = transfer_detail if detail else transfer_summary
    return {"transfers": [view(call, r) for r in rows]}


@router.get("/share-transfers", openapi_extra=queries.SCOPE)
async def list_transfers(call: ShareCall = Depends(share_call)):
    return await _list(call, detail=False)


@router.get("/share-transfers/detail", openapi_extra=queries.SCOPE)
async def list_transfers_detail(call: ShareCall = Depends(share_call)):
    return await _list(call, detail=True)


@router.post("/share-transfers", status_code=202, openapi_extra=bodies.CREATE_TRANSFER)
async def create_transfer(call: ShareCall = Depends(share_call)):
    _since(call)
    b = parse(call, bodies.TransferCreate, await call.body("transfer"), "transfer")
    row, auth_key = await sync(call.services.share_transfers.create, call.ctx, b.share_id, b.name)
    return {"transfer": {**transfer_detail(call, row), "auth_key": auth_key}}


@router.get("/share-transfers/{transfer_id}")
async def show_transfer(transfer_id: str, call: ShareCall = Depends(share_call)):
    _since(call)
    return {"transfer": transfer_detail(call, await sync(call.services.share_transfers.get, call.ctx, transfer_id))}


@router.delete("/share-transfers/{transfer_id}", status_code=200)
async def delete_transfer(transfer_id: str, call: ShareCall = Depends(share_call)):
    _since(call)
    await sync(call.services.share_transfers.delete, call.ctx, transfer_id)
    return Response(status_code=200)


@router.post("/share-transfers/{transfer_id}/accept", status_code=202, openapi_extra=bodies.ACCEPT_TRANSFER)
async def accept_transfer(transfer_id: str, call: ShareCall = Depends(share_call)):
    _since(call)
    b = parse(call, bodies.TransferAccept, await call.body("accept"), "accept")
    await sync(call.services.share_transfers.accept, call.ctx, transfer_id, b.auth_key, bool(b.clear_access_rules))
    return Response(status_code=202)
