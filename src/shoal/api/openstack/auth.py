"""Who is calling. In `noauth` mode (Cinder's and Manila's own noauth style) any
token is accepted and the caller is an admin; the project comes from the URL,
else from an `X-Auth-Token` of the form `user:project`, else `X-Project-Id`,
else the configured default project."""

from __future__ import annotations

import re

from fastapi import Request

from shoal.services.context import RequestContext

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,255}$")


def noauth_context(request: Request, url_project: str | None, default_project: str) -> RequestContext:
    token = request.headers.get("X-Auth-Token", "")
    user, project = "admin", None
    if ":" in token:
        user, _, project = token.partition(":")
    project = url_project or project or request.headers.get("X-Project-Id") or default_project
    user = request.headers.get("X-User-Id") or user or "admin"
    if not _SAFE_ID.match(project):
        project = default_project
    if not _SAFE_ID.match(user):
        user = "admin"
    request_id = request.headers.get("X-OpenStack-Request-Id")
    return RequestContext(user_id=user, project_id=project, roles=("admin", "member", "reader"), request_id=request_id)
