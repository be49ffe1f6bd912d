"""The Identity v3 API (Keystone-compatible), served under /identity."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shoal.api.openstack.call import public_origin
from shoal.api.openstack.routes import add_routes

from . import resources, tokens
from .common import PREFIX


def _version(request: Request) -> dict:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{public_origin(request)}{PREFIX}/v3/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}


def mount(app: FastAPI) -> None:
    @app.get(PREFIX, include_in_schema=False)
    @app.get(PREFIX + "/", include_in_schema=False)
    async def identity_root(request: Request):
        return JSONResponse({"versions": {"values": [_version(request)]}}, status_code=300)

    @app.get(PREFIX + "/v3", include_in_schema=False)
    @app.get(PREFIX + "/v3/", include_in_schema=False)
    async def identity_v3(request: Request):
        return {"version": _version(request)}

    for module in (tokens, resources):
        add_routes(app, module.router, PREFIX + "/v3", ["identity"])
