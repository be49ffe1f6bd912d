"""/types: share types, their extra specs, and the project access lists of private
types. Manila answers with both `share_type` and `volume_type` keys, and older
clients read the second."""

from __future__ import annotations

import ast

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.services.share import type_search

from . import bodies, views
from .call import ShareCall, share_call

router = APIRouter()


def _one(call: ShareCall, stype) -> dict:
    view = views.share_type(call, stype)
    return {"share_type": view, "volume_type": view}


@router.get("/types")
@router.get("/types/detail")
async def list_types(call: ShareCall = Depends(share_call)):
    rows = await sync(call.services.share_types.list, call.ctx, call.query("is_public"))
    if wanted := call.query("extra_specs"):
        if not call.v("2.43"):
            raise ApiError(400, "Filter by 'extra_specs' is not supported by this microversion. Use 2.43 or "
                                "greater microversion to be able to use filter search by 'extra_specs.")
        try:
            wanted = ast.literal_eval(wanted)  # manilaclient and Tempest send a Python dict literal
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise ApiError(400, "extra_specs filter must be a dictionary") from None
        rows = type_search.matching(rows, wanted)
    listed = [views.share_type(call, t) for t in rows]
    return {"share_types": listed, "volume_types": listed}


@router.get("/types/{type_id}")
async def show_type(type_id: str, call: ShareCall = Depends(share_call)):
    return _one(call, await sync(call.services.share_types.get, call.ctx, type_id))


@router.post("/types", openapi_extra=bodies.CREATE_TYPE)
async def create_type(call: ShareCall = Depends(share_call)):
    b = parse(call, bodies.TypeCreate, await call.body("share_type", "volume_type"), "share_type")
    is_public = b.first("access_is_public", "old_access_is_public")
    if b.description and not call.v("2.41"):
        raise ApiError(400, "'description' key is not supported by this microversion. Use 2.41 or greater "
                            "microversion to be able to use 'description' in share type.")
    specs = b.extra_specs
    if specs is not None:
        # Manila stores the specs of a new type as text: a number given is kept as its digits
        specs = {k: str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                 for k, v in specs.items()}
        if not call.v("2.24") and "snapshot_support" not in specs:
            specs["snapshot_support"] = True  # implied before 2.24, as Manila sets it
        specs = sanitized_zones(specs)
    stype = await sync(call.services.share_types.create, call.ctx, b.name, specs,
                       True if is_public is None else is_public, b.description)
    return _one(call, stype)


@router.post("/types/{type_id}")
async def post_to_type(type_id: str, call: ShareCall = Depends(share_call)):
    """No such call in Manila: 404 (a client that drops an empty id lands here with
    `types//extra_specs` read as `types/extra_specs`)."""
    raise ApiError(404, "The resource could not be found.")


@router.put("/types/{type_id}", openapi_extra=bodies.UPDATE_TYPE)
async def update_type(type_id: str, call: ShareCall = Depends(share_call)):
    if not call.v("2.50"):
        raise ApiError(404, "The resource could not be found.")
    b = parse(call, bodies.TypeUpdate, await call.body("share_type", "volume_type"), "share_type")
    fields = {k: getattr(b, k) for k in ("name", "description") if getattr(b, k) is not None}
    if b.name is not None and not b.name.strip():
        raise ApiError(400, "Share type name cannot be empty.")
    if b.description is not None and len(b.description) > 255:
        raise ApiError(400, "Share type description cannot be greater than 255 characters in length.")
    if fields.get("description") == "":
        fields["description"] = None  # Manila: an empty description unsets it
    fields["is_public"] = b.access_is_public
    if "name" not in fields and "description" not in fields and fields["is_public"] is None:
        raise ApiError(400, "Specify share type name, description, share_type_access:is_public or a "
                            "combination thereof.")
    return _one(call, await sync(call.services.share_types.update, call.ctx, type_id, fields))


@router.delete("/types/{type_id}", status_code=202)
async def delete_type(type_id: str, call: ShareCall = Depends(share_call)):
    await sync(call.services.share_types.delete, call.ctx, type_id)
    return Response(status_code=202)


def sanitized_zones(specs):
    """Manila's sanitize_csv of the availability_zones spec: 'az1, az2' is stored 'az1,az2';
    an empty member ('az1,,az2', a trailing comma) is a 400."""
    if not isinstance(specs, dict) or not isinstance(specs.get("availability_zones"), str):
        return specs
    zones = [z.strip() for z in specs["availability_zones"].split(",")]
    if not all(zones):
        raise ApiError(400, f"Invalid extra_spec availability_zones: {specs['availability_zones']!r} has an "
                            "empty member")
    return {**specs, "availability_zones": ",".join(zones)}


# Extra specs are read and written by administrators only (Manila's default policy);
# a member sees the tenant-visible ones in the type itself.

def _specs_admin(call: ShareCall) -> None:
    if not call.ctx.is_admin:
        raise ApiError(403, "Policy doesn't allow share_types_extra_spec operations to be performed.")


@router.get("/types/{type_id}/extra_specs/")
@router.put("/types/{type_id}/extra_specs/")
async def empty_spec_key(type_id: str, call: ShareCall = Depends(share_call)):
    """`.../extra_specs/` names an empty key: no such spec (Manila's 404, not a redirect)."""
    _specs_admin(call)
    raise ApiError(404, "Share type extra spec  could not be found.")


@router.get("/types/{type_id}/extra_specs")
async def list_specs(type_id: str, call: ShareCall = Depends(share_call)):
    _specs_admin(call)
    stype = await sync(call.services.share_types.get, call.ctx, type_id)
    return {"extra_specs": dict(stype.extra_specs)}


@router.post("/types/{type_id}/extra_specs", openapi_extra=bodies.SET_EXTRA_SPECS)
async def set_specs(type_id: str, call: ShareCall = Depends(share_call)):
    _specs_admin(call)
    given = parse(call, bodies.ExtraSpecsSet, await call.body()).extra_specs
    specs = await sync(call.services.share_types.set_specs, call.ctx, type_id, sanitized_zones(given))
    return {"extra_specs": {k: specs[k] for k in given}}  # Manila echoes what was set (sanitized)


@router.get("/types/{type_id}/extra_specs/{key}")
async def show_spec(type_id: str, key: str, call: ShareCall = Depends(share_call)):
    _specs_admin(call)
    stype = await sync(call.services.share_types.get, call.ctx, type_id)
    if key not in stype.extra_specs:
        raise ApiError(404, f"Share type extra spec {key} could not be found.")
    return {key: stype.extra_specs[key]}


@router.put("/types/{type_id}/extra_specs/{key}", openapi_extra=bodies.PUT_EXTRA_SPEC)
async def update_spec(type_id: str, key: str, call: ShareCall = Depends(share_call)):
    """Manila's update of one spec: the body is {key: value}, with that key only (its checks in its order)."""
    _specs_admin(call)
    body = await call.body()
    if not body:
        raise ApiError(400, "Request body empty")
    await sync(call.services.share_types.get, call.ctx, type_id)
    if key not in body:
        raise ApiError(400, "Request body and URI mismatch")
    if len(body) > 1:
        raise ApiError(400, "Request body contains too many items")
    spec = parse(call, bodies.SpecItem, body).model_extra
    specs = await sync(call.services.share_types.set_specs, call.ctx, type_id, sanitized_zones(spec))
    return {key: specs[key]}


@router.delete("/types/{type_id}/extra_specs/{key}", status_code=202)
async def unset_spec(type_id: str, key: str, call: ShareCall = Depends(share_call)):
    _specs_admin(call)
    if key == "snapshot_support" and not call.v("2.24"):  # required until 2.24
        await sync(call.services.share_types.get, call.ctx, type_id)
        raise ApiError(403, f"Extra spec '{key}' can't be deleted.")
    await sync(call.services.share_types.unset_spec, call.ctx, type_id, key)
    return Response(status_code=202)


@router.get("/types/{type_id}/share_type_access")
@router.get("/types/{type_id}/os-share-type-access")  # the name below 2.7; Manila answers both
async def list_access(type_id: str, call: ShareCall = Depends(share_call)):
    tid, projects = await sync(call.services.share_types.projects, call.ctx, type_id)
    return {"share_type_access": [{"share_type_id": tid, "project_id": p} for p in projects]}


@router.post("/types/{type_id}/action", status_code=202, openapi_extra=bodies.TYPE_ACTION)
async def type_action(type_id: str, call: ShareCall = Depends(share_call)):
    body = await call.body()
    if len(body) == 1 and (name := next(iter(body))) in bodies.TYPE_ACTIONS:
        body = {name: {"project": parse(call, bodies.TYPE_ACTIONS[name], body[name], name).project}}
    # (any other action: the type catalog's 400, naming the two it knows)
    await sync(call.services.share_types.access_action, call.ctx, type_id, body)
    return Response(status_code=202)
