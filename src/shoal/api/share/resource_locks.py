"""/resource-locks (Manila 2.81+): create, list (filters, sort, paging, with_count),
show, update, delete."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import Body, parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read
from shoal.db.resource_locks import ResourceLock

from . import bodies, queries
from .call import ShareCall, share_call
from .paging import next_links
from .views import ts

router = APIRouter()


def _since(call: ShareCall) -> None:
    if not call.v("2.81"):
        raise ApiError(404, "The resource could not be found.")


def view(call: ShareCall, lock: ResourceLock) -> dict:
    return {"id": lock.id, "user_id": lock.user_id, "project_id": lock.project_id, "lock_context": lock.lock_context,
            "resource_type": lock.resource_type, "resource_id": lock.resource_id,
            "resource_action": lock.resource_action, "lock_reason": lock.lock_reason,
            "created_at": ts(lock.created_at), "updated_at": ts(lock.updated_at),
            "links": call.link("resource-locks", lock.id)}


async def _body(call: ShareCall, model: type[Body]) -> dict:
    """The lock's fields the client gave, as `model` declares them (the service tells given from not)."""
    body = await call.body()
    if not isinstance(body.get("resource_lock"), dict):
        raise ApiError(400, "Malformed request body.")
    lock = parse(call, model, body["resource_lock"], "resource_lock")
    return {name: getattr(lock, name) for name in lock.model_fields_set}


@router.get("/resource-locks", openapi_extra=queries.RESOURCE_LOCK_LIST)
async def list_locks(call: ShareCall = Depends(share_call)):
    _since(call)
    q = read(call, queries.ResourceLockList)
    limit, offset = q.limit, q.offset or 0
    params = {k: v for k, v in call.request.query_params.items() if k not in ("limit", "offset", "with_count")}
    locks, count = await sync(call.services.resource_locks.list, call.ctx, params)
    page = locks[offset:offset + limit] if limit is not None else locks[offset:]
    out = {"resource_locks": [view(call, lock) for lock in page]}
    if q.with_count and count:
        out["count"] = count
    links = next_links(call, "resource_locks", [lock.id for lock in page], limit)
    if links:
        out["resource_locks_links"] = links
    return out


@router.get("/resource-locks/{lock_id}")
async def show_lock(lock_id: str, call: ShareCall = Depends(share_call)):
    _since(call)
    return {"resource_lock": view(call, await sync(call.services.resource_locks.get, call.ctx, lock_id))}


@router.post("/resource-locks", openapi_extra=bodies.CREATE_LOCK)
async def create_lock(call: ShareCall = Depends(share_call)):
    _since(call)
    lock = await sync(call.services.resource_locks.create, call.ctx, await _body(call, bodies.LockCreate))
    return {"resource_lock": view(call, lock)}


@router.put("/resource-locks/{lock_id}", openapi_extra=bodies.UPDATE_LOCK)
async def update_lock(lock_id: str, call: ShareCall = Depends(share_call)):
    _since(call)
    lock = await sync(call.services.resource_locks.update, call.ctx, lock_id, await _body(call, bodies.LockUpdate))
    return {"resource_lock": view(call, lock)}


@router.delete("/resource-locks/{lock_id}", status_code=204)
async def delete_lock(lock_id: str, call: ShareCall = Depends(share_call)):
    _since(call)
    await sync(call.services.resource_locks.delete, call.ctx, lock_id)
    return Response(status_code=204)
