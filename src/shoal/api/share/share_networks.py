"""/share-networks (Manila): create, list (summary and detail), show, update, delete,
and the actions (security services added, removed, replaced, and their checks;
the subnet-create check; reset_status), with Manila's views per microversion:
the default subnet's fields on the network below 2.51, its subnets from 2.51,
their metadata from 2.78. network_type and segmentation_id are shown to
administrators only (Manila's show_network_details policy)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read
from shoal.db.share_networks import ShareNetwork, ShareNetworkSubnet
from shoal.services.share.networks import SENSITIVE

from . import network_bodies, queries
from .call import ShareCall, share_call
from .security_services import limited
from .views import ts

router = APIRouter()
NET_FIELDS = ("neutron_net_id", "neutron_subnet_id", "network_type", "segmentation_id", "cidr", "ip_version",
              "gateway", "mtu")


def subnet_in_network(call: ShareCall, sub: ShareNetworkSubnet) -> dict:
    out = {"id": sub.id, "availability_zone": sub.availability_zone, "created_at": ts(sub.created_at),
           "updated_at": ts(sub.updated_at), **{f: getattr(sub, f) for f in NET_FIELDS}}
    if call.v("2.78"):
        out["metadata"] = dict(sub.metadata_ or {})
    if not call.ctx.is_admin:
        out.update(dict.fromkeys(SENSITIVE))
    return out


def subnet_view(call: ShareCall, sub: ShareNetworkSubnet, network: ShareNetwork) -> dict:
    return {**subnet_in_network(call, sub), "share_network_id": network.id, "share_network_name": network.name}


def network_view(call: ShareCall, row: ShareNetwork, is_detail: bool = True) -> dict:
    out = {"id": row.id, "name": row.name}
    if not is_detail:
        return out
    default = next((s for s in row.subnets if s.availability_zone is None), None)
    out.update({"project_id": row.project_id, "created_at": ts(row.created_at), "updated_at": ts(row.updated_at),
                "description": row.description})
    out.update({f: getattr(default, f) if default else None for f in NET_FIELDS})
    if not call.ctx.is_admin:
        out.update(dict.fromkeys(SENSITIVE))
    if not call.v("2.18"):
        out.pop("gateway")
    if not call.v("2.20"):
        out.pop("mtu")
    if not call.v("2.26"):
        out["nova_net_id"] = None
    if call.v("2.51"):
        for field in NET_FIELDS:
            out.pop(field, None)
        out["share_network_subnets"] = [subnet_in_network(call, s) for s in row.subnets]
    if call.v("2.63"):
        # no share servers, so nothing stands in the way of either update
        out["status"] = row.status
        out["security_service_update_support"] = True
    if call.v("2.70"):
        out["network_allocation_update_support"] = True
    return out


async def _list(call: ShareCall, is_detail: bool) -> dict:
    q = read(call, queries.NetworkList)
    rows = await sync(call.services.share_networks.list, call.ctx, dict(call.request.query_params), call.v("2.36"))
    return {"share_networks": [network_view(call, r, is_detail) for r in limited(q, rows)]}


@router.get("/share-networks", openapi_extra=queries.NETWORK_LIST)
async def list_share_networks(call: ShareCall = Depends(share_call)):
    return await _list(call, False)


@router.get("/share-networks/detail", openapi_extra=queries.NETWORK_LIST)
async def list_share_networks_detail(call: ShareCall = Depends(share_call)):
    return await _list(call, True)


@router.get("/share-networks/")
@router.put("/share-networks/")
@router.delete("/share-networks/")
@router.post("/share-networks/action")  # an action without an id, as clients send it
async def share_network_without_id(call: ShareCall = Depends(share_call)):
    raise ApiError(404, "The resource could not be found.")  # Manila's answer, not the list


@router.get("/share-networks/{sn_id}")
async def show_share_network(sn_id: str, call: ShareCall = Depends(share_call)):
    return {"share_network": network_view(call, await sync(call.services.share_networks.get, call.ctx, sn_id))}


@router.post("/share-networks", openapi_extra=network_bodies.CREATE_SHARE_NETWORK)
async def create_share_network(call: ShareCall = Depends(share_call)):
    b = parse(call, network_bodies.ShareNetworkCreate, await call.body("share_network"), "share_network")
    row = await sync(call.services.share_networks.create, call.ctx, b.model_dump(exclude_unset=True), call.v("2.51"))
    return {"share_network": network_view(call, row)}


@router.put("/share-networks/{sn_id}", openapi_extra=network_bodies.UPDATE_SHARE_NETWORK)
async def update_share_network(sn_id: str, call: ShareCall = Depends(share_call)):
    b = parse(call, network_bodies.ShareNetworkUpdate, await call.body("share_network"), "share_network")
    row = await sync(call.services.share_networks.update, call.ctx, sn_id, b.model_dump(exclude_unset=True))
    return {"share_network": network_view(call, row)}


@router.delete("/share-networks/{sn_id}", status_code=202)
async def delete_share_network(sn_id: str, call: ShareCall = Depends(share_call)):
    await sync(call.services.share_networks.delete, call.ctx, sn_id)
    return Response(status_code=202)


# action -> the microversion it came with
ACTIONS = {"add_security_service": "2.0", "remove_security_service": "2.0", "update_security_service": "2.63",
           "add_security_service_check": "2.63", "update_security_service_check": "2.63",
           "share_network_subnet_create_check": "2.70", "reset_status": "2.63"}


def _arg(call: ShareCall, body: dict, name: str):
    """The action's argument as its model declares it; Manila's words when it is no object or lacks a key."""
    model, arg = network_bodies.SHARE_NETWORK_ACTIONS[name], body[name]
    if not isinstance(arg, dict) or any(f.is_required() and k not in arg for k, f in model.model_fields.items()):
        raise ApiError(400, "Malformed request body.")
    return parse(call, model, arg, name)


def _check_view(call: ShareCall, arg) -> dict:
    """Manila's answer to a security-service check: compatible (no share servers to ask)."""
    current = getattr(arg, "current_service_id", None)
    out = {"compatible": True, "requested_operation": {
        "operation": "update_security_service" if current else "add_security_service",
        "current_security_service": current,
        "new_security_service": getattr(arg, "new_service_id", None) or getattr(arg, "security_service_id", None)}}
    if call.ctx.is_admin:
        out["hosts_check_result"] = {}
    return out


@router.post("/share-networks/{sn_id}/action", openapi_extra=network_bodies.SHARE_NETWORK_ACTION)
async def share_network_action(sn_id: str, call: ShareCall = Depends(share_call)):
    body = await call.body()
    if len(body) != 1 or next(iter(body)) not in ACTIONS:
        raise ApiError(400, f"Invalid request body: one of the actions {', '.join(ACTIONS)} is expected")
    name = next(iter(body))
    if not call.v(ACTIONS[name]):
        raise ApiError(404, "The resource could not be found.")
    nets = call.services.share_networks
    if name == "share_network_subnet_create_check" and not isinstance(body[name], dict):
        raise ApiError(400, "Share Network Subnet Create Check is missing from the request body.")
    arg = _arg(call, body, name)
    if name in ("add_security_service", "remove_security_service"):
        method = nets.add_security_service if name.startswith("add") else nets.remove_security_service
        row = await sync(method, call.ctx, sn_id, arg.security_service_id)
        return {"share_network": network_view(call, row)}
    if name == "update_security_service":
        row = await sync(nets.replace_security_service, call.ctx, sn_id, arg.current_service_id, arg.new_service_id)
        return JSONResponse({"share_network": network_view(call, row)}, status_code=202)
    if name == "update_security_service_check":
        await sync(nets.replace_security_service, call.ctx, sn_id, arg.current_service_id, arg.new_service_id,
                   True)
        return JSONResponse(_check_view(call, arg), status_code=202)
    if name == "add_security_service_check":
        await sync(nets.check_add_security_service, call.ctx, sn_id, arg.security_service_id)
        return JSONResponse(_check_view(call, arg), status_code=202)
    if name == "share_network_subnet_create_check":
        await sync(nets.check_subnet, call.ctx, sn_id, arg.model_dump(exclude_unset=True), True)
        out = {"compatible": True, **({"hosts_check_result": {}} if call.ctx.is_admin else {})}
        return JSONResponse(out, status_code=202)
    await sync(nets.reset_status, call.ctx, sn_id, arg.status)
    return Response(status_code=202)
