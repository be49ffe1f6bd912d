"""/share-group-types (Manila 2.31+): create, list, show, default, delete, the
group specs, and the access lists of private group types."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.db.share_group_types import ShareGroupType

from . import group_bodies
from .call import ShareCall, share_call
from .share_groups import since_groups

router = APIRouter()


def view(call: ShareCall, row: ShareGroupType) -> dict:
    out = {"id": row.id, "name": row.name, "is_public": row.is_public, "group_specs": dict(row.group_specs or {}),
           "share_types": list(row.share_type_ids or [])}
    if call.v("2.46"):
        out["is_default"] = False  # Manila's default_share_group_type is unset here
    return out


@router.get("/share-group-types")
async def list_group_types(call: ShareCall = Depends(share_call)):
    since_groups(call)
    rows = await sync(call.services.share_group_types.list, call.ctx, call.query("is_public"))
    return {"share_group_types": [view(call, r) for r in rows]}


@router.get("/share-group-types/default")
async def default_group_type(call: ShareCall = Depends(share_call)):
    since_groups(call)
    raise ApiError(404, "Default share group type not found.")


@router.get("/share-group-types/{type_id}")
async def show_group_type(type_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    return {"share_group_type": view(call, await sync(call.services.share_group_types.get, call.ctx, type_id))}


@router.post("/share-group-types", openapi_extra=group_bodies.CREATE_GROUP_TYPE)
async def create_group_type(call: ShareCall = Depends(share_call)):
    since_groups(call)
    b = parse(call, group_bodies.GroupTypeCreate, await call.body("share_group_type"), "share_group_type")
    row = await sync(call.services.share_group_types.create, call.ctx, b.name, b.share_types, b.group_specs,
                     b.is_public)
    return {"share_group_type": view(call, row)}


@router.delete("/share-group-types/{type_id}", status_code=204)
async def delete_group_type(type_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    await sync(call.services.share_group_types.delete, call.ctx, type_id)
    return Response(status_code=204)


@router.get("/share-group-types/{type_id}/group-specs")
async def list_group_specs(type_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    return {"group_specs": await sync(call.services.share_group_types.specs, call.ctx, type_id)}


@router.post("/share-group-types/{type_id}/group-specs", openapi_extra=group_bodies.SET_GROUP_SPECS)
async def set_group_specs(type_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    specs = parse(call, group_bodies.GroupSpecsSet, await call.body()).group_specs
    await sync(call.services.share_group_types.set_specs, call.ctx, type_id, specs)
    return {"group_specs": specs}  # Manila echoes what was set


@router.get("/share-group-types/{type_id}/group-specs/{key}")
async def show_group_spec(type_id: str, key: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    specs = await sync(call.services.share_group_types.specs, call.ctx, type_id)
    if key not in specs:
        raise ApiError(404, f"Share group type {type_id} has no group spec {key}.")
    return {key: specs[key]}


@router.put("/share-group-types/{type_id}/group-specs/{key}", openapi_extra=group_bodies.PUT_GROUP_SPEC)
async def update_group_spec(type_id: str, key: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    body = await call.body()
    if key not in body:
        raise ApiError(400, "Request body and URI mismatch")
    if len(body) > 1:
        raise ApiError(400, "Request body contains too many items")
    spec = parse(call, group_bodies.GroupSpecItem, body).model_dump()
    await sync(call.services.share_group_types.set_specs, call.ctx, type_id, spec)
    return spec


@router.delete("/share-group-types/{type_id}/group-specs/{key}", status_code=204)
async def unset_group_spec(type_id: str, key: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    await sync(call.services.share_group_types.unset_spec, call.ctx, type_id, key)
    return Response(status_code=204)


@router.get("/share-group-types/{type_id}/access")
async def list_group_type_access(type_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    tid, projects = await sync(call.services.share_group_types.projects, call.ctx, type_id)
    return {"share_group_type_access": [{"share_group_type_id": tid, "project_id": p} for p in projects]}


@router.post("/share-group-types/{type_id}/action", status_code=202, openapi_extra=group_bodies.GROUP_TYPE_ACTION)
async def group_type_action(type_id: str, call: ShareCall = Depends(share_call)):
    since_groups(call)
    body = await call.body()
    if len(body) != 1 or next(iter(body)) not in ("addProjectAccess", "removeProjectAccess"):
        raise ApiError(400, "Invalid request: the action must be addProjectAccess or removeProjectAccess")
    (name, arg), = body.items()
    if not isinstance(arg, dict) or "project" not in arg:
        raise ApiError(400, f"Invalid request: {name} needs a project")
    project = parse(call, group_bodies.ProjectAccess, arg, name).project
    await sync(call.services.share_group_types.change_access, call.ctx, type_id, project,
               name == "addProjectAccess")
    return Response(status_code=202)
