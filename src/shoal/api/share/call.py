"""The per-request state of a Shared File Systems v2 call: caller, microversion, URLs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from shoal.api.openstack.auth import noauth_context
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.microversions import Version, VersionRange
from shoal.services import Services
from shoal.services.context import RequestContext

# 2.82+ lets openstacksdk use the new access-rule API; nothing above 2.84 is implemented.
SHARE_API = VersionRange("shared-file-system", "X-OpenStack-Manila-API-Version", Version(2, 0), Version(2, 84))


@dataclass
class ShareCall:
    request: Request
    services: Services
    ctx: RequestContext
    version: Version
    url_project: str | None

    @property
    def base(self) -> str:
        public = self.services.settings.api.public_url
        root = public.rstrip("/") if public else str(self.request.base_url).rstrip("/")
        return f"{root}/share"

    def link(self, collection: str, item_id: str) -> list[dict]:
        project = self.ctx.project_id
        return [
            {"href": f"{self.base}/v2/{project}/{collection}/{item_id}", "rel": "self"},
            {"href": f"{self.base}/{project}/{collection}/{item_id}", "rel": "bookmark"},
        ]

    def v(self, text: str) -> bool:
        return self.version.at_least(text)

    def query(self, name: str, default: Any = None) -> Any:
        return self.request.query_params.get(name, default)

    def flag(self, name: str) -> bool:
        return str(self.query(name, "")).lower() in ("1", "true", "yes", "y", "on")

    async def body(self, key: str | None = None, *alternatives: str) -> Any:
        """The JSON body (it must be an object); with `key`, the object under it."""
        raw = await self.request.body()
        try:
            data = json.loads(raw or b"null")
        except ValueError:
            raise ApiError(400, "Malformed request body: not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Malformed request body: a JSON object is expected")
        if key is None:
            return data
        for name in (key, *alternatives):
            if name in data:
                inner = data[name]
                if inner is not None and not isinstance(inner, dict):
                    raise ApiError(400, f"Malformed request body: '{name}' must be an object")
                return inner if inner is not None else {}
        raise ApiError(400, f"Malformed request body: missing '{key}'")


def share_call(request: Request, response: Response) -> ShareCall:
    version, headers = SHARE_API.negotiate(request.headers)
    response.headers.update(headers)
    services: Services = request.app.state.services
    url_project = request.path_params.get("project_id")
    ctx = noauth_context(request, url_project, services.settings.api.default_project)
    return ShareCall(request, services, ctx, version, url_project)


def int_query(call: ShareCall, name: str) -> int | None:
    value = call.query(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{name} must be a non-negative integer") from None
    if number < 0:
        raise ApiError(400, f"{name} must be a non-negative integer")
    return number
