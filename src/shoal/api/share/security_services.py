"""/security-services (Manila): create, list (summary and detail), show, update,
delete, with Manila's views per microversion (`ou` from 2.44, `default_ad_site`
from 2.76)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read
from shoal.db.share_networks import SecurityService

from . import network_bodies, queries
from .call import ShareCall, share_call
from .views import ts

router = APIRouter()


def limited(q: queries.Pages, rows: list) -> list:
    """Manila's common.limited: `offset`, then at most `limit` (and at most 1000)."""
    offset, limit = q.offset or 0, q.limit
    return rows[offset:offset + min(limit if limit is not None else 1000, 1000)]


def summary(row: SecurityService) -> dict:
    # "status" left Manila's model long ago; its view still says "new"
    return {"id": row.id, "name": row.name, "type": row.type, "status": "new"}


def detail(call: ShareCall, row: SecurityService) -> dict:
    out = {**summary(row), "created_at": ts(row.created_at), "updated_at": ts(row.updated_at),
           "description": row.description, "dns_ip": row.dns_ip, "server": row.server, "domain": row.domain,
           "user": row.user, "password": row.password, "project_id": row.project_id}
    if call.v("2.44"):
        out["ou"] = row.ou
    if call.v("2.76"):
        out["default_ad_site"] = row.default_ad_site
    return out


async def _list(call: ShareCall, is_detail: bool) -> dict:
    q = read(call, queries.SecurityServiceList)
    rows = await sync(call.services.security_services.list, call.ctx, dict(call.request.query_params))
    out = []
    for row, networks in limited(q, rows):
        out.append({**detail(call, row), "share_networks": networks} if is_detail else summary(row))
    return {"security_services": out}


@router.get("/security-services", openapi_extra=queries.SECURITY_SERVICE_LIST)
async def list_security_services(call: ShareCall = Depends(share_call)):
    return await _list(call, False)


@router.get("/security-services/detail", openapi_extra=queries.SECURITY_SERVICE_LIST)
async def list_security_services_detail(call: ShareCall = Depends(share_call)):
    return await _list(call, True)


@router.get("/security-services/")
@router.put("/security-services/")
@router.delete("/security-services/")
async def security_service_without_id(call: ShareCall = Depends(share_call)):
    raise ApiError(404, "The resource could not be found.")  # Manila's answer, not the list


@router.get("/security-services/{ss_id}")
async def show_security_service(ss_id: str, call: ShareCall = Depends(share_call)):
    return {"security_service": detail(call, await sync(call.services.security_services.get, call.ctx, ss_id))}


async def _fields(call: ShareCall) -> dict:
    b = parse(call, network_bodies.SecurityServiceFields, await call.body("security_service"), "security_service")
    return b.model_dump(exclude_unset=True)


@router.post("/security-services", openapi_extra=network_bodies.SECURITY_SERVICE)
async def create_security_service(call: ShareCall = Depends(share_call)):
    row = await sync(call.services.security_services.create, call.ctx, await _fields(call), call.v("2.76"))
    return {"security_service": detail(call, row)}


@router.put("/security-services/{ss_id}", openapi_extra=network_bodies.SECURITY_SERVICE)
async def update_security_service(ss_id: str, call: ShareCall = Depends(share_call)):
    row = await sync(call.services.security_services.update, call.ctx, ss_id, await _fields(call), call.v("2.76"))
    return {"security_service": detail(call, row)}


@router.delete("/security-services/{ss_id}", status_code=202)
async def delete_security_service(ss_id: str, call: ShareCall = Depends(share_call)):
    await sync(call.services.security_services.delete, call.ctx, ss_id)
    return Response(status_code=202)
