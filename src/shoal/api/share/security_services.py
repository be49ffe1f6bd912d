"""/security-services: create, list, detail, show, update, delete, as Manila's
(the `ou` field from 2.44, `default_ad_site` from 2.76)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.errors import ApiError
from shoal.db.security_services import SecurityService

from .call import ShareCall, share_call
from .views import ts

router = APIRouter()


def summary(row: SecurityService) -> dict:
    return {"id": row.id, "name": row.name, "type": row.type, "status": "new"}


def detail(call: ShareCall, row: SecurityService) -> dict:
    view = {**summary(row), "created_at": ts(row.created_at), "updated_at": ts(row.updated_at),
            "description": row.description, "dns_ip": row.dns_ip, "server": row.server, "domain": row.domain,
            "user": row.user, "password": row.password, "project_id": row.project_id}
    if call.v("2.44"):
        view["ou"] = row.ou
    if call.v("2.76"):
        view["default_ad_site"] = row.default_ad_site
    return view


def _fields(call: ShareCall, body: dict) -> dict:
    if body.get("default_ad_site") and not call.v("2.76"):
        raise ApiError(400, '"default_ad_site" is only supported from API version 2.76.')
    if "ou" in body and not call.v("2.44"):
        body = {k: v for k, v in body.items() if k != "ou"}
    return body


async def _list(call: ShareCall, detailed: bool) -> dict:
    filters = {k: v for k, v in call.request.query_params.items() if k not in ("all_tenants", "status")}
    if "share_network_id" in filters:
        raise ApiError(404, f"Share network {filters['share_network_id']} could not be found.")  # none here
    rows = await sync(call.services.security_services.list, call.ctx, call.flag("all_tenants"), filters)
    if detailed:
        return {"security_services": [{**detail(call, r), "share_networks": []} for r in rows]}
    return {"security_services": [summary(r) for r in rows]}


@router.get("/security-services")
async def list_security_services(call: ShareCall = Depends(share_call)):
    return await _list(call, detailed=False)


@router.get("/security-services/detail")
async def list_security_services_detail(call: ShareCall = Depends(share_call)):
    return await _list(call, detailed=True)


@router.post("/security-services")
async def create_security_service(call: ShareCall = Depends(share_call)):
    body = await call.body("security_service")
    row = await sync(call.services.security_services.create, call.ctx, _fields(call, body))
    return {"security_service": detail(call, row)}


@router.get("/security-services/")
@router.put("/security-services/")
@router.delete("/security-services/")
async def security_service_without_id(call: ShareCall = Depends(share_call)):
    raise ApiError(404, "The resource could not be found.")  # Manila's answer, not a redirect


@router.get("/security-services/{ss_id}")
async def show_security_service(ss_id: str, call: ShareCall = Depends(share_call)):
    row = await sync(call.services.security_services.get, call.ctx, ss_id)
    return {"security_service": {**detail(call, row), "share_networks": []}}


@router.put("/security-services/{ss_id}")
async def update_security_service(ss_id: str, call: ShareCall = Depends(share_call)):
    body = await call.body("security_service")
    row = await sync(call.services.security_services.update, call.ctx, ss_id, _fields(call, body))
    return {"security_service": detail(call, row)}


@router.delete("/security-services/{ss_id}", status_code=202)
async def delete_security_service(ss_id: str, call: ShareCall = Depends(share_call)):
    await sync(call.services.security_services.delete, call.ctx, ss_id)
    return Response(status_code=202)
