"""Keystone v3 bodies for Shoal's identity objects."""

from __future__ import annotations

from shoal.services.identity.identity import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME
from shoal.services.identity.tokens import TokenInfo

from .common import IdentityCall


def iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def domain_view(call: IdentityCall) -> dict:
    return {"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME, "description": "The default domain",
            "enabled": True, "tags": [], "options": {}, "links": {"self": f"{call.v3}/domains/{DEFAULT_DOMAIN_ID}"}}


def project_view(call: IdentityCall, project) -> dict:
    return {"id": project.id, "name": project.name, "domain_id": project.domain_id,
            "description": project.description or "", "enabled": project.enabled, "is_domain": False,
            "parent_id": project.domain_id, "tags": [], "options": {},
            "links": {"self": f"{call.v3}/projects/{project.id}"}}


def user_view(call: IdentityCall, user) -> dict:
    view = {"id": user.id, "name": user.name, "domain_id": user.domain_id, "enabled": user.enabled,
            "password_expires_at": None, "options": {}, "links": {"self": f"{call.v3}/users/{user.id}"}}
    for key in ("default_project_id", "description", "email"):
        if getattr(user, key):
            view[key] = getattr(user, key)
    return view


def role_view(call: IdentityCall, role) -> dict:
    view = {"id": role.id, "name": role.name, "domain_id": None, "options": {},
            "links": {"self": f"{call.v3}/roles/{role.id}"}}
    if role.description:
        view["description"] = role.description
    return view


def token_view(info: TokenInfo, methods: list[str], issued_at: str, role_ids: dict[str, str],
               catalog: list | None) -> dict:
    domain = {"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME}
    token = {
        "methods": methods, "expires_at": iso(info.expires_at), "issued_at": issued_at,
        "audit_ids": [info.audit_id], "is_domain": False,
        "user": {"id": info.user_id, "name": info.user_name, "domain": domain, "password_expires_at": None},
    }
    if info.project_id is not None:
        token["project"] = {"id": info.project_id, "name": info.project_name, "domain": domain}
        token["roles"] = [{"id": role_ids.get(name, name), "name": name} for name in info.roles]
        if catalog is not None:
            token["catalog"] = catalog
    return {"token": token}
