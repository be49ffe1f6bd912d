"""The caller of an Image API request (Glance has no project in its URLs and no microversions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from shoal.api.openstack.auth import known_caller, validated_caller
from shoal.api.openstack.bodies import unsafe_text
from shoal.api.openstack.call import parse_json
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import refuse_nul
from shoal.services import Services
from shoal.services.common.context import RequestContext


@dataclass
class ImageCall:
    request: Request
    services: Services
    ctx: RequestContext
    root: ClassVar[str] = "image"  # the API a query model is read for (api/openstack/queries.read)

    @property
    def images(self):
        return self.services.images


async def read_json(call: ImageCall, empty: bytes = b"null") -> Any:
    """The request's JSON (`empty` when there is none): bounded in depth before it is parsed,
    and its text valid Unicode without NUL (such text could be neither stored nor answered)."""
    data = parse_json(await call.request.body(), empty)
    if (where := unsafe_text(data, "")) is not None:
        raise ApiError(400, f"Invalid input for field '{where}': it must be valid Unicode text without NUL characters.")
    return data


async def image_call(request: Request) -> ImageCall:
    services: Services = request.app.state.services
    ctx = known_caller(request, None) or await run_in_threadpool(validated_caller, request, None)
    if request.method not in ("GET", "HEAD") and not ctx.can_write:
        raise ApiError(403, "Policy doesn't allow this operation: the reader role may only read.")
    call = ImageCall(request, services, ctx)
    refuse_nul(call)
    return call
