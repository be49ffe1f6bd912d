"""Shared File Systems quotas: quota-sets (os-quota-sets below 2.7), their /detail (2.25+)
and /defaults, per user (`?user_id=`) and per share type (`?share_type=`, 2.39+),
quota-class-sets (os-quota-class-sets below 2.7) and the absolute limits."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read
from shoal.services.common.quotas import SHARE_TYPE_RESOURCES

from . import admin_bodies, queries
from .call import ShareCall, share_call

router = APIRouter()

NOT_FOUND = "The resource could not be found."


def _path_for_version(call: ShareCall) -> None:
    """quota-sets and quota-class-sets from 2.7; the os- names below."""
    legacy = "/os-quota" in call.request.url.path
    if legacy == call.v("2.7"):
        raise ApiError(404, NOT_FOUND)


def keys(call: ShareCall, share_type: str | None = None) -> list[str]:
    """The resources a quota set shows at this microversion."""
    out = ["shares", "gigabytes", "snapshots", "snapshot_gigabytes", "share_networks"]
    if call.v("2.40"):
        out += ["share_groups", "share_group_snapshots"]
    if call.v("2.53"):
        out += ["share_replicas", "replica_gigabytes"]
    if call.v("2.62"):
        out += ["per_share_gigabytes"]
    return [k for k in out if k in SHARE_TYPE_RESOURCES] if share_type else out


def _scope(call: ShareCall) -> tuple[str | None, str | None]:
    q = read(call, queries.QuotaScope)
    user_id, share_type = q.user_id or None, q.share_type or None
    if share_type and not call.v("2.39"):
        raise ApiError(400, "'share_type' key is not supported by this microversion. Use 2.39 or greater "
                            "microversion to be able to use 'share_type' quotas.")
    return user_id, share_type


def _view(call: ShareCall, values: dict, share_type: str | None, project: str | None = None) -> dict:
    out = {k: values[k] for k in keys(call, share_type) if k in values}
    if project is not None:
        out["id"] = project
    return out


async def _show(call: ShareCall, target_project: str, detail: bool) -> dict:
    _path_for_version(call)
    user_id, share_type = _scope(call)
    values = await sync(call.services.quotas.share_set, call.ctx, target_project, user_id, share_type, detail)
    return {"quota_set": _view(call, values, share_type, target_project)}


@router.get("/quota-sets/{target_project}", openapi_extra=queries.QUOTA_SCOPE)
@router.get("/os-quota-sets/{target_project}", openapi_extra=queries.QUOTA_SCOPE)
async def show_quota_set(target_project: str, call: ShareCall = Depends(share_call)):
    return await _show(call, target_project, detail=False)


@router.get("/quota-sets/{target_project}/detail", openapi_extra=queries.QUOTA_SCOPE)
async def show_quota_set_detail(target_project: str, call: ShareCall = Depends(share_call)):
    if not call.v("2.25"):
        raise ApiError(404, NOT_FOUND)
    return await _show(call, target_project, detail=True)


@router.get("/quota-sets/{target_project}/defaults")
@router.get("/os-quota-sets/{target_project}/defaults")
async def show_quota_defaults(target_project: str, call: ShareCall = Depends(share_call)):
    _path_for_version(call)
    values = await sync(call.services.quotas.share_defaults, call.ctx, target_project)
    return {"quota_set": _view(call, values, None, target_project)}


async def _limits(call: ShareCall, key: str, model: type[admin_bodies.QuotaValues]) -> tuple[dict, bool]:
    """The limits to set and the force flag. Policy first: a member's update is the quota service's
    403 whatever its body holds, so the body is read through the model for an administrator only."""
    data = await call.body(key)
    if not call.ctx.is_admin:
        return data, False
    b = parse(call, model, data, key)
    return b.model_dump(exclude_unset=True, exclude={"force"}), bool(getattr(b, "force", False))


@router.put("/quota-sets/{target_project}", openapi_extra=queries.QUOTA_SCOPE | admin_bodies.UPDATE_QUOTA_SET)
@router.put("/os-quota-sets/{target_project}", openapi_extra=queries.QUOTA_SCOPE | admin_bodies.UPDATE_QUOTA_SET)
async def update_quota_set(target_project: str, call: ShareCall = Depends(share_call)):
    _path_for_version(call)
    user_id, share_type = _scope(call)
    limits, force = await _limits(call, "quota_set", admin_bodies.QuotaSetUpdate)
    values = await sync(call.services.quotas.update_share_set, call.ctx, target_project, limits,
                        keys(call, share_type), user_id, share_type, force)
    return {"quota_set": _view(call, values, share_type)}


@router.get("/quota-sets/")
@router.put("/quota-sets/")
@router.delete("/quota-sets/")
async def quota_set_without_project(call: ShareCall = Depends(share_call)):
    raise ApiError(404, "The resource could not be found.")  # Manila's answer for an empty project id


@router.delete("/quota-sets/{target_project}", status_code=202, openapi_extra=queries.QUOTA_SCOPE)
@router.delete("/os-quota-sets/{target_project}", status_code=202, openapi_extra=queries.QUOTA_SCOPE)
async def delete_quota_set(target_project: str, call: ShareCall = Depends(share_call)):
    _path_for_version(call)
    user_id, share_type = _scope(call)
    await sync(call.services.quotas.delete_share_set, call.ctx, target_project, user_id, share_type)
    return Response(status_code=202)


@router.get("/quota-class-sets/{class_name}")
@router.get("/os-quota-class-sets/{class_name}")
async def show_quota_class(class_name: str, call: ShareCall = Depends(share_call)):
    _path_for_version(call)
    values = await sync(call.services.quotas.share_class, call.ctx, class_name)
    return {"quota_class_set": _view(call, values, None, class_name)}


@router.put("/quota-class-sets/{class_name}", openapi_extra=admin_bodies.UPDATE_QUOTA_CLASS)
@router.put("/os-quota-class-sets/{class_name}", openapi_extra=admin_bodies.UPDATE_QUOTA_CLASS)
async def update_quota_class(class_name: str, call: ShareCall = Depends(share_call)):
    _path_for_version(call)
    limits, _ = await _limits(call, "quota_class_set", admin_bodies.QuotaValues)
    values = await sync(call.services.quotas.update_share_class, call.ctx, class_name, limits, keys(call))
    return {"quota_class_set": _view(call, values, None)}


@router.delete("/quota-class-sets/{class_name}", status_code=202)
@router.delete("/os-quota-class-sets/{class_name}", status_code=202)
async def delete_quota_class(class_name: str, call: ShareCall = Depends(share_call)):
    """Shoal's: Manila has no way to drop a class once set; answered as a quota set's delete."""
    _path_for_version(call)
    await sync(call.services.quotas.delete_share_class, call.ctx, class_name)
    return Response(status_code=202)


@router.get("/limits")
async def limits(call: ShareCall = Depends(share_call)):
    limit, used = await sync(call.services.quotas.share_limits, call.ctx)
    absolute = {
        "maxTotalShares": limit["shares"], "maxTotalShareGigabytes": limit["gigabytes"],
        "maxTotalShareSnapshots": limit["snapshots"], "maxTotalSnapshotGigabytes": limit["snapshot_gigabytes"],
        "maxTotalShareNetworks": limit["share_networks"],
        "totalSharesUsed": used["shares"], "totalShareGigabytesUsed": used["gigabytes"],
        "totalShareSnapshotsUsed": used["snapshots"], "totalSnapshotGigabytesUsed": used["snapshot_gigabytes"],
        "totalShareNetworksUsed": used["share_networks"],
    }
    if call.v("2.40"):
        absolute.update(maxTotalShareGroups=limit["share_groups"],
                        maxTotalShareGroupSnapshots=limit["share_group_snapshots"],
                        totalShareGroupsUsed=used["share_groups"],
                        totalShareGroupSnapshotsUsed=used["share_group_snapshots"])
    if call.v("2.53"):
        absolute.update(maxTotalShareReplicas=limit["share_replicas"],
                        maxTotalReplicaGigabytes=limit["replica_gigabytes"],
                        totalShareReplicasUsed=0, totalReplicaGigabytesUsed=0)
    return {"limits": {"rate": [], "absolute": absolute}}
