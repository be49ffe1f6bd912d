"""Block Storage quotas: os-quota-sets, os-quota-class-sets and the absolute limits."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read

from . import admin_bodies as bodies, queries
from .call import VolumeCall, volume_call

router = APIRouter()


@router.get("/os-quota-sets/{target_project}", openapi_extra=queries.QUOTA_SHOW)
async def show_quota_set(target_project: str, call: VolumeCall = Depends(volume_call)):
    usage = bool(read(call, queries.QuotaShow).usage)
    values = await sync(call.services.quotas.volume_set, call.ctx, target_project, usage)
    return {"quota_set": {**values, "id": target_project}}


@router.get("/os-quota-sets/{target_project}/defaults")
async def show_quota_defaults(target_project: str, call: VolumeCall = Depends(volume_call)):
    values = await sync(call.services.quotas.volume_defaults, call.ctx, target_project)
    return {"quota_set": {**values, "id": target_project}}


@router.put("/os-quota-sets/{target_project}", openapi_extra={**queries.QUOTA_UPDATE, **bodies.UPDATE_QUOTA_SET})
async def update_quota_set(target_project: str, call: VolumeCall = Depends(volume_call)):
    body = await call.body()
    if not isinstance(body.get("quota_set"), dict):
        raise ApiError(400, "Missing required element quota_set in request body.")
    b = parse(call, bodies.QuotaSetUpdate, body)
    quota_set = parse(call, bodies.QuotaValues, body["quota_set"], "quota_set")
    # Cinder checks a new limit against the usage only when skip_validation is false;
    # Shoal always checks, unless the caller says skip_validation=true explicitly.
    skip = b.skip_validation if b.skip_validation is not None else bool(read(call, queries.QuotaUpdate).skip_validation)
    values = await sync(call.services.quotas.update_volume_set, call.ctx, target_project,
                        quota_set.model_dump(exclude_unset=True), skip)
    return {"quota_set": values}


@router.delete("/os-quota-sets/{target_project}")
async def delete_quota_set(target_project: str, call: VolumeCall = Depends(volume_call)):
    await sync(call.services.quotas.delete_volume_set, call.ctx, target_project)
    return Response(status_code=200)


@router.get("/os-quota-class-sets/{class_name}")
async def show_quota_class(class_name: str, call: VolumeCall = Depends(volume_call)):
    values = await sync(call.services.quotas.volume_class, call.ctx, class_name)
    return {"quota_class_set": {**values, "id": class_name}}


@router.put("/os-quota-class-sets/{class_name}", openapi_extra=bodies.UPDATE_QUOTA_CLASS)
async def update_quota_class(class_name: str, call: VolumeCall = Depends(volume_call)):
    b = parse(call, bodies.QuotaValues, await call.body("quota_class_set"), "quota_class_set")
    quotas = call.services.quotas
    values = await sync(quotas.update_volume_class, call.ctx, class_name, b.model_dump(exclude_unset=True))
    return {"quota_class_set": values}


@router.delete("/os-quota-class-sets/{class_name}")
async def delete_quota_class(class_name: str, call: VolumeCall = Depends(volume_call)):
    """Shoal's: Cinder has no way to drop a class once set; answered as a quota set's delete."""
    await sync(call.services.quotas.delete_volume_class, call.ctx, class_name)
    return Response(status_code=200)


@router.get("/limits")
async def limits(call: VolumeCall = Depends(volume_call)):
    limit, used = await sync(call.services.quotas.volume_limits, call.ctx)
    absolute = {
        "maxTotalVolumes": limit["volumes"], "maxTotalSnapshots": limit["snapshots"],
        "maxTotalVolumeGigabytes": limit["gigabytes"], "maxTotalBackups": limit["backups"],
        "maxTotalBackupGigabytes": limit["backup_gigabytes"],
        "totalVolumesUsed": used["volumes"], "totalGigabytesUsed": used["gigabytes"],
        "totalSnapshotsUsed": used["snapshots"], "totalBackupsUsed": used["backups"],
        "totalBackupGigabytesUsed": used["backup_gigabytes"],
    }
    return {"limits": {"rate": [], "absolute": absolute}}
