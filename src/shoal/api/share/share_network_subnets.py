"""/share-networks/{id}/subnets (Manila 2.51+): create, list, show, delete; their
metadata from 2.78, as Manila's metadata controller answers it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import MetadataSet, parse
from shoal.api.openstack.errors import ApiError

from . import bodies, network_bodies
from .call import ShareCall, share_call
from .share_networks import subnet_view
from .snapshot_metadata import _item_body

router = APIRouter()
SUBNETS = "/share-networks/{sn_id}/subnets"


def _since(call: ShareCall, version: str = "2.51") -> None:
    if not call.v(version):
        raise ApiError(404, "The resource could not be found.")


@router.get(SUBNETS)
async def list_subnets(sn_id: str, call: ShareCall = Depends(share_call)):
    _since(call)
    network = await sync(call.services.share_networks.get, call.ctx, sn_id)
    return {"share_network_subnets": [subnet_view(call, s, network) for s in network.subnets]}


@router.post(SUBNETS, openapi_extra=network_bodies.CREATE_SUBNET)
async def create_subnet(sn_id: str, call: ShareCall = Depends(share_call)):
    _since(call)
    data = (await call.body()).get("share-network-subnet")
    if not isinstance(data, dict):
        raise ApiError(400, "Share Network Subnet is missing from the request body.")
    b = parse(call, network_bodies.SubnetCreate, data, "share-network-subnet")
    metadata = b.metadata if call.v("2.78") else None
    subnet, network = await sync(call.services.share_networks.create_subnet, call.ctx, sn_id,
                                 b.model_dump(exclude_unset=True, exclude={"metadata"}), call.v("2.70"), metadata)
    return {"share_network_subnet": subnet_view(call, subnet, network)}


@router.get(SUBNETS + "/{subnet_id}")
async def show_subnet(sn_id: str, subnet_id: str, call: ShareCall = Depends(share_call)):
    _since(call)
    subnet, network = await sync(call.services.share_networks.get_subnet, call.ctx, sn_id, subnet_id)
    return {"share_network_subnet": subnet_view(call, subnet, network)}


@router.delete(SUBNETS + "/{subnet_id}", status_code=202)
async def delete_subnet(sn_id: str, subnet_id: str, call: ShareCall = Depends(share_call)):
    _since(call)
    await sync(call.services.share_networks.delete_subnet, call.ctx, sn_id, subnet_id)
    return Response(status_code=202)


@router.get(SUBNETS + "/{subnet_id}/metadata")
async def subnet_metadata(sn_id: str, subnet_id: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.78")
    return {"metadata": await sync(call.services.share_networks.subnet_metadata, call.ctx, sn_id, subnet_id)}


@router.put(SUBNETS + "/{subnet_id}/metadata", openapi_extra=bodies.METADATA)
@router.post(SUBNETS + "/{subnet_id}/metadata", openapi_extra=bodies.METADATA)
async def set_subnet_metadata(sn_id: str, subnet_id: str, call: ShareCall = Depends(share_call)):
    """PUT replaces all of it, POST adds to it."""
    _since(call, "2.78")
    metadata = parse(call, MetadataSet, await call.body()).metadata
    meta = await sync(call.services.share_networks.set_subnet_metadata, call.ctx, sn_id, subnet_id,
                      metadata, call.request.method == "PUT")
    return {"metadata": meta}


@router.get(SUBNETS + "/{subnet_id}/metadata/{key}")
async def subnet_metadata_item(sn_id: str, subnet_id: str, key: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.78")
    meta = await sync(call.services.share_networks.subnet_metadata, call.ctx, sn_id, subnet_id)
    if key not in meta:
        raise ApiError(404, f"Metadata item {key} was not found.")
    return {"meta": {key: meta[key]}}


@router.post(SUBNETS + "/{subnet_id}/metadata/{key}")
async def update_subnet_metadata_item(sn_id: str, subnet_id: str, key: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.78")
    item = await _item_body(call, key)
    meta = await sync(call.services.share_networks.set_subnet_metadata, call.ctx, sn_id, subnet_id, item, False)
    return {"metadata": meta}


@router.delete(SUBNETS + "/{subnet_id}/metadata/{key}", status_code=200)
async def delete_subnet_metadata_item(sn_id: str, subnet_id: str, key: str, call: ShareCall = Depends(share_call)):
    _since(call, "2.78")
    await sync(call.services.share_networks.delete_subnet_metadata, call.ctx, sn_id, subnet_id, key)
    return Response(status_code=200)
