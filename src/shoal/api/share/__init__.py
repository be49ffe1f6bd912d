"""The Shared File Systems v2 (Manila) API, served under /share."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shoal.api.openstack.call import public_origin
from shoal.api.openstack.routes import add_routes

from . import misc, quotas, replicas, shares, snapshots, types
from .call import SHARE_API

PREFIX = "/share"


def version_document(request: Request) -> dict:
    root = public_origin(request) + PREFIX
    return {"versions": [{
        "id": "v2.0", "status": "CURRENT", "version": str(SHARE_API.maximum), "min_version": str(SHARE_API.minimum),
        "updated": "2024-01-01T00:00:00Z",
        "links": [{"rel": "self", "href": f"{root}/v2/"},
                  {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.share+json;version=1"}],
    }]}


def mount(app: FastAPI) -> None:
    @app.get(PREFIX, include_in_schema=False)
    @app.get(PREFIX + "/", include_in_schema=False)
    async def share_root(request: Request):
        return JSONResponse(version_document(request), status_code=300)

    @app.get(PREFIX + "/v2", include_in_schema=False)
    @app.get(PREFIX + "/v2/", include_in_schema=False)
    async def share_v2(request: Request):
        return version_document(request)

    # Project-less paths first, so that /v2/shares/detail is never read as a project id.
    for prefix, tag in ((PREFIX + "/v2", "share"), (PREFIX + "/v2/{project_id}", "share (project-scoped)")):
        for module in (shares, snapshots, types, misc, quotas, replicas):
            add_routes(app, module.router, prefix, [tag])

    @app.get(PREFIX + "/v2/{project_id}", include_in_schema=False)
    async def share_v2_project(request: Request, project_id: str):
        return version_document(request)
