"""The small read-mostly endpoints: access rules by id, pools, services,
availability zones and user messages (limits and quota sets: quotas.py)."""

from __future__ import annotations

import ast
import re
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import MetadataSet, parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read
from shoal.services.common.errors import NotFound
from shoal.services.common.scheduler import share_pool_facts, share_specs_unmet

from . import bodies, queries, views
from .call import ShareCall, share_call
from .paging import next_links

router = APIRouter()


def _admin(call: ShareCall) -> None:
    if not call.ctx.is_admin:
        raise ApiError(403, "Policy doesn't allow this operation to be performed.")


# ---- /share-access-rules (2.45+) ----------------------------------------------

@router.get("/share-access-rules", openapi_extra=queries.ACCESS_RULE_LIST)
async def list_access_rules(call: ShareCall = Depends(share_call)):
    q = read(call, queries.AccessRuleList)
    share_id = q.share_id
    if not share_id:
        raise ApiError(400, "share_id is required to list access rules")
    try:
        rules = await sync(call.services.access.list, call.ctx, share_id)
    except NotFound:  # Manila's answer for the filter naming no share
        raise ApiError(400, f"Share {share_id} does not exist.") from None
    level, to, kind = q.access_level, q.access_to, q.access_type
    wanted = _metadata_filter(q.metadata)
    rules = [r for r in rules if (not level or r.access_level == level) and (not to or r.access_to == to)
             and (not kind or r.access_type == kind)
             and all((r.metadata_ or {}).get(k) == v for k, v in wanted.items())]
    hidden = await sync(call.services.resource_locks.restricted, call.ctx, [r.id for r in rules])
    if to:  # Manila leaves out the restricted rules when asked by what they hide
        rules = [r for r in rules if r.id not in hidden]
    return {"access_list": [views.access_rule(call, r, hidden=r.id in hidden) for r in rules]}


def _metadata_filter(raw: str | None) -> dict[str, str]:
    """`?metadata=` as Manila reads it (a Python literal of a dict, which is how its
    client sends it: `{'key': 'value'}`; JSON reads the same); anything else is a 400."""
    if not raw:
        return {}
    try:
        value = ast.literal_eval(raw) if len(raw) <= 65535 else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ApiError(400, "Invalid metadata filter: it must be a dict of strings, e.g. {'key': 'value'}")
    return value


@router.get("/share-access-rules/{access_id}")
async def show_access_rule(access_id: str, call: ShareCall = Depends(share_call)):
    rule = await sync(call.services.access.get, call.ctx, access_id)
    hidden = await sync(call.services.resource_locks.restricted, call.ctx, [rule.id])
    return {"access": views.access_rule(call, rule, hidden=rule.id in hidden)}


@router.put("/share-access-rules/{access_id}/metadata", openapi_extra=bodies.METADATA)
async def update_access_metadata(access_id: str, call: ShareCall = Depends(share_call)):
    if not call.v("2.45"):
        raise ApiError(404, "The resource could not be found.")
    metadata = parse(call, MetadataSet, await call.body()).metadata
    return {"metadata": await sync(call.services.access_metadata.update, call.ctx, access_id, metadata)}


@router.delete("/share-access-rules/{access_id}/metadata/{key}", status_code=200)
async def delete_access_metadata(access_id: str, key: str, call: ShareCall = Depends(share_call)):
    if not call.v("2.45"):
        raise ApiError(404, "The resource could not be found.")
    await sync(call.services.access_metadata.delete, call.ctx, access_id, key)
    return Response(status_code=200)


# ---- share servers: none (no backend here handles share servers) -------------------

@router.get("/share-servers")
async def list_share_servers(call: ShareCall = Depends(share_call)):
    """Administrators only, as Manila's policy; every backend is driver_handles_share_servers=False,
    so there are none, whatever the filters."""
    _admin(call)
    return {"share_servers": []}


@router.get("/share-servers/{server_id}")
@router.get("/share-servers/{server_id}/details")
@router.delete("/share-servers/{server_id}")
async def one_share_server(server_id: str, call: ShareCall = Depends(share_call)):
    _admin(call)
    raise ApiError(404, f"Share server {server_id} could not be found.")


# ---- pools, services, zones -------------------------------------------------------

def _pool_view(backend: str, driver, pool, detail: bool) -> dict:
    view = {"name": f"shoal@{backend}#{pool.name}", "host": "shoal", "backend": backend, "pool": pool.name}
    if detail:
        view["capabilities"] = {**share_pool_facts(backend, driver, pool), "timestamp": None}
    return view


POOL_FILTERS = ("name", "host", "backend", "pool")


def _matches(pattern: str, value: str) -> bool:
    try:
        return re.match(pattern, value) is not None
    except re.error:
        raise ApiError(400, f"Invalid filter {pattern!r}: not a regular expression") from None


async def _pools(call: ShareCall, detail: bool) -> dict:
    """Manila's filters: each query parameter a regular expression matched at the
    start of the pool's field of that name (a parameter naming no field matches no
    pool); from 2.23 `share_type` (name or id) keeps the pools meeting its specs."""
    _admin(call)
    wanted = dict(call.request.query_params)
    specs = None
    if call.v("2.23") and (type_ref := wanted.pop("share_type", None)):
        try:
            specs = dict((await sync(call.services.share_types.get, call.ctx, type_ref)).extra_specs or {})
        except NotFound:
            raise ApiError(400, f"Share type {type_ref} not found.") from None
    out = []
    for backend, driver, pools in await sync(call.services.pools):
        for pool in pools:
            view = _pool_view(backend, driver, pool, detail)
            if not all(k in POOL_FILTERS and _matches(v, view[k]) for k, v in wanted.items()):
                continue
            if specs is not None and share_specs_unmet(specs, share_pool_facts(backend, driver, pool)):
                continue
            out.append(view)
    return {"pools": out}


@router.get("/scheduler-stats/pools")
async def list_pools(call: ShareCall = Depends(share_call)):
    return await _pools(call, detail=False)


@router.get("/scheduler-stats/pools/detail")
async def list_pools_detail(call: ShareCall = Depends(share_call)):
    return await _pools(call, detail=True)


SERVICE_FILTERS = ("host", "binary", "zone", "state", "status")


async def _services(call: ShareCall) -> dict:
    """Manila's services: one manila-share per backend, one scheduler. The filters
    are exact matches; any other query parameter is ignored, as Manila does."""
    _admin(call)
    now = views.ts(datetime.now(timezone.utc).replace(tzinfo=None))
    out = []
    for index, (backend, driver, pools) in enumerate(await sync(call.services.pools), start=1):
        out.append({"id": index, "binary": "manila-share", "host": f"shoal@{backend}",
                    "zone": driver.availability_zone, "status": "enabled", "state": "up" if pools else "down",
                    "updated_at": now})
    out.append({"id": len(out) + 1, "binary": "manila-scheduler", "host": "shoal", "zone": "nova",
                "status": "enabled", "state": "up", "updated_at": now})
    wanted = {k: call.query(k) for k in SERVICE_FILTERS if call.query(k) is not None}
    return {"services": [s for s in out if all(s[k] == v for k, v in wanted.items())]}


@router.get("/services")
async def list_services(call: ShareCall = Depends(share_call)):
    if not call.v("2.7"):
        raise ApiError(404, "The resource could not be found.")
    return await _services(call)


@router.get("/os-services")
async def list_services_legacy(call: ShareCall = Depends(share_call)):
    if call.v("2.7"):  # renamed at 2.7; Manila serves each name in its own range
        raise ApiError(404, "The resource could not be found.")
    return await _services(call)


def _zones(call: ShareCall) -> dict:
    zones = sorted({d.availability_zone for d in call.services.core.drivers.values()})
    return {"availability_zones": [{"id": z, "name": z, "created_at": None, "updated_at": None} for z in zones]}


@router.get("/availability-zones")
async def list_zones(call: ShareCall = Depends(share_call)):
    if not call.v("2.7"):
        raise ApiError(404, "The resource could not be found.")
    return _zones(call)


@router.get("/os-availability-zone")
async def list_zones_legacy(call: ShareCall = Depends(share_call)):
    if call.v("2.7"):  # the extension's name, below 2.7 only
        raise ApiError(404, "The resource could not be found.")
    return _zones(call)


@router.get("/extensions")
async def list_extensions(call: ShareCall = Depends(share_call)):
    """Manila's legacy extension list: none, everything is in the core API now."""
    return {"extensions": []}


# ---- messages (2.37+) -----------------------------------------------------------------

@router.get("/messages", openapi_extra=queries.MESSAGE_LIST)
async def list_messages(call: ShareCall = Depends(share_call)):
    """Manila's filters (each an exact match), created_since/created_before (2.52),
    sort_key/sort_dir, offset and limit, and a next link when a page is full."""
    q = read(call, queries.MessageList)
    since, before = (_timestamp(getattr(q, k), k) if call.v("2.52") else None
                     for k in ("created_since", "created_before"))
    sort_key, sort_dir = q.sort_key or "created_at", q.sort_dir or "desc"
    if sort_key not in MESSAGE_SORT_KEYS:
        raise ApiError(400, f"Invalid sort: sort_key must be one of {', '.join(MESSAGE_SORT_KEYS)}, "
                            "sort_dir asc or desc")
    limit, offset = q.limit, q.offset or 0
    msgs = await sync(call.services.messages.list, call.ctx, q.resource_id, None)
    wanted = {k: getattr(q, k) for k in MESSAGE_FILTERS if getattr(q, k) is not None}
    msgs = [m for m in msgs if (since is None or m.created_at >= since) and (before is None or m.created_at < before)
            and all(getattr(m, k) == v for k, v in wanted.items())]
    msgs.sort(key=lambda m: (getattr(m, sort_key) is not None, getattr(m, sort_key) or ""),
              reverse=sort_dir == "desc")
    page = msgs[offset:offset + limit] if limit is not None else msgs[offset:]
    out: dict = {"messages": [views.message(call, m) for m in page]}
    if links := next_links(call, "messages", [m.id for m in page], limit):
        out["messages_links"] = links
    return out


MESSAGE_FILTERS = ("resource_type", "action_id", "detail_id", "message_level", "request_id")
MESSAGE_SORT_KEYS = ("id", "project_id", "request_id", "resource_type", "action_id", "detail_id", "resource_id",
                     "message_level", "expires_at", "created_at")


def _timestamp(value: str | None, name: str) -> datetime | None:
    """Manila's created_since/created_before (2.52): an ISO 8601 time, UTC when no zone is given."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"Invalid value {value!r} for {name}: an ISO 8601 time is expected") from None
    return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


@router.get("/messages/{message_id}")
async def show_message(message_id: str, call: ShareCall = Depends(share_call)):
    return {"message": views.message(call, await sync(call.services.messages.get, call.ctx, message_id))}


@router.delete("/messages/{message_id}", status_code=204)
async def delete_message(message_id: str, call: ShareCall = Depends(share_call)):
    await sync(call.services.messages.delete, call.ctx, message_id)
    return Response(status_code=204)
