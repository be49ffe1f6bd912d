"""/v2/images/{id}/file, /stage and /import: image data in and out, streamed.

An upload is read from the request body chunk by chunk by a worker thread that
writes, hashes and inspects each chunk as it comes: nothing holds the whole image."""

from __future__ import annotations


import anyio.from_thread
from fastapi import APIRouter, Depends, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.errors import ApiError
from shoal.drivers.images.base import STAGING, STORE

from .call import ImageCall, image_call, read_json

router = APIRouter()


def _chunks(stream):
    """The request body's chunks, read from the event loop by this worker thread."""
    while True:
        try:
            chunk = anyio.from_thread.run(stream.__anext__)
        except StopAsyncIteration:
            return
        if chunk:
            yield chunk


async def _receive(call: ImageCall, image_id: str, area: str) -> Response:
    kind = call.request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    if kind != "application/octet-stream":
        raise ApiError(415, f"Unsupported Content-Type: {kind}; image data is application/octet-stream")
    data = call.images.data
    ticket = await sync(data.begin, call.ctx, image_id, area)
    stream = call.request.stream()
    await sync(data.receive, ticket, _chunks(stream))
    return Response(status_code=204)


@router.put("/images/{image_id}/file", status_code=204)
async def upload(image_id: str, call: ImageCall = Depends(image_call)):
    return await _receive(call, image_id, STORE)


@router.put("/images/{image_id}/stage", status_code=204)
async def stage(image_id: str, call: ImageCall = Depends(image_call)):
    return await _receive(call, image_id, STAGING)


@router.post("/images/{image_id}/import", status_code=202)
async def import_image(image_id: str, call: ImageCall = Depends(image_call)):
    body = await read_json(call, b"{}")
    if not isinstance(body, dict):
        raise ApiError(400, "Malformed request body: an object is expected")
    await sync(call.images.data.start_import, call.ctx, image_id, body.get("method"))
    return Response(status_code=202)


@router.get("/images/{image_id}/file")
async def download(image_id: str, call: ImageCall = Depends(image_call)):
    image, path = await sync(call.images.data.data_path, call.ctx, image_id)
    if path is None:
        return Response(status_code=204)  # Glance: an image without data answers No Content
    headers = {"Content-MD5": image.checksum} if image.checksum and "range" not in call.request.headers else {}
    return FileResponse(path, media_type="application/octet-stream", headers=headers)
