"""Volumes and images: `POST /volumes` with `imageRef`, and the volume actions
os-volume_upload_image, os-set_image_metadata, os-unset_image_metadata and
os-show_image_metadata (services/volume/images.py does the work)."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse

from . import bodies
from .call import VolumeCall

ACTIONS = ("os-volume_upload_image", "os-set_image_metadata", "os-unset_image_metadata", "os-show_image_metadata")


def creator(call: VolumeCall, image_ref: str | None):
    """What creates the volume a POST /volumes asks for: from an image when it names
    one (`imageRef`, or `image_id` as Cinder also takes), else the plain create."""
    if image_ref is None:
        return call.services.volumes.create
    return functools.partial(call.services.volume_images.create_volume, image_ref=image_ref)


async def handle(call: VolumeCall, volume_id: str, name: str, raw: Any):
    images = call.services.volume_images
    if name == "os-volume_upload_image":
        model = bodies.UploadImageV31 if call.v("3.1") else bodies.UploadImage
        arg = parse(call, model, raw, name).model_dump(exclude_unset=True)  # the service's defaults for the rest
        answer = await sync(images.upload, call.ctx, volume_id, arg, call.v("3.1"))
        return JSONResponse({"os-volume_upload_image": answer}, status_code=202)
    if name == "os-set_image_metadata":
        metadata = parse(call, bodies.SetImageMetadata, raw, name).metadata
        return {"metadata": await sync(images.set_metadata, call.ctx, volume_id, metadata)}
    if name == "os-unset_image_metadata":
        await sync(images.unset_metadata, call.ctx, volume_id, parse(call, bodies.UnsetImageMetadata, raw, name).key)
        return Response(status_code=200)
    return {"metadata": await sync(images.show_metadata, call.ctx, volume_id)}
