"""One metadata item of a volume or a snapshot (`.../metadata/{key}`), as Cinder answers it."""

from __future__ import annotations

from shoal.api.openstack.errors import ApiError

from .call import VolumeCall


def item_of(metadata: dict, key: str) -> dict:
    """`{"meta": {key: value}}`; 404 when there is no such item."""
    if key not in metadata:
        raise ApiError(404, f"Metadata item was not found: {key}")
    return {"meta": {key: metadata[key]}}


async def item_body(call: VolumeCall, key: str) -> dict:
    """The `meta` of a PUT of one item: exactly the item the URL names."""
    body = await call.body("meta")
    if set(body) != {key}:
        raise ApiError(400, "Invalid input received: the body must hold exactly the item named in the URL")
    return body
