"""Manage and manageable listings, pools, zones, messages (limits and quotas: quotas.py; services: services.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read

from . import bodies, queries, views
from .call import VolumeCall, volume_call

router = APIRouter()


def _admin(call: VolumeCall) -> None:
    if not call.ctx.is_admin:
        raise ApiError(403, "Policy doesn't allow this operation to be performed.")


# ---- manage ----------------------------------------------------------------------------

@router.post("/os-volume-manage", status_code=202, openapi_extra=bodies.MANAGE_VOLUME)
@router.post("/manageable_volumes", status_code=202, openapi_extra=bodies.MANAGE_VOLUME)
async def manage_volume(call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.VolumeManage, await call.body("volume"), "volume")
    volume = await sync(call.services.volumes.manage, call.ctx, host=b.host or b.service_host, ref=b.ref,
                        name=b.first("name", "display_name"), description=b.first("description", "display_description"),
                        volume_type=b.volume_type, availability_zone=b.availability_zone, metadata=b.metadata or {},
                        bootable=bool(b.bootable))
    return {"volume": views.volume_detail(call, volume)}


@router.post("/os-snapshot-manage", status_code=202, openapi_extra=bodies.MANAGE_SNAPSHOT)
@router.post("/manageable_snapshots", status_code=202, openapi_extra=bodies.MANAGE_SNAPSHOT)
async def manage_snapshot(call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.SnapshotManage, await call.body("snapshot"), "snapshot")
    snap = await sync(call.services.volume_snapshots.manage, call.ctx, volume_id=b.volume_id, ref=b.ref,
                      name=b.first("name", "display_name"), description=b.first("description", "display_description"),
                      metadata=b.metadata or {})
    return {"snapshot": views.snapshot_detail(call, snap, extended=False)}


SORTS = {"size": lambda pair: pair[1].size_gb, "reference": lambda pair: pair[1].reference}


async def _manageable(call: VolumeCall, snapshots: bool, detail: bool) -> dict:
    if call.request.url.path.split("/")[-1 - detail].startswith("manageable_") and not call.v("3.8"):
        raise ApiError(404, "The resource could not be found.")  # /manageable_* came with 3.8
    q = read(call, queries.ManageableList)
    items = await sync(call.services.volumes.manageable, call.ctx, q.host, snapshots)
    (sort_key, sort_dir), *_ = q.pairs("reference", "asc")
    if sort_key not in SORTS:
        raise ApiError(400, f"Invalid sort keys passed: {sort_key}")  # Cinder's resource_common_manage
    items.sort(key=SORTS[sort_key], reverse=sort_dir == "desc")
    if marker := q.marker:
        refs = [item.reference for _, item in items]
        if marker not in refs:
            raise ApiError(400, f"Invalid input received: marker {marker} not found")
        items = items[refs.index(marker) + 1:]
    offset, limit = q.offset or 0, q.limit
    items = items[offset:] if limit is None else items[offset:offset + limit]
    key = "manageable-snapshots" if snapshots else "manageable-volumes"
    return {key: [views.manageable(call, backend, item, detail, snapshots) for backend, item in items]}


@router.get("/manageable_volumes", openapi_extra=queries.MANAGEABLE_LIST)
@router.get("/os-volume-manage", openapi_extra=queries.MANAGEABLE_LIST)
async def manageable_volumes(call: VolumeCall = Depends(volume_call)):
    return await _manageable(call, snapshots=False, detail=False)


@router.get("/manageable_volumes/detail", openapi_extra=queries.MANAGEABLE_LIST)
@router.get("/os-volume-manage/detail", openapi_extra=queries.MANAGEABLE_LIST)
async def manageable_volumes_detail(call: VolumeCall = Depends(volume_call)):
    return await _manageable(call, snapshots=False, detail=True)


@router.get("/manageable_snapshots", openapi_extra=queries.MANAGEABLE_LIST)
@router.get("/os-snapshot-manage", openapi_extra=queries.MANAGEABLE_LIST)
async def manageable_snapshots(call: VolumeCall = Depends(volume_call)):
    return await _manageable(call, snapshots=True, detail=False)


@router.get("/manageable_snapshots/detail", openapi_extra=queries.MANAGEABLE_LIST)
@router.get("/os-snapshot-manage/detail", openapi_extra=queries.MANAGEABLE_LIST)
async def manageable_snapshots_detail(call: VolumeCall = Depends(volume_call)):
    return await _manageable(call, snapshots=True, detail=True)


# ---- pools, services, zones --------------------------------------------------------------

@router.get("/scheduler-stats/get_pools", openapi_extra=queries.POOL_LIST)
async def get_pools(call: VolumeCall = Depends(volume_call)):
    _admin(call)
    detail = bool(read(call, queries.PoolList).detail)
    out = []
    for backend, driver, pools in await sync(call.services.pools, True):
        for pool in pools:
            view = {"name": f"shoal@{backend}#{pool.name}"}
            if detail:
                view["capabilities"] = {
                    "pool_name": pool.name, "total_capacity_gb": pool.total_gb, "free_capacity_gb": pool.free_gb,
                    "allocated_capacity_gb": pool.allocated_gb, "volume_backend_name": backend,
                    "storage_protocol": driver.storage_protocol, "vendor_name": "Shoal", "driver_version": "1.0",
                    "timestamp": None, **pool.capabilities,
                }
            out.append(view)
    return {"pools": out}


@router.get("/os-availability-zone")
async def list_zones(call: VolumeCall = Depends(volume_call)):
    zones = sorted({d.availability_zone for d in call.services.core.volume_drivers.values()})
    return {"availabilityZoneInfo": [{"zoneName": z, "zoneState": {"available": True}} for z in zones]}


# ---- messages (3.3+) ---------------------------------------------------------------------------

@router.get("/messages", openapi_extra=queries.MESSAGE_LIST)
async def list_messages(call: VolumeCall = Depends(volume_call)):
    q = read(call, queries.MessageList)
    msgs = await sync(call.services.messages.list, call.ctx, q.resource_uuid, q.limit)
    return {"messages": [views.message(call, m) for m in msgs if m.resource_type != "SHARE"]}


@router.get("/messages/{message_id}")
async def show_message(message_id: str, call: VolumeCall = Depends(volume_call)):
    return {"message": views.message(call, await sync(call.services.messages.get, call.ctx, message_id))}


@router.delete("/messages/{message_id}", status_code=204)
async def delete_message(message_id: str, call: VolumeCall = Depends(volume_call)):
    await sync(call.services.messages.delete, call.ctx, message_id)
    return Response(status_code=204)
