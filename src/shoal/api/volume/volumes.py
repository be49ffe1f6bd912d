"""/volumes: create, list, show, update, delete, summary, metadata and actions."""

from __future__ import annotations

import ast
import functools

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.answers import as_json
from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read

from . import bodies, image_actions, metadata_items, migration_actions, paging, queries, views
from .call import VolumeCall, volume_call

router = APIRouter()

FILTERS = ("name", "status", "availability_zone", "bootable", "project_id", "attach_status", "name_like")
LIKE = {"name_like": "name~"}  # the services' name of the like filter


def _filters(q: queries.VolumeList) -> dict:
    filters = {LIKE.get(k, k): getattr(q, k) for k in FILTERS if getattr(q, k) not in (None, "")}
    if q.display_name:
        filters["name"] = q.display_name
    if raw := q.metadata:
        try:
            meta = ast.literal_eval(raw)  # cinderclient sends a Python dict literal
        except (ValueError, SyntaxError):
            raise ApiError(400, "Invalid input received: metadata filter must be a dictionary") from None
        if not isinstance(meta, dict):
            raise ApiError(400, "Invalid input received: metadata filter must be a dictionary")
        filters["metadata"] = {str(k): str(v) for k, v in meta.items()}
    return filters


async def _list(call: VolumeCall, detail: bool) -> dict:
    q = read(call, queries.VolumeList)
    limit = paging.page_limit(call, q.limit)
    scope = {"all_tenants": bool(q.all_tenants), "filters": _filters(q)}
    volumes = await sync(functools.partial(call.services.volumes.list, call.ctx, **scope, sort=q.pairs(), limit=limit,
                                           offset=q.offset, marker=q.marker))
    view = views.volume_detail if detail else views.volume_summary
    body = {"volumes": [view(call, v) for v in volumes], **paging.next_links(call, "volumes", volumes, limit)}
    if q.with_count and call.v("3.45"):
        # Cinder's count is of every volume the filters match, whatever the page holds.
        body["count"] = await sync(functools.partial(call.services.volumes.count, call.ctx, **scope))
    return body


@router.get("/volumes", openapi_extra=queries.VOLUME_LIST)
async def list_volumes(call: VolumeCall = Depends(volume_call)):
    return as_json(await _list(call, detail=False))


@router.get("/volumes/detail", openapi_extra=queries.VOLUME_LIST)
async def list_volumes_detail(call: VolumeCall = Depends(volume_call)):
    return as_json(await _list(call, detail=True))


@router.get("/volumes/summary", openapi_extra=queries.SCOPE)
async def volumes_summary(call: VolumeCall = Depends(volume_call)):
    if not call.v("3.12"):
        raise ApiError(404, "The resource could not be found.")
    all_tenants = bool(read(call, queries.Scope).all_tenants)
    return {"volume-summary": await sync(call.services.volumes.summary, call.ctx, all_tenants)}


@router.post("/volumes", status_code=202, openapi_extra=bodies.CREATE_VOLUME)
async def create_volume(call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.VolumeCreate, await call.body("volume"), "volume")
    if b.backup_id or b.consistencygroup_id:
        raise ApiError(400, "Invalid input received: creating volumes from backups or consistency groups "
                            "is not supported by this Shoal yet")
    volume = await sync(
        image_actions.creator(call, b.first("imageRef", "image_id")), call.ctx, size=b.size,
        name=b.first("name", "display_name"), description=b.first("description", "display_description"),
        volume_type=b.volume_type, snapshot_id=b.snapshot_id, source_volid=b.source_volid,
        availability_zone=b.availability_zone, metadata=b.metadata or {}, multiattach=b.multiattach,
        group_id=b.group_id if call.v("3.13") else None,  # generic groups came with 3.13
    )
    return {"volume": views.volume_detail(call, volume, created=True)}


@router.get("/volumes/{volume_id}")
async def show_volume(volume_id: str, call: VolumeCall = Depends(volume_call)):
    return {"volume": views.volume_detail(call, await sync(call.services.volumes.get, call.ctx, volume_id))}


@router.put("/volumes/{volume_id}", openapi_extra=bodies.UPDATE_VOLUME)
async def update_volume(volume_id: str, call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.VolumeUpdate, await call.body("volume"), "volume")
    volume = await sync(call.services.volumes.update, call.ctx, volume_id, b.model_dump(exclude_unset=True))
    return {"volume": views.volume_detail(call, volume, created=True)}  # Cinder's update answer: as a create's


@router.delete("/volumes/{volume_id}", status_code=202, openapi_extra=queries.VOLUME_DELETE)
async def delete_volume(volume_id: str, call: VolumeCall = Depends(volume_call)):
    q = read(call, queries.VolumeDelete)
    await sync(call.services.volumes.delete, call.ctx, volume_id, bool(q.cascade), bool(q.force))
    return Response(status_code=202)


# ---- metadata -------------------------------------------------------------------------

metadata_items.add_metadata_routes(router, "volumes", lambda call: call.services.volumes)


# ---- actions ----------------------------------------------------------------------------

@router.post("/volumes/{volume_id}/action", openapi_extra=bodies.VOLUME_ACTION)
async def volume_action(volume_id: str, call: VolumeCall = Depends(volume_call)):
    body = await call.body()
    if len(body) != 1:
        raise ApiError(400, "Invalid input received: exactly one action is expected")
    (name, raw), = body.items()
    if name in image_actions.ACTIONS:
        return await image_actions.handle(call, volume_id, name, raw)
    model = bodies.VOLUME_ACTIONS.get(name)
    arg = parse(call, model, raw, name) if model is not None else None
    if name in migration_actions.ACTIONS:
        return await migration_actions.handle(call, volume_id, name, arg)
    svc, ctx, att = call.services.volumes, call.ctx, call.services.attachments
    accepted = Response(status_code=202)
    if name == "os-extend":
        await sync(svc.extend, ctx, volume_id, arg.new_size)
    elif name == "os-reset_status":
        await sync(svc.reset_status, ctx, volume_id, arg.status, arg.attach_status)
    elif name == "os-force_delete":
        await sync(svc.delete, ctx, volume_id, False, True)
    elif name == "revert" and call.v("3.40"):
        await sync(svc.revert, ctx, volume_id, arg.snapshot_id)
    elif name == "os-retype":
        await sync(call.services.volume_retype.retype, ctx, volume_id, arg.new_type, arg.migration_policy or "never")
    elif name == "os-unmanage":
        await sync(svc.unmanage, ctx, volume_id)
    elif name == "os-set_bootable":
        await sync(svc.set_flag, ctx, volume_id, "bootable", arg.bootable)
        return Response(status_code=200)
    elif name == "os-update_readonly_flag":
        await sync(svc.set_flag, ctx, volume_id, "readonly", arg.readonly)
    elif name == "os-reserve":
        await sync(att.reserve, ctx, volume_id)
    elif name == "os-unreserve":
        await sync(att.unreserve, ctx, volume_id)
    elif name == "os-initialize_connection":
        info = await sync(att.initialize_connection, ctx, volume_id, arg.connector)
        return {"connection_info": views.connection_payload(info)}
    elif name == "os-attach":
        await sync(att.attach, ctx, volume_id, arg.instance_uuid, arg.host_name, arg.mountpoint, arg.mode or "rw")
    elif name == "os-begin_detaching":
        await sync(att.begin_detaching, ctx, volume_id)
    elif name == "os-roll_detaching":
        await sync(att.roll_detaching, ctx, volume_id)
    elif name == "os-detach":
        await sync(att.detach, ctx, volume_id, arg.attachment_id)
    elif name == "os-terminate_connection":
        await sync(att.terminate_connection, ctx, volume_id, arg.connector)
    elif name == "os-force_detach":
        await sync(att.force_detach, ctx, volume_id, arg.attachment_id, arg.connector)
    else:
        raise ApiError(400, f"Invalid input received: unknown volume action {name!r} at microversion {call.version}")
    return accepted
