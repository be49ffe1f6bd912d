"""/v2/images: create, list, show, update (JSON patch), delete, deactivate,
reactivate, tags."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.call import public_origin
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read

from . import queries, views
from .call import ImageCall, image_call, read_json

router = APIRouter()

PATCH_TYPES = ("application/openstack-images-v2.1-json-patch", "application/openstack-images-v2.0-json-patch")
IMPORT_HEADERS = {"OpenStack-image-import-methods": "glance-direct", "OpenStack-image-store-ids": "file"}


def _view(call: ImageCall, row) -> dict:
    return views.image(row, call.images.store.store_id)


@router.post("/images", status_code=201)
async def create_image(call: ImageCall = Depends(image_call)):
    row = await sync(call.images.images.create, call.ctx, await read_json(call))
    body = _view(call, row)
    return Response(json.dumps(body), status_code=201, media_type="application/json",
                    headers={"Location": f"{public_origin(call.request)}/image/v2/images/{row.id}", **IMPORT_HEADERS})


def _sort(params) -> list[tuple[str, str]]:
    if params.get("sort"):
        if params.getlist("sort_key") or params.getlist("sort_dir"):
            raise ApiError(400, "The 'sort' parameter cannot be used with 'sort_key' or 'sort_dir'.")
        out = []
        for item in params["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            out.append((key, direction or "desc"))
        return out
    keys, dirs = params.getlist("sort_key"), params.getlist("sort_dir")
    if len(dirs) > 1 and len(dirs) != len(keys):
        raise ApiError(400, "Number of sort dirs does not match the number of sort keys")
    return [(k, dirs[n] if len(dirs) > 1 else (dirs[0] if dirs else "desc")) for n, k in enumerate(keys)]


@router.get("/images", openapi_extra=queries.IMAGE_LIST)
async def list_images(call: ImageCall = Depends(image_call)):
    q = read(call, queries.ImageList)
    params = call.request.query_params
    filters = {k: getattr(q, k) for k in queries.FILTERS if getattr(q, k) is not None}
    properties = {k: v for k, v in params.items() if k not in queries.ImageList.model_fields}
    page, more = await sync(call.images.images.list, call.ctx, filters=filters, properties=properties,
                            tags=params.getlist("tag"), sort=_sort(params), limit=q.limit, marker=q.marker)
    query = [(k, v) for k, v in params.multi_items() if k != "marker"]
    body = {"images": [_view(call, row) for row in page], "first": "/v2/images" + (f"?{urlencode(query)}" if query else ""),
            "schema": "/v2/schemas/images"}
    if more and page:
        body["next"] = "/v2/images?" + urlencode([*query, ("marker", page[-1].id)])
    return body


@router.get("/images/{image_id}")
async def show_image(image_id: str, call: ImageCall = Depends(image_call)):
    return _view(call, await sync(call.images.images.get, call.ctx, image_id))


def _pointer(path) -> str:
    """The attribute a JSON pointer names: one level only ("/name", "/tags")."""
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise ApiError(400, f"Pointer `{path}` does not start with \"/\".")
    parts = path[1:].split("/")
    name = parts[0].replace("~1", "/").replace("~0", "~")
    if name in ("locations", "location"):
        raise ApiError(403, f"Attribute '{name}' is reserved.")
    if len(parts) > 1:
        raise ApiError(400, f"Nested paths are not allowed: {path}")
    return name


def _operations(body) -> list[tuple[str, str, object]]:
    """Glance's JSON patch: [{"op", "path", "value"}] (2.1) or [{"replace": path, "value"}] (2.0)."""
    if not isinstance(body, list):
        raise ApiError(400, "Request body must be a JSON array of operation objects.")
    out = []
    for item in body:
        if not isinstance(item, dict):
            raise ApiError(400, "Operations must be JSON objects.")
        if "op" in item:
            op, path = item["op"], item.get("path")
        else:
            found = [k for k in ("add", "replace", "remove") if k in item]
            if len(found) != 1:
                raise ApiError(400, "Operation objects must contain exactly one member named \"add\", \"remove\", "
                                    "or \"replace\".")
            op, path = found[0], item[found[0]]
        if op not in ("add", "replace", "remove"):
            raise ApiError(400, f"Invalid operation: `{op}`.")
        if op != "remove" and "value" not in item:
            raise ApiError(400, f"Operation \"{op}\" requires a member named \"value\".")
        out.append((op, _pointer(path), item.get("value")))
    return out


@router.patch("/images/{image_id}")
async def update_image(image_id: str, call: ImageCall = Depends(image_call)):
    kind = call.request.headers.get("content-type", "").split(";")[0].strip()
    if kind not in PATCH_TYPES:
        raise ApiError(415, f"Unsupported Content-Type: {kind or 'none'}; use {PATCH_TYPES[0]}",
                       headers={"Accept-Patch": ", ".join(PATCH_TYPES)})
    row = await sync(call.images.images.update, call.ctx, image_id, _operations(await read_json(call)))
    return _view(call, row)


@router.delete("/images/{image_id}", status_code=204)
async def delete_image(image_id: str, call: ImageCall = Depends(image_call)):
    await sync(call.images.images.delete, call.ctx, image_id)
    return Response(status_code=204)


@router.post("/images/{image_id}/actions/deactivate", status_code=204)
async def deactivate(image_id: str, call: ImageCall = Depends(image_call)):
    await sync(call.images.images.deactivate, call.ctx, image_id)
    return Response(status_code=204)


@router.post("/images/{image_id}/actions/reactivate", status_code=204)
async def reactivate(image_id: str, call: ImageCall = Depends(image_call)):
    await sync(call.images.images.reactivate, call.ctx, image_id)
    return Response(status_code=204)


@router.put("/images/{image_id}/tags/{tag}", status_code=204)
async def add_tag(image_id: str, tag: str, call: ImageCall = Depends(image_call)):
    await sync(call.images.images.add_tag, call.ctx, image_id, tag)
    return Response(status_code=204)


@router.delete("/images/{image_id}/tags/{tag}", status_code=204)
async def delete_tag(image_id: str, tag: str, call: ImageCall = Depends(image_call)):
    await sync(call.images.images.delete_tag, call.ctx, image_id, tag)
    return Response(status_code=204)
