"""A resource path with an empty id (`/volumes/`, `/snapshots/`) names no resource: 404,
as Cinder's router answers. Without these routes the trailing slash would be redirected
to the collection (a GET would list, a PUT or DELETE would be 405)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from shoal.api.openstack.errors import ApiError

from .call import VolumeCall, volume_call

router = APIRouter()
NAMES = {"volumes": "Volume", "snapshots": "Snapshot", "types": "Volume type", "attachments": "Attachment"}


def _not_found(collection: str):
    async def no_such_item(call: VolumeCall = Depends(volume_call)):
        raise ApiError(404, f"{NAMES[collection]} could not be found.")

    no_such_item.__name__ = f"no_{collection}_without_id"
    return no_such_item


for _collection in NAMES:
    router.add_api_route(f"/{_collection}/", _not_found(_collection), methods=["GET", "PUT", "DELETE"],
                         include_in_schema=False)
