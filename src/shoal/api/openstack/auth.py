"""Who is calling.

`identity` (the default) and `keystone`: the caller presents a token in `X-Auth-Token`,
issued by Shoal's own Identity v3 or by an external Keystone; its project and roles
decide what the caller may do. A token scoped to one project cannot be used on another
project's path, and an unscoped token cannot be used on the service APIs at all.

`noauth` (development; Cinder's and Manila's own noauth style): any token is accepted
and the caller is an admin; the project comes from the URL, else from an `X-Auth-Token`
of the form `user:project`, else `X-Project-Id`, else the configured default project.
"""

from __future__ import annotations

import re

from fastapi import Request

from shoal.services.common.context import RequestContext
from shoal.services.common.errors import Unauthorized

from .errors import ApiError
from .request_ids import request_id_of

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,255}$")
AUTH_REQUIRED = "The request you have made requires authentication."


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
    return RequestContext(user_id=user, project_id=project, roles=("admin", "member", "reader"),
                          request_id=request_id_of(request))


def unauthorized(request: Request, message: str = AUTH_REQUIRED) -> ApiError:
    """401 with the header that tells a client where to get a token."""
    from .call import public_origin

    services = request.app.state.services
    if services.settings.api.auth == "keystone":
        where = services.settings.keystone.auth_url or ""
    else:
        where = f"{public_origin(request)}/identity/v3"
    return ApiError(401, message, headers={"WWW-Authenticate": f'Keystone uri="{where}"'})


def token_info(request: Request):
    """The TokenInfo of the request's token (identity or keystone mode), or a 401."""
    services = request.app.state.services
    token = request.headers.get("X-Auth-Token")
    if not token:
        raise unauthorized(request)
    try:
        if services.settings.api.auth == "keystone":
            return services.keystone_tokens.validate(token)
        return services.identity.validate_token(token)
    except Unauthorized as exc:
        raise unauthorized(request, str(exc) or AUTH_REQUIRED) from None


def validated_caller(request: Request, url_project: str | None) -> RequestContext:
    """The RequestContext of a service API call whose token known_caller did not
    know: validated now (a database read, or a call to Keystone)."""
    return _context(request, token_info(request), url_project)


def known_caller(request: Request, url_project: str | None) -> RequestContext | None:
    """The caller when it is known without I/O (noauth, or a token validated
    recently); None when the token has to be validated (database or Keystone)."""
    services = request.app.state.services
    if services.settings.api.auth == "noauth":
        return noauth_context(request, url_project, services.settings.api.default_project)
    validator = services.keystone_tokens if services.settings.api.auth == "keystone" else services.identity
    info = validator.cached(request.headers.get("X-Auth-Token") or "")
    return None if info is None else _context(request, info, url_project)


def _context(request: Request, info, url_project: str | None) -> RequestContext:
    if info.project_id is None:
        raise unauthorized(request, "The token is not scoped to a project.")
    if url_project is not None and url_project != info.project_id:
        raise unauthorized(request, "The token is scoped to another project than the one in the URL.")
    return RequestContext(user_id=info.user_id, project_id=info.project_id, roles=info.roles,
                          request_id=request_id_of(request), cross_project=True,
                          auth_token=request.headers.get("X-Auth-Token"))
