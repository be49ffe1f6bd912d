"""/v2/schemas/*, /v2/info/import, /v2/info/stores and /v2/info/usage."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.errors import ApiError
from shoal.services.image.data import IMPORT_METHODS
from shoal.services.image.schema import SCHEMAS

from .call import ImageCall, image_call

router = APIRouter()


@router.get("/schemas/{name}")
async def schema(name: str, call: ImageCall = Depends(image_call)):
    if name not in SCHEMAS:
        raise ApiError(404, f"No schema named {name}")
    return SCHEMAS[name]


@router.get("/info/import")
async def import_info(call: ImageCall = Depends(image_call)):
    return {"import-methods": {"description": "Import methods available.", "type": "array",
                               "value": list(IMPORT_METHODS)}}


@router.get("/info/stores")
async def stores_info(call: ImageCall = Depends(image_call)):
    store = call.images.store
    return {"stores": [{"id": store.store_id, "description": store.description, "default": True}]}


@router.get("/info/usage")
async def usage_info(call: ImageCall = Depends(image_call)):
    return {"usage": await sync(call.images.images.usage, call.ctx)}
