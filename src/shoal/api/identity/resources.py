"""/identity/v3 projects, users, roles, role assignments, domains, services, endpoints, regions:
enough of Keystone for `openstack project|user|role ...` to provision Shoal."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read
from shoal.services.identity.identity import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME

from . import queries
from .catalog import endpoints_view, services_view
from .common import IdentityCall, identity_body, identity_call
from .views import domain_view, project_view, role_view, user_view

router = APIRouter()


def _default_domain_only(q: queries.Members) -> bool:
    """False when a filter names another domain: the answer is then an empty list."""
    return q.domain_id in (None, DEFAULT_DOMAIN_ID)


# ---- domains ---------------------------------------------------------------------------


@router.get("/domains", openapi_extra=queries.NAMED)
def list_domains(call: IdentityCall = Depends(identity_call)):
    call.caller  # noqa: B018 - any valid token may see the one domain
    q = read(call, queries.Named)
    domains = [domain_view(call)] if q.name in (None, DEFAULT_DOMAIN_NAME) else []
    return {"domains": domains, "links": call.self_link()}


@router.get("/domains/{domain_id}")
def show_domain(domain_id: str, call: IdentityCall = Depends(identity_call)):
    call.caller  # noqa: B018
    if domain_id != DEFAULT_DOMAIN_ID:
        raise ApiError(404, f"Could not find domain: {domain_id}.")
    return {"domain": domain_view(call)}


@router.post("/domains")
def create_domain(call: IdentityCall = Depends(identity_call)):
    call.caller  # noqa: B018
    raise ApiError(403, "Shoal has one domain, Default; domains cannot be created.")


# ---- projects --------------------------------------------------------------------------


@router.get("/projects", openapi_extra=queries.MEMBERS)
def list_projects(call: IdentityCall = Depends(identity_call)):
    caller = call.caller  # a 401 before a 400
    q = read(call, queries.Members)
    rows = call.services.identity.list_projects(caller, q.name, q.enabled)
    if not _default_domain_only(q) or q.parent_id not in (None, DEFAULT_DOMAIN_ID):
        rows = []
    return {"projects": [project_view(call, p) for p in rows], "links": call.self_link()}


@router.post("/projects", status_code=201)
async def create_project(request: Request, call: IdentityCall = Depends(identity_call)):
    fields = await identity_body(request, "project")
    return {"project": project_view(call, call.services.identity.create_project(call.caller, fields))}


@router.get("/projects/{project_id}")
def show_project(project_id: str, call: IdentityCall = Depends(identity_call)):
    return {"project": project_view(call, call.services.identity.get_project(call.caller, project_id))}


@router.patch("/projects/{project_id}")
async def update_project(project_id: str, request: Request, call: IdentityCall = Depends(identity_call)):
    fields = await identity_body(request, "project")
    return {"project": project_view(call, call.services.identity.update_project(call.caller, project_id, fields))}


@router.delete("/projects/{project_id}", status_code=204)
def delete_project(project_id: str, call: IdentityCall = Depends(identity_call)):
    call.services.identity.delete_project(call.caller, project_id)
    return Response(status_code=204)


# ---- users -----------------------------------------------------------------------------


@router.get("/users", openapi_extra=queries.MEMBERS)
def list_users(call: IdentityCall = Depends(identity_call)):
    caller = call.caller
    q = read(call, queries.Members)
    rows = call.services.identity.list_users(caller, q.name, q.enabled)
    if not _default_domain_only(q):
        rows = []
    return {"users": [user_view(call, u) for u in rows], "links": call.self_link()}


@router.post("/users", status_code=201)
async def create_user(request: Request, call: IdentityCall = Depends(identity_call)):
    fields = await identity_body(request, "user")
    return {"user": user_view(call, call.services.identity.create_user(call.caller, fields))}


@router.get("/users/{user_id}")
def show_user(user_id: str, call: IdentityCall = Depends(identity_call)):
    return {"user": user_view(call, call.services.identity.get_user(call.caller, user_id))}


@router.patch("/users/{user_id}")
async def update_user(user_id: str, request: Request, call: IdentityCall = Depends(identity_call)):
    fields = await identity_body(request, "user")
    return {"user": user_view(call, call.services.identity.update_user(call.caller, user_id, fields))}


@router.delete("/users/{user_id}", status_code=204)
def delete_user(user_id: str, call: IdentityCall = Depends(identity_call)):
    call.services.identity.delete_user(call.caller, user_id)
    return Response(status_code=204)


@router.post("/users/{user_id}/password", status_code=204)
async def change_password(user_id: str, request: Request, call: IdentityCall = Depends(identity_call)):
    fields = await identity_body(request, "user")
    call.services.identity.change_password(call.caller, user_id, fields.get("original_password"),
                                           fields.get("password"))
    return Response(status_code=204)


@router.get("/users/{user_id}/projects")
def user_projects(user_id: str, call: IdentityCall = Depends(identity_call)):
    rows = call.services.identity.user_projects(call.caller, user_id)
    return {"projects": [project_view(call, p) for p in rows], "links": call.self_link()}


# ---- roles and assignments -------------------------------------------------------------


@router.get("/roles", openapi_extra=queries.NAMED)
def list_roles(call: IdentityCall = Depends(identity_call)):
    caller = call.caller
    rows = call.services.identity.list_roles(caller, read(call, queries.Named).name)
    return {"roles": [role_view(call, r) for r in rows], "links": call.self_link()}


@router.post("/roles", status_code=201)
async def create_role(request: Request, call: IdentityCall = Depends(identity_call)):
    fields = await identity_body(request, "role")
    return {"role": role_view(call, call.services.identity.create_role(call.caller, fields))}


@router.get("/roles/{role_id}")
def show_role(role_id: str, call: IdentityCall = Depends(identity_call)):
    return {"role": role_view(call, call.services.identity.get_role(call.caller, role_id))}


@router.delete("/roles/{role_id}", status_code=204)
def delete_role(role_id: str, call: IdentityCall = Depends(identity_call)):
    call.services.identity.delete_role(call.caller, role_id)
    return Response(status_code=204)


@router.get("/projects/{project_id}/users/{user_id}/roles")
def project_user_roles(project_id: str, user_id: str, call: IdentityCall = Depends(identity_call)):
    rows = call.services.identity.project_user_roles(call.caller, project_id, user_id)
    return {"roles": [role_view(call, r) for r in rows], "links": call.self_link()}


@router.put("/projects/{project_id}/users/{user_id}/roles/{role_id}", status_code=204)
def grant(project_id: str, user_id: str, role_id: str, call: IdentityCall = Depends(identity_call)):
    call.services.identity.grant(call.caller, project_id, user_id, role_id)
    return Response(status_code=204)


@router.api_route("/projects/{project_id}/users/{user_id}/roles/{role_id}", methods=["GET", "HEAD"],
                  status_code=204)
def check_grant(project_id: str, user_id: str, role_id: str, call: IdentityCall = Depends(identity_call)):
    call.services.identity.check_grant(call.caller, project_id, user_id, role_id)
    return Response(status_code=204)


@router.delete("/projects/{project_id}/users/{user_id}/roles/{role_id}", status_code=204)
def revoke_grant(project_id: str, user_id: str, role_id: str, call: IdentityCall = Depends(identity_call)):
    call.services.identity.revoke_grant(call.caller, project_id, user_id, role_id)
    return Response(status_code=204)


@router.get("/role_assignments", openapi_extra=queries.ASSIGNMENTS)
def role_assignments(call: IdentityCall = Depends(identity_call)):
    caller = call.caller
    q = read(call, queries.Assignments)
    names = bool(q.include_names)
    if q.unmatched:
        rows = []  # no groups, no domain or system scope in Shoal
    else:
        rows = call.services.identity.assignments(caller, q.user_id, q.project_id, q.role_id)
    out = []
    for assignment, user, project, role in rows:
        domain = {"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME}
        item = {"role": {"id": role.id}, "user": {"id": user.id}, "scope": {"project": {"id": project.id}},
                "links": {"assignment": f"{call.v3}/projects/{project.id}/users/{user.id}/roles/{role.id}"}}
        if names:
            item["role"]["name"] = role.name
            item["user"].update(name=user.name, domain=domain)
            item["scope"]["project"].update(name=project.name, domain=domain)
        out.append(item)
    return {"role_assignments": out, "links": call.self_link()}


# ---- the catalog as resources (read-only) ----------------------------------------------


@router.get("/services")
def list_services(call: IdentityCall = Depends(identity_call)):
    call.caller  # noqa: B018
    return {"services": services_view(call), "links": call.self_link()}


@router.get("/endpoints")
def list_endpoints(call: IdentityCall = Depends(identity_call)):
    call.caller  # noqa: B018
    return {"endpoints": endpoints_view(call), "links": call.self_link()}


def _region(call: IdentityCall) -> dict:
    region = call.services.settings.identity.region
    return {"id": region, "description": "", "parent_region_id": None,
            "links": {"self": f"{call.v3}/regions/{region}"}}


@router.get("/regions")
def list_regions(call: IdentityCall = Depends(identity_call)):
    call.caller  # noqa: B018 - any valid token may see the one region of the catalog
    return {"regions": [_region(call)], "links": call.self_link()}


@router.get("/regions/{region_id}")
def show_region(region_id: str, call: IdentityCall = Depends(identity_call)):
    call.caller  # noqa: B018
    if region_id != call.services.settings.identity.region:
        raise ApiError(404, f"Could not find region: {region_id}.")
    return {"region": _region(call)}
