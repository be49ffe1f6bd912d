"""/share_instances (2.3+) and /snapshot-instances (2.19+): the administrators'
views of the copies behind shares and snapshots, with Manila's reset_status and
force_delete actions and the instances' export locations (2.9+)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import Status, parse
from shoal.api.openstack.errors import ApiError
from shoal.services.share.instances import InstanceLocation, ShareInstance, SnapshotInstance
from shoal.api.openstack.queries import read

from . import admin_bodies, queries
from .call import ShareCall, share_call
from .shares import _action_name
from .views import ts

router = APIRouter()


def _since(call: ShareCall, version: str) -> None:
    if not call.v(version):
        raise ApiError(404, "The resource could not be found.")


def instance_view(call: ShareCall, inst: ShareInstance) -> dict:
    status = inst.status
    if status == "creating_from_snapshot" and not call.v("2.54"):
        status = "creating"
    view = {
        "id": inst.id, "share_id": inst.share_id, "availability_zone": inst.availability_zone,
        "created_at": ts(inst.created_at), "host": inst.host, "status": status,
        "share_network_id": None, "share_server_id": None,
    }
    if not call.v("2.9"):
        paths = [e.path for e in inst.export_locations]
        view["export_location"] = paths[0] if paths else None
        view["export_locations"] = paths
    if call.v("2.10"):
        view["access_rules_status"] = inst.access_rules_status
    if call.v("2.11"):
        view["replica_state"] = inst.replica_state
    if call.v("2.22"):
        view["share_type_id"] = inst.share_type_id
    if call.v("2.30"):
        view["cast_rules_to_readonly"] = inst.cast_rules_to_readonly
    if call.v("2.54"):
        view["progress"] = inst.progress
    if call.v("2.71"):
        view["updated_at"] = ts(inst.updated_at)
    return view


def location_view(call: ShareCall, inst: ShareInstance, loc: InstanceLocation, detail: bool) -> dict:
    """Listed as Manila's summary, shown as its detail (with the times)."""
    view = {"id": loc.id, "path": loc.path}
    if call.v("2.14"):
        view["preferred"] = loc.preferred
    if call.v("2.87"):
        view["metadata"] = {}
    view.update({"share_instance_id": inst.id, "is_admin_only": loc.is_admin_only})
    if detail:
        view.update({"created_at": ts(loc.created_at), "updated_at": ts(loc.updated_at or loc.created_at)})
    return view


def _instances(call: ShareCall, found: list[ShareInstance]) -> dict:
    return {"share_instances": [instance_view(call, i) for i in found]}


@router.get("/share_instances", openapi_extra=queries.INSTANCE_LIST)
async def list_share_instances(call: ShareCall = Depends(share_call)):
    _since(call, "2.3")
    q = read(call, queries.InstanceList)
    filters = {}
    if call.v("2.35"):
        filters = {k: getattr(q, k) for k in ("export_location_id", "export_location_path") if getattr(q, k)}
    soft_deleted = bool(q.is_soft_deleted) if call.v("2.69") else False
    return _instances(call, await sync(call.services.share_instances.list, call.ctx, **filters,
                                       soft_deleted=soft_deleted))


@router.get("/shares/{share_id}/instances")
async def list_instances_of_share(share_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.3")
    return _instances(call, await sync(call.services.share_instances.of_share, call.ctx, share_id))


@router.get("/share_instances/{instance_id}")
async def show_share_instance(instance_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.3")
    inst = await sync(call.services.share_instances.get, call.ctx, instance_id)
    return {"share_instance": instance_view(call, inst)}


@router.post("/share_instances/{instance_id}/action", status_code=202, openapi_extra=admin_bodies.INSTANCE_ACTION)
async def share_instance_action(instance_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.3")
    body = await call.body()
    legacy = not call.v("2.7")  # os-reset_status / os-force_delete below 2.7, the bare names from it
    name = next(iter(body), "") if len(body) == 1 else ""
    if name.startswith("os-") != legacy:
        raise ApiError(404 if name.removeprefix("os-") in ("reset_status", "force_delete") else 400,
                       f"Invalid request: unknown share instance action {name!r} at microversion {call.version}")
    name, arg = _action_name(body)
    svc = call.services.share_instances
    svc.check_admin(call.ctx)  # policy first: a member learns nothing from a bad argument either
    if name == "reset_status":
        await sync(svc.reset_status, call.ctx, instance_id, parse(call, Status, arg, name).status)
    elif name == "force_delete":
        await sync(svc.force_delete, call.ctx, instance_id)
    else:
        raise ApiError(400, f"Invalid request: unknown share instance action {name!r}")
    return Response(status_code=202)


@router.get("/share_instances/{instance_id}/export_locations")
async def list_instance_locations(instance_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.9")
    inst = await sync(call.services.share_instances.get, call.ctx, instance_id)
    return {"export_locations": [location_view(call, inst, e, detail=False) for e in inst.export_locations]}


@router.get("/share_instances/{instance_id}/export_locations/{location_id}")
async def show_instance_location(instance_id: str, location_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.9")
    inst = await sync(call.services.share_instances.get, call.ctx, instance_id)
    for loc in inst.export_locations:
        if loc.id == location_id:
            return {"export_location": location_view(call, inst, loc, detail=True)}
    raise ApiError(404, f"Export location {location_id} could not be found.")


# ---- snapshot instances (2.19+) -----------------------------------------------------------

def snapshot_instance_view(call: ShareCall, inst: SnapshotInstance, detail: bool) -> dict:
    view = {"id": inst.id, "snapshot_id": inst.snapshot_id, "status": inst.status}
    if detail:
        view.update({"created_at": ts(inst.created_at), "updated_at": ts(inst.updated_at),
                     "share_id": inst.share_id, "share_instance_id": inst.share_instance_id,
                     "progress": inst.progress, "provider_location": inst.provider_location})
    return view


async def _snapshot_instances(call: ShareCall, detail: bool) -> dict:
    _since(call, "2.19")
    found = await sync(call.services.share_instances.snapshot_instances, call.ctx, call.query("snapshot_id"))
    return {"snapshot_instances": [snapshot_instance_view(call, i, detail) for i in found]}


@router.get("/snapshot-instances")
async def list_snapshot_instances(call: ShareCall = Depends(share_call)):
    return await _snapshot_instances(call, detail=False)


@router.get("/snapshot-instances/detail")
async def list_snapshot_instances_detail(call: ShareCall = Depends(share_call)):
    return await _snapshot_instances(call, detail=True)


@router.get("/snapshot-instances/{instance_id}")
async def show_snapshot_instance(instance_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.19")
    inst = await sync(call.services.share_instances.snapshot_instance, call.ctx, instance_id)
    return {"snapshot_instance": snapshot_instance_view(call, inst, detail=True)}


@router.post("/snapshot-instances/{instance_id}/action", status_code=202,
             openapi_extra=admin_bodies.SNAPSHOT_INSTANCE_ACTION)
async def snapshot_instance_action(instance_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.19")
    name, arg = _action_name(await call.body())
    if name != "reset_status":
        raise ApiError(400, f"Invalid request: unknown snapshot instance action {name!r}")
    call.services.share_instances.check_admin(call.ctx)  # policy first
    status = parse(call, Status, arg, name).status
    await sync(call.services.share_instances.reset_snapshot_instance_status, call.ctx, instance_id, status)
    return Response(status_code=202)


@router.get("/snapshot-instances/{instance_id}/export-locations")
async def snapshot_instance_locations(instance_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.32")  # snapshots are not mountable here: none
    await sync(call.services.share_instances.snapshot_instance, call.ctx, instance_id)
    return {"share_snapshot_export_locations": []}
