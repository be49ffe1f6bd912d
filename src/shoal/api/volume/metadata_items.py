"""The metadata routes of a volume or a snapshot (`.../metadata`, `.../metadata/{key}`),
as Cinder answers them."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import Body, MetadataSet, parse, plain
from shoal.api.openstack.body_fields import Metadata
from shoal.api.openstack.errors import ApiError

from .call import VolumeCall, volume_call

METADATA = plain(MetadataSet)


class MetaItem(Body):
    """`{"meta": {key: value}}`: one item, the one the URL names."""

    meta: Metadata


def item_of(metadata: dict, key: str) -> dict:
    """`{"meta": {key: value}}`; 404 when there is no such item."""
    if key not in metadata:
        raise ApiError(404, f"Metadata item was not found: {key}")
    return {"meta": {key: metadata[key]}}


async def item_body(call: VolumeCall, key: str) -> dict:
    """The `meta` of a PUT of one item: exactly the item the URL names."""
    item = parse(call, MetaItem, await call.body()).meta
    if set(item) != {key}:
        raise ApiError(400, "Invalid input received: the body must hold exactly the item named in the URL")
    return item


def add_metadata_routes(router: APIRouter, collection: str, service_of: Callable[[VolumeCall], object]) -> None:
    """GET/POST/PUT `/{collection}/{id}/metadata` and GET/PUT/DELETE of one item;
    `service_of(call)` is the service with get, set_metadata and delete_metadata."""
    base = f"/{collection}/{{resource_id}}/metadata"

    @router.get(base)
    async def get_metadata(resource_id: str, call: VolumeCall = Depends(volume_call)):
        resource = await sync(service_of(call).get, call.ctx, resource_id)
        return {"metadata": dict(resource.metadata_)}

    @router.post(base, openapi_extra=METADATA)
    async def update_metadata(resource_id: str, call: VolumeCall = Depends(volume_call)):
        metadata = parse(call, MetadataSet, await call.body()).metadata
        return {"metadata": await sync(service_of(call).set_metadata, call.ctx, resource_id, metadata, False)}

    @router.put(base, openapi_extra=METADATA)
    async def replace_metadata(resource_id: str, call: VolumeCall = Depends(volume_call)):
        metadata = parse(call, MetadataSet, await call.body()).metadata
        return {"metadata": await sync(service_of(call).set_metadata, call.ctx, resource_id, metadata, True)}

    @router.get(base + "/{key}")
    async def get_metadata_item(resource_id: str, key: str, call: VolumeCall = Depends(volume_call)):
        resource = await sync(service_of(call).get, call.ctx, resource_id)
        return item_of(resource.metadata_, key)

    @router.put(base + "/{key}", openapi_extra=plain(MetaItem))
    async def set_metadata_item(resource_id: str, key: str, call: VolumeCall = Depends(volume_call)):
        body = await item_body(call, key)
        await sync(service_of(call).set_metadata, call.ctx, resource_id, body, False)
        return {"meta": body}

    @router.delete(base + "/{key}")
    async def delete_metadata_item(resource_id: str, key: str, call: VolumeCall = Depends(volume_call)):
        await sync(service_of(call).delete_metadata, call.ctx, resource_id, key)
        return Response(status_code=200)
