"""The Image service v2 (Glance) API, served under /image when `[image] enabled`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shoal.api.openstack.call import public_origin
from shoal.api.openstack.routes import add_routes

from . import data, images, info, members

PREFIX = "/image"
# Glance's versions: 2.16 is 2024.1's; clients pick the newest they know.
VERSIONS = ("2.16", "2.15", "2.9", "2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1", "2.0")


def versions_document(request: Request) -> dict:
    href = f"{public_origin(request)}{PREFIX}/v2/"
    return {"versions": [{"id": f"v{v}", "status": "CURRENT" if n == 0 else "SUPPORTED",
                          "links": [{"rel": "self", "href": href}]} for n, v in enumerate(VERSIONS)]}


def mount(app: FastAPI) -> None:
    @app.get(PREFIX, include_in_schema=False)
    @app.get(PREFIX + "/", include_in_schema=False)
    async def image_root(request: Request):
        return JSONResponse(versions_document(request), status_code=300)

    @app.get(PREFIX + "/versions", include_in_schema=False)
    async def image_versions(request: Request):
        return versions_document(request)

    for module in (images, data, members, info):
        add_routes(app, module.router, PREFIX + "/v2", ["image"])
