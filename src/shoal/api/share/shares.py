"""/shares: create, list, show, update, delete, actions, export locations, metadata, manage."""

from __future__ import annotations

import ast

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.answers import as_json
from shoal.api.openstack.bodies import MetadataSet, parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read
from shoal.services.common.errors import OverQuota

from . import bodies, migration, queries, views
from .call import ShareCall, share_call
from .paging import next_links

router = APIRouter()

LIST_FILTERS = ("name", "status", "share_type_id", "snapshot_id", "availability_zone", "share_proto",
                "name_like", "description_like", "description", "project_id", "share_group_id")
LIKE = {"name_like": "name~", "description_like": "description~"}  # the services' names of the like filters


def _filters(call: ShareCall, q: queries.ShareList) -> dict:
    filters = {LIKE.get(key, key): getattr(q, key) for key in LIST_FILTERS if getattr(q, key) not in (None, "")}
    if not call.v("2.36"):  # the like filters came at 2.36; Manila drops them before
        for key in ("name~", "description~", "description"):
            filters.pop(key, None)
    if call.v("2.35"):
        filters.update({k: getattr(q, k) for k in ("export_location_id", "export_location_path") if getattr(q, k)})
    if call.v("2.69") and q.is_soft_deleted is not None:
        filters["is_soft_deleted"] = q.is_soft_deleted
    if q.size is not None:
        filters["size"] = q.size
    if q.display_name:
        filters["name"] = q.display_name
    if share_type := q.share_type_id or q.share_type:
        filters["share_type_id"] = share_type
    if q.is_public:
        filters["is_public"] = True
    if raw := q.metadata:
        try:
            meta = ast.literal_eval(raw)  # manilaclient sends a Python dict literal
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):  # TypeError: {[]: 1}
            raise ApiError(400, "metadata filter must be a dictionary") from None
        if not isinstance(meta, dict):
            raise ApiError(400, "metadata filter must be a dictionary")
        filters["metadata"] = {str(k): str(v) for k, v in meta.items()}
    return filters


async def _list(call: ShareCall, detail: bool) -> dict:
    q = read(call, queries.ShareList)
    for key in ("host", "share_server_id"):  # Manila's policy: administrators may filter by these
        if getattr(q, key) is not None and not call.ctx.is_admin:
            raise ApiError(403, f"Policy doesn't allow listing shares by {key} to be performed.")
    if q.share_server_id is not None:
        return {"shares": []}  # no backend here has share servers
    await sync(call.services.recycle_bin.purge_expired)
    filters = _filters(call, q)
    if q.host is not None:
        filters["host"] = q.host
    shares = await sync(
        call.services.shares.list, call.ctx, all_tenants=bool(q.all_tenants), filters=filters,
        sort_key=q.sort_key or "created_at", sort_dir=q.sort_dir or "desc",
        limit=q.limit, offset=q.offset, marker=q.marker,
    )
    if detail:
        # which of the page's shares have replicas: one query for the page, not one per share
        ids = [s.id for s in shares] if call.v("2.11") else []
        replicated = await sync(call.services.replicas.has_replicas, ids)
        out: dict = {"shares": [views.share_detail(call, s, replicated) for s in shares]}
    else:
        out = {"shares": [views.share_summary(call, s) for s in shares]}
    if links := next_links(call, "shares", [s.id for s in shares], q.limit):
        out["shares_links"] = links
    if call.v("2.42") and q.with_count:
        out["count"] = await sync(call.services.shares.count, call.ctx, all_tenants=bool(q.all_tenants),
                                  filters=filters)
    return out


@router.get("/shares", openapi_extra=queries.SHARE_LIST)
async def list_shares(call: ShareCall = Depends(share_call)):
    return as_json(await _list(call, detail=False))


@router.get("/shares/detail", openapi_extra=queries.SHARE_LIST)
async def list_shares_detail(call: ShareCall = Depends(share_call)):
    return as_json(await _list(call, detail=True))


@router.post("/shares", openapi_extra=bodies.CREATE_SHARE)
async def create_share(call: ShareCall = Depends(share_call)):
    b = parse(call, bodies.ShareCreate, await call.body("share"), "share")
    if b.share_network_id:
        await sync(call.services.share_networks.refuse_for_share, call.ctx, b.share_network_id)
    share = await sync(
        call.services.shares.create, call.ctx,
        size=b.size, share_proto=b.share_proto, name=b.first("name", "display_name"),
        description=b.first("description", "display_description"),
        share_type=b.share_type or b.volume_type, snapshot_id=b.snapshot_id,
        availability_zone=b.availability_zone, metadata=b.metadata or {},
        is_public=b.is_public or False, type_zones=call.v("2.48"),
        share_group_id=b.share_group_id if call.v("2.31") else None,
    )
    return {"share": views.share_detail(call, share)}  # Manila answers 200 here


@router.post("/shares/manage", openapi_extra=bodies.MANAGE_SHARE)
@router.post("/os-share-manage", openapi_extra=bodies.MANAGE_SHARE)
async def manage_share(call: ShareCall = Depends(share_call)):
    b = parse(call, bodies.ShareManage, await call.body("share"), "share")
    export_path = b.export_path
    if isinstance(export_path, dict):  # an export location as the API shows it: Manila takes its path
        export_path = export_path.get("path")
    share = await sync(
        call.services.shares.manage, call.ctx, export_path=export_path, service_host=b.service_host,
        protocol=b.protocol, share_type=b.share_type, name=b.first("name", "display_name"),
        description=b.first("description", "display_description"), driver_options=b.driver_options or {},
        is_public=b.is_public or False,
    )
    return {"share": views.share_detail(call, share)}


@router.get("/shares/")
@router.delete("/shares/")
async def show_share_without_id(call: ShareCall = Depends(share_call)):
    raise ApiError(404, "The resource could not be found.")  # Manila's answer, not a redirect to the list


@router.get("/shares/{share_id}")
async def show_share(share_id: str, call: ShareCall = Depends(share_call)):
    return {"share": views.share_detail(call, await sync(call.services.shares.get, call.ctx, share_id))}


@router.put("/shares/{share_id}", openapi_extra=bodies.UPDATE_SHARE)
async def update_share(share_id: str, call: ShareCall = Depends(share_call)):
    b = parse(call, bodies.ShareUpdate, await call.body("share"), "share")
    share = await sync(call.services.shares.update, call.ctx, share_id, b.model_dump(exclude_unset=True))
    return {"share": views.share_detail(call, share)}


@router.delete("/shares/{share_id}", status_code=202)
async def delete_share(share_id: str, call: ShareCall = Depends(share_call)):
    share = await sync(call.services.shares.get, call.ctx, share_id)
    if share.share_group_id:  # Manila asks for the group too, so that nobody empties a group by mistake
        if not call.query("share_group_id"):
            raise ApiError(400, "Must provide 'share_group_id' as a request parameter when deleting a share in a "
                                "share group.")
        if call.query("share_group_id") != share.share_group_id:
            raise ApiError(400, "The specified 'share_group_id' does not match the share group id of the share.")
    await sync(call.services.shares.delete, call.ctx, share_id)
    return Response(status_code=202)


@router.get("/shares/{share_id}/export_locations")
async def list_export_locations(share_id: str, call: ShareCall = Depends(share_call)):
    share = await sync(call.services.share_export_locations.share, call.ctx, share_id)  # Manila: 403 for others
    return {"export_locations": [views.export_location(call, share, e, detail=False)
                                 for e in views.visible_locations(call, share)]}


@router.get("/shares/{share_id}/export_locations/{location_id}")
async def show_export_location(share_id: str, location_id: str, call: ShareCall = Depends(share_call)):
    share = await sync(call.services.share_export_locations.share, call.ctx, share_id)
    for loc in views.visible_locations(call, share):
        if loc.id == location_id:
            return {"export_location": views.export_location(call, share, loc)}
    raise ApiError(404, f"Export location {location_id} could not be found.")


# ---- actions -------------------------------------------------------------------

# The actions that came with a microversion (share migration graduated at 2.22: see
# migration.py).
ACTION_SINCE = {"soft_delete": "2.69", "restore": "2.69", "revert": "2.27", "unmanage": "2.7",
                **dict.fromkeys(("migration_start", "migration_complete", "migration_cancel",
                                 "migration_get_progress", "reset_task_state", "migrate_share"), "2.22")}
# What a share in the recycle bin refuses (403), as Manila words it.
REFUSED_IN_RECYCLE_BIN = {
    "extend": "Cannot extend", "shrink": "Cannot shrink", "allow_access": "Cannot allow access",
    "deny_access": "Cannot deny access", "revert": "Cannot revert", "reset_status": "status cannot be reset",
    "reset_task_state": "task state cannot be reset", "unmanage": "Cannot unmanage",
}


def _action_name(body: dict) -> tuple[str, object]:
    if len(body) != 1:
        raise ApiError(400, "exactly one action is expected in the request body")
    (name, arg), = body.items()
    return name.removeprefix("os-"), arg


@router.post("/shares/{share_id}/action", openapi_extra=bodies.SHARE_ACTION)
async def share_action(share_id: str, call: ShareCall = Depends(share_call)):
    name, raw_arg = _action_name(await call.body())
    svc, ctx = call.services, call.ctx
    if name in ACTION_SINCE and not call.v(ACTION_SINCE[name]):
        # a known action below its microversion: Manila finds no method (404); an unknown one is a 400
        raise ApiError(404, f"The resource could not be found: no action {name!r} at microversion {call.version}")
    if name == "reset_task_state" and not ctx.is_admin:  # policy first: a member learns nothing about the id
        raise ApiError(403, "Policy doesn't allow share:reset_task_state to be performed.")
    model = bodies.SHARE_ACTIONS.get(name)
    arg = parse(call, model, raw_arg, name) if model is not None else None
    if name in REFUSED_IN_RECYCLE_BIN:
        await sync(svc.recycle_bin.refuse_if_soft_deleted, ctx, share_id, REFUSED_IN_RECYCLE_BIN[name])
    if name == "soft_delete":
        await sync(svc.recycle_bin.soft_delete, ctx, share_id)
        return Response(status_code=202)
    if name == "restore":
        restored = await sync(svc.recycle_bin.restore, ctx, share_id)
        return Response(status_code=202 if restored else 200)
    if name == "extend" and arg.force and call.v("2.64") and not ctx.is_admin:
        raise ApiError(403, "Policy doesn't allow share:force_extend to be performed.")
    if name == "extend":
        try:
            await sync(svc.shares.extend, ctx, share_id, arg.new_size)
        except OverQuota as exc:  # Manila answers an extend over quota with 403, a create with 413
            raise ApiError(403, str(exc)) from None
        return Response(status_code=202)
    if name == "shrink":
        await sync(svc.shares.shrink, ctx, share_id, arg.new_size)
        return Response(status_code=202)
    if name == "allow_access":
        if arg.access_type == "ip" and not call.v("2.38") and ":" in arg.access_to:
            raise ApiError(400, "Invalid input received: IPv6 access rules are accepted from microversion 2.38")
        locks = (arg.lock_visibility, arg.lock_deletion, arg.lock_reason) if call.v("2.82") else (None, None, None)
        await sync(svc.resource_locks.check_lock_args, *locks)
        rule = await sync(svc.access.allow, ctx, share_id, arg.access_type, arg.access_to,
                          arg.access_level, arg.metadata or {})
        if any(locks[:2]):
            await sync(svc.resource_locks.lock_rule, ctx, rule, *locks)
        view = views.access_rule(call, rule)
        if view["state"] == "applying":  # the rule as Manila's API answers it: just queued
            view["state"] = "queued_to_apply"
        return {"access": view}
    if name == "deny_access":
        await sync(svc.resource_locks.before_deny, ctx, share_id, arg.access_id, arg.unrestrict)
        await sync(svc.access.deny, ctx, share_id, arg.access_id)
        await sync(svc.resource_locks.forget_rule, arg.access_id)
        return Response(status_code=202)
    if name == "access_list":
        rules = await sync(svc.access.list, ctx, share_id)
        hidden = await sync(svc.resource_locks.restricted, ctx, [r.id for r in rules])
        return {"access_list": [views.access_rule(call, r, with_share=False, hidden=r.id in hidden) for r in rules]}
    if name == "revert":
        await sync(svc.shares.revert, ctx, share_id, arg.snapshot_id)
        return Response(status_code=202)
    if name == "reset_status":
        await sync(svc.shares.reset_status, ctx, share_id, arg.status)
        return Response(status_code=202)
    if name == "reset_task_state":
        # `openstack share set` sends this on every call (task_state null)
        await sync(svc.shares.reset_task_state, ctx, share_id, arg.first("task_state", "os_task_state"))
        return Response(status_code=202)
    if name == "force_delete":
        await sync(svc.shares.delete, ctx, share_id, True)
        return Response(status_code=202)
    if name == "unmanage":
        await sync(svc.shares.unmanage, ctx, share_id)
        return Response(status_code=202)
    if name in migration.ACTIONS:
        return await migration.migration_action(call, share_id, name, raw_arg)
    raise ApiError(400, f"Invalid request: unknown share action {name!r} at microversion {call.version}")


@router.post("/os-share-unmanage/{share_id}/unmanage", status_code=202)
async def legacy_unmanage(share_id: str, call: ShareCall = Depends(share_call)):
    await sync(call.services.shares.unmanage, call.ctx, share_id)
    return Response(status_code=202)


# ---- metadata --------------------------------------------------------------------

@router.get("/shares/{share_id}/metadata")
async def get_metadata(share_id: str, call: ShareCall = Depends(share_call)):
    return {"metadata": await sync(call.services.shares.metadata, call.ctx, share_id)}


@router.put("/shares/{share_id}/metadata", openapi_extra=bodies.METADATA)
async def replace_metadata(share_id: str, call: ShareCall = Depends(share_call)):
    metadata = parse(call, MetadataSet, await call.body()).metadata
    return {"metadata": await sync(call.services.shares.set_metadata, call.ctx, share_id, metadata, True)}


@router.post("/shares/{share_id}/metadata", openapi_extra=bodies.METADATA)
async def update_metadata(share_id: str, call: ShareCall = Depends(share_call)):
    metadata = parse(call, MetadataSet, await call.body()).metadata
    return {"metadata": await sync(call.services.shares.set_metadata, call.ctx, share_id, metadata, False)}


@router.get("/shares/{share_id}/metadata/{key}")
async def get_metadata_item(share_id: str, key: str, call: ShareCall = Depends(share_call)):
    meta = await sync(call.services.shares.metadata, call.ctx, share_id)
    if key not in meta:
        raise ApiError(404, f"Metadata item {key} was not found.")
    return {"meta": {key: meta[key]}}


@router.delete("/shares/{share_id}/metadata/{key}", status_code=200)
async def delete_metadata_item(share_id: str, key: str, call: ShareCall = Depends(share_call)):
    await sync(call.services.shares.delete_metadata, call.ctx, share_id, key)
    return Response(status_code=200)
