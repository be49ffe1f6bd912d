"""/identity/v3/auth/...: issue, validate and revoke tokens; what a token may reach."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from shoal.api.openstack.auth import unauthorized
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read
from shoal.services.common.errors import Unauthorized

from . import queries
from .catalog import catalog
from .common import IdentityCall, identity_body, identity_call
from .views import iso, project_view, token_view

router = APIRouter()


def _body(call: IdentityCall, info, nocatalog: bool) -> dict:
    cat = None if nocatalog or info.project_id is None else catalog(call, info.project_id)
    issued = iso(info.issued_at) if info.issued_at else iso(info.expires_at)
    return token_view(info, list(info.methods), issued, call.services.identity.role_ids(), cat)


def _nocatalog(call: IdentityCall) -> bool:
    return read(call, queries.Token).nocatalog is not None


@router.post("/auth/tokens", status_code=201, openapi_extra=queries.TOKEN)
async def issue(request: Request, call: IdentityCall = Depends(identity_call)):
    auth = await identity_body(request, "auth")
    token, info = call.services.identity.authenticate(auth)
    body = _body(call, info, _nocatalog(call))
    return JSONResponse(body, status_code=201, headers={"X-Subject-Token": token})


def _subject(call: IdentityCall):
    """The token named by X-Subject-Token, which the caller may look at: its own, or any for an admin."""
    caller = call.caller
    subject = call.request.headers.get("X-Subject-Token")
    if not subject:
        raise ApiError(400, "X-Subject-Token is required.")
    try:
        info = call.services.identity.validate_token(subject)
    except Unauthorized as exc:
        raise ApiError(404, f"Could not find token: {exc}") from None
    if "admin" not in caller.roles and caller.user_id != info.user_id:
        raise ApiError(403, "You are not authorized to perform the requested action: identity:validate_token.")
    return subject, info


@router.get("/auth/tokens", openapi_extra=queries.TOKEN)
def validate(call: IdentityCall = Depends(identity_call)):
    _token, info = _subject(call)
    return _body(call, info, _nocatalog(call))


@router.head("/auth/tokens")
def check(call: IdentityCall = Depends(identity_call)):
    _subject(call)
    return Response(status_code=200)


@router.delete("/auth/tokens", status_code=204)
def revoke(call: IdentityCall = Depends(identity_call)):
    token, _info = _subject(call)
    call.services.identity.revoke_token(token)
    return Response(status_code=204)


@router.get("/auth/projects")
def my_projects(call: IdentityCall = Depends(identity_call)):
    projects = call.services.identity.user_projects(call.caller, call.caller.user_id)
    return {"projects": [project_view(call, p) for p in projects], "links": call.self_link()}


@router.get("/auth/catalog")
def my_catalog(call: IdentityCall = Depends(identity_call)):
    if call.caller.project_id is None:
        raise unauthorized(call.request, "The token is not scoped to a project.")
    return {"catalog": catalog(call, call.caller.project_id), "links": call.self_link()}


@router.get("/auth/domains")
def my_domains(call: IdentityCall = Depends(identity_call)):
    call.caller  # noqa: B018 - authenticates; domain-scoped tokens are not offered
    return {"domains": [], "links": call.self_link()}


@router.get("/auth/system")
def my_system(call: IdentityCall = Depends(identity_call)):
    call.caller  # noqa: B018 - authenticates; system-scoped tokens are not offered
    return {"system": [], "links": call.self_link()}
