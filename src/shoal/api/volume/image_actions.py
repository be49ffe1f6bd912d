"""Volumes and images: `POST /volumes` with `imageRef`, and the volume actions
os-volume_upload_image, os-set_image_metadata, os-unset_image_metadata and
os-show_image_metadata (services/volume/images.py does the work)."""

from __future__ import annotations

import functools

from fastapi import Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.errors import ApiError

from .call import VolumeCall

ACTIONS = ("os-volume_upload_image", "os-set_image_metadata", "os-unset_image_metadata", "os-show_image_metadata")


def creator(call: VolumeCall, image_ref: str | None):
    """What creates the volume a POST /volumes asks for: from an image when it names
    one (`imageRef`, or `image_id` as Cinder also takes), else the plain create."""
    if image_ref is None:
        return call.services.volumes.create
    return functools.partial(call.services.volume_images.create_volume, image_ref=image_ref)


async def handle(call: VolumeCall, volume_id: str, name: str, arg: dict):
    images = call.services.volume_images
    if name == "os-volume_upload_image":
        if not arg:
            raise ApiError(400, "Invalid input received: os-volume_upload_image needs an object with image_name")
        answer = await sync(images.upload, call.ctx, volume_id, arg, call.v("3.1"))
        return JSONResponse({"os-volume_upload_image": answer}, status_code=202)
    if name == "os-set_image_metadata":
        return {"metadata": await sync(images.set_metadata, call.ctx, volume_id, arg.get("metadata"))}
    if name == "os-unset_image_metadata":
        await sync(images.unset_metadata, call.ctx, volume_id, arg.get("key"))
        return Response(status_code=200)
    return {"metadata": await sync(images.show_metadata, call.ctx, volume_id)}
