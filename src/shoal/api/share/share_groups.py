"""/share-groups (Manila 2.31+): create, list, show, update, delete, and the admin
actions reset_status and force_delete. Field checks as Manila's controller does them
(unknown fields, ids that are not UUIDs, a default share type or group type to fall
back on); the rules of the group in services/share/groups.py."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import Status, parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read
from shoal.db.share_groups import ShareGroup
from shoal.services.share.groups import FILTERS, group_host

from . import group_bodies, queries
from .call import ShareCall, share_call
from .migration import EXPERIMENTAL_HEADER, experimental
from .paging import next_links
from .views import ts

router = APIRouter()

def since_groups(call: ShareCall) -> None:
    """Share groups, their types and snapshots: from 2.31, experimental until 2.55 (Manila
    serves them below 2.55 only to a call that says `X-OpenStack-Manila-API-Experimental: true`)."""
    if not call.v("2.31"):
        raise ApiError(404, "The resource could not be found.")
    if not call.v("2.55") and not experimental(call):
        raise ApiError(404, f"The resource could not be found: share groups are an experimental API below "
                            f"2.55 (send {EXPERIMENTAL_HEADER}: true)")


def summary(call: ShareCall, group: ShareGroup) -> dict:
    return {"id": group.id, "name": group.name, "links": call.link("share-groups", group.id)}


def detail(call: ShareCall, group: ShareGroup) -> dict:
    view = {
        "id": group.id, "name": group.name, "created_at": ts(group.created_at), "status": group.status,
        "description": group.description, "project_id": group.project_id, "host": group_host(group),
        "share_group_type_id": group.share_group_type_id,
        "source_share_group_snapshot_id": group.source_share_group_snapshot_id,
        "share_network_id": None, "share_types": list(group.share_type_ids or []),
        "links": call.link("share-groups", group.id),
    }
    if call.v("2.34"):
        view["availability_zone"] = group.availability_zone
        view["consistent_snapshot_support"] = None  # no backend here takes consistent group snapshots
    if call.ctx.is_admin:
        view["share_server_id"] = None
    return view


async def _list(call: ShareCall, is_detail: bool) -> dict:
    since_groups(call)
    q = read(call, queries.GroupList)
    filters = {k: call.query(k) for k in FILTERS if call.query(k) not in (None, "")}
    if q.group_type_id:
        filters["share_group_type_id"] = q.group_type_id
    rows = await sync(call.services.share_groups.list, call.ctx, all_tenants=bool(q.all_tenants),
                      filters=filters, sort_key=q.sort_key or "created_at", sort_dir=q.sort_dir or "desc")
    offset, limit = q.offset or 0, q.limit
    rows = rows[offset:offset + limit if limit is not None else None]
    view = detail if is_detail else summary
    out: dict = {"share_groups": [view(call, g) for g in rows]}
    if links := next_links(call, "share_groups", [g.id for g in rows], limit):
        out["share_groups_links"] = links
    return out


@router.get("/share-groups", openapi_extra=queries.GROUP_LIST)
async def list_groups(call: ShareCall = Depends(share_call)):
    return await _list(call, is_detail=False)


@router.get("/share-groups/detail", openapi_extra=queries.GROUP_LIST)
async def list_groups_detail(call: ShareCall = Depends(share_call)):
    return await _list(call, is_detail=True)


@router.get("/share-groups/")
@router.delete("/share-groups/")
@router.get("/share-group-snapshots/")
@router.delete("/share-group-snapshots/")
async def no_group_id(call: ShareCall = Depends(share_call)):
    raise ApiError(404, "The resource could not be found.")  # Manila's answer, not the list


@router.get("/share-groups/{group_id}")
async def show_group(group_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    return {"share_group": detail(call, await sync(call.services.share_groups.get, call.ctx, group_id))}


async def group_body(call: ShareCall, key: str, model: type[group_bodies.GroupBody]):
    """`{key: {...}}` as `model` declares it, with Manila's words for a missing object and other fields."""
    body = await call.body()
    fields = body.get(key)
    if not isinstance(fields, dict):
        raise ApiError(400, f"'{key}' is missing from the request body.")
    if invalid := set(fields) - set(model.model_fields):
        raise ApiError(400, model.UNDECLARED.format(invalid))
    return parse(call, model, fields, key)


@router.post("/share-groups", status_code=202, openapi_extra=group_bodies.CREATE_GROUP)
async def create_group(call: ShareCall = Depends(share_call)):
    since_groups(call)
    b = await group_body(call, "share_group", group_bodies.ShareGroupCreate)
    given = b.model_fields_set
    if "share_types" in given and "source_share_group_snapshot_id" in given:
        raise ApiError(400, "Cannot supply both 'share_types' and 'source_share_group_snapshot_id' attributes.")
    source, share_types, zone = b.source_share_group_snapshot_id, b.share_types, b.availability_zone
    if not share_types and "source_share_group_snapshot_id" not in given:
        default = await sync(call.services.share_types.get, call.ctx, "default")
        share_types = [default.id]
    if "share_network_id" in given and "source_share_group_snapshot_id" in given:
        raise ApiError(400, "Cannot supply both 'share_network_id' and 'source_share_group_snapshot_id' attributes "
                            "as the share network is inherited from the source.")
    if zone and "source_share_group_snapshot_id" in given:
        raise ApiError(400, "Cannot supply both 'availability_zone' and 'source_share_group_snapshot_id' attributes "
                            "as the availability zone is inherited from the source.")
    if zone and zone not in {d.availability_zone for d in call.services.core.drivers.values()}:
        raise ApiError(404, f"Availability zone {zone} could not be found.")
    if b.share_group_type_id is None:
        raise ApiError(400, "Must specify a share group type as a default share group type has not been configured.")
    made = await sync(call.services.share_groups.create, call.ctx, share_group_type_id=b.share_group_type_id,
                      share_type_ids=share_types, name=b.name, description=b.description,
                      availability_zone=zone or None, share_network_id=b.share_network_id,
                      source_share_group_snapshot_id=source)
    return {"share_group": detail(call, made)}


@router.put("/share-groups/{group_id}", openapi_extra=group_bodies.UPDATE_GROUP)
async def update_group(group_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    fields = await renaming(call, "share_group")
    return {"share_group": detail(call, await sync(call.services.share_groups.update, call.ctx, group_id, fields))}


async def renaming(call: ShareCall, key: str) -> dict:
    """The body of an update of a group or group snapshot: a name and a description only."""
    return (await group_body(call, key, group_bodies.GroupRename)).model_dump(exclude_unset=True)


@router.delete("/share-groups/{group_id}", status_code=202)
async def delete_group(group_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    await sync(call.services.share_groups.delete, call.ctx, group_id)
    return Response(status_code=202)


@router.post("/share-groups/{group_id}/action", status_code=202, openapi_extra=group_bodies.GROUP_ACTION)
async def group_action(group_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    return await admin_action(call, call.services.share_groups, group_id)


async def admin_action(call: ShareCall, service, item_id: str) -> Response:
    """reset_status or force_delete of a group or group snapshot (the service says who may)."""
    body = await call.body()
    if not isinstance(body, dict) or len(body) != 1:
        raise ApiError(400, "Invalid request body")
    (name, arg), = body.items()
    if name == "reset_status":
        await sync(service.reset_status, call.ctx, item_id, parse(call, Status, arg, name).status)
    elif name == "force_delete":
        await sync(service.force_delete, call.ctx, item_id)
    else:
        raise ApiError(400, f"Invalid request action {name}")
    return Response(status_code=202)
