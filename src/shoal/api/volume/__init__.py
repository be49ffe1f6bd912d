"""The Block Storage v3 (Cinder) API, served under /volume."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shoal.api.openstack.call import public_origin
from shoal.api.openstack.routes import add_routes

from . import (attachments, empty_ids, encryption_types, extensions, group_types, groups, hosts, misc, progress,
               qos_specs, quotas, services, snapshots, transfers, types, volumes)
from .call import VOLUME_API

PREFIX = "/volume"


def version_document(request: Request) -> dict:
    root = public_origin(request) + PREFIX
    return {"versions": [{
        "id": "v3.0", "status": "CURRENT", "version": str(VOLUME_API.maximum), "min_version": str(VOLUME_API.minimum),
        "updated": "2024-01-01T00:00:00Z",
        "links": [{"rel": "self", "href": f"{root}/v3/"},
                  {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }]}


def mount(app: FastAPI) -> None:
    @app.get(PREFIX, include_in_schema=False)
    @app.get(PREFIX + "/", include_in_schema=False)
    async def volume_root(request: Request):
        return JSONResponse(version_document(request), status_code=300)

    @app.get(PREFIX + "/v3", include_in_schema=False)
    @app.get(PREFIX + "/v3/", include_in_schema=False)
    async def volume_v3(request: Request):
        return version_document(request)

    # Project-less paths first (legal since 3.67), so /v3/volumes/detail is never a project id.
    for prefix, tag in ((PREFIX + "/v3", "volume"), (PREFIX + "/v3/{project_id}", "volume (project-scoped)")):
        for module in (volumes, progress, snapshots, types, attachments, misc, quotas, qos_specs, encryption_types,
                       transfers, group_types, groups, hosts, extensions, services, empty_ids):
            add_routes(app, module.router, prefix, [tag])

    @app.get(PREFIX + "/v3/{project_id}", include_in_schema=False)
    async def volume_v3_project(request: Request, project_id: str):
        return version_document(request)
