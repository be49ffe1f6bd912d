"""The small read-mostly endpoints: access rules by id, pools, services,
availability zones and user messages (limits and quota sets: quotas.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.errors import ApiError

from . import views
from .call import ShareCall, int_query, share_call

router = APIRouter()


def _admin(call: ShareCall) -> None:
    if not call.ctx.is_admin:
        raise ApiError(403, "Policy doesn't allow this operation to be performed.")


# ---- /share-access-rules (2.45+) ----------------------------------------------

@router.get("/share-access-rules")
async def list_access_rules(call: ShareCall = Depends(share_call)):
    share_id = call.query("share_id")
    if not share_id:
        raise ApiError(400, "share_id is required to list access rules")
    rules = await sync(call.services.access.list, call.ctx, share_id)
    level, to, kind = call.query("access_level"), call.query("access_to"), call.query("access_type")
    rules = [r for r in rules if (not level or r.access_level == level) and (not to or r.access_to == to)
             and (not kind or r.access_type == kind)]
    return {"access_list": [views.access_rule(call, r) for r in rules]}


@router.get("/share-access-rules/{access_id}")
async def show_access_rule(access_id: str, call: ShareCall = Depends(share_call)):
    return {"access": views.access_rule(call, await sync(call.services.access.get, call.ctx, access_id))}


# ---- pools, services, zones -------------------------------------------------------

def _pool_view(backend: str, driver, pool, detail: bool) -> dict:
    view = {"name": f"shoal@{backend}#{pool.name}", "host": "shoal", "backend": backend, "pool": pool.name}
    if detail:
        view["capabilities"] = {
            "pool_name": pool.name, "total_capacity_gb": pool.total_gb, "free_capacity_gb": pool.free_gb,
            "allocated_capacity_gb": pool.allocated_gb, "share_backend_name": backend,
            "storage_protocol": "NFS", "vendor_name": "Shoal", "driver_version": "1.0",
            "driver_name": type(driver).__name__, "availability_zone": driver.availability_zone,
            "timestamp": None, **pool.capabilities,
        }
    return view


async def _pools(call: ShareCall, detail: bool) -> dict:
    _admin(call)
    wanted = {k: call.query(k) for k in ("backend", "pool", "host") if call.query(k)}
    out = []
    for backend, driver, pools in await sync(call.services.pools):
        for pool in pools:
            view = _pool_view(backend, driver, pool, detail)
            if all(view[k] == v for k, v in wanted.items()):
                out.append(view)
    return {"pools": out}


@router.get("/scheduler-stats/pools")
async def list_pools(call: ShareCall = Depends(share_call)):
    return await _pools(call, detail=False)


@router.get("/scheduler-stats/pools/detail")
async def list_pools_detail(call: ShareCall = Depends(share_call)):
    return await _pools(call, detail=True)


@router.get("/services")
@router.get("/os-services")
async def list_services(call: ShareCall = Depends(share_call)):
    _admin(call)
    out = []
    for index, (backend, driver, pools) in enumerate(await sync(call.services.pools), start=1):
        out.append({"id": index, "binary": "manila-share", "host": f"shoal@{backend}",
                    "zone": driver.availability_zone, "status": "enabled", "state": "up" if pools else "down",
                    "updated_at": None})
    out.append({"id": len(out) + 1, "binary": "manila-scheduler", "host": "shoal", "zone": "nova",
                "status": "enabled", "state": "up", "updated_at": None})
    return {"services": out}


@router.get("/availability-zones")
@router.get("/os-availability-zone")
async def list_zones(call: ShareCall = Depends(share_call)):
    zones = sorted({d.availability_zone for d in call.services.core.drivers.values()})
    return {"availability_zones": [{"id": z, "name": z, "created_at": None, "updated_at": None} for z in zones]}


# ---- messages (2.37+) -----------------------------------------------------------------

@router.get("/messages")
async def list_messages(call: ShareCall = Depends(share_call)):
    msgs = await sync(call.services.messages.list, call.ctx, call.query("resource_id"), int_query(call, "limit"))
    return {"messages": [views.message(call, m) for m in msgs]}


@router.get("/messages/{message_id}")
async def show_message(message_id: str, call: ShareCall = Depends(share_call)):
    return {"message": views.message(call, await sync(call.services.messages.get, call.ctx, message_id))}


@router.delete("/messages/{message_id}", status_code=204)
async def delete_message(message_id: str, call: ShareCall = Depends(share_call)):
    await sync(call.services.messages.delete, call.ctx, message_id)
    return Response(status_code=204)
