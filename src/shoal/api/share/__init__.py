"""The Shared File Systems v2 (Manila) API, served under /share."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shoal.api.openstack.call import public_origin
from shoal.api.openstack.errors import ApiError, fault
from shoal.api.openstack.routes import add_routes

from . import (
    group_types,
    instances,
    misc,
    quotas,
    replicas,
    resource_locks,
    security_services,
    share_group_snapshots,
    share_groups,
    share_network_subnets,
    share_networks,
    shares,
    snapshot_metadata,
    snapshots,
    transfers,
    types,
)
from .call import SHARE_API

PREFIX = "/share"
# A project id as Keystone makes them: 32 hex digits, or a UUID with dashes.
PROJECT_ID = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$")


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
        # Manila negotiates here too: the version asked for is answered in the header
        # (the minimum without one), a malformed one is 400, one out of range 406.
        try:
            _, headers = SHARE_API.negotiate(request.headers)
        except ApiError as exc:
            return fault(exc.code, exc.message, exc.headers, request)
        return JSONResponse(version_document(request), headers=headers)

    # Project-less paths first, so that /v2/shares/detail is never read as a project id.
    for prefix, tag in ((PREFIX + "/v2", "share"), (PREFIX + "/v2/{project_id}", "share (project-scoped)")):
        for module in (shares, snapshots, snapshot_metadata, types, misc, quotas, replicas, instances, transfers,
                       group_types, security_services, share_networks, share_network_subnets, resource_locks):
            add_routes(app, module.router, prefix, [tag])
        add_routes(app, share_groups.router, prefix, [tag])
        add_routes(app, share_group_snapshots.router, prefix, [tag])

    @app.get(PREFIX + "/v2/{project_id}", include_in_schema=False)
    async def share_v2_project(request: Request, project_id: str):
        # The endpoint with a project id in it (clients look there for versions); any
        # other one-segment path is a collection Shoal does not serve: 404, as Manila.
        if not PROJECT_ID.match(project_id):
            return JSONResponse({"itemNotFound": {"code": 404, "message": "The resource could not be found."}},
                                status_code=404)
        return version_document(request)
