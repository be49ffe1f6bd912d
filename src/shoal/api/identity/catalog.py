"""The service catalog: every API of this one process, under both service type names
that clients look for, with public, internal and admin interfaces."""

from __future__ import annotations

import uuid

from .common import IdentityCall

# (service type, service name, path below the origin); the volume URL carries the project.
SERVICES = (
    ("identity", "keystone", "/identity/v3"),
    ("block-storage", "cinder", "/volume/v3/{project_id}"),
    ("volumev3", "cinderv3", "/volume/v3/{project_id}"),
    ("shared-file-system", "manila", "/share/v2"),
    ("sharev2", "manilav2", "/share/v2"),
    ("image", "glance", "/image"),
)
INTERFACES = ("public", "internal", "admin")
_NAMESPACE = uuid.UUID("5b7c1f5e-2d4a-4c57-9a43-2f1e8c0d6a11")


def _id(*parts: str) -> str:
    return uuid.uuid5(_NAMESPACE, "/".join(parts)).hex  # stable across restarts


def catalog(call: IdentityCall, project_id: str | None) -> list[dict]:
    origin = call.v3.removesuffix("/identity/v3")
    region = call.services.settings.identity.region
    out = []
    for stype, name, path in SERVICES:
        if stype == "image" and call.services.images is None:
            continue  # [image] enabled = false
        if "{project_id}" in path and project_id is None:
            path = path.replace("/{project_id}", "")
        url = origin + path.replace("{project_id}", project_id or "")
        out.append({"type": stype, "name": name, "id": _id(stype), "endpoints": [
            {"id": _id(stype, interface), "interface": interface, "region": region, "region_id": region, "url": url}
            for interface in INTERFACES]})
    return out


def services_view(call: IdentityCall) -> list[dict]:
    return [{"id": _id(stype), "type": stype, "name": name, "enabled": True,
             "links": {"self": f"{call.v3}/services/{_id(stype)}"}} for stype, name, _ in SERVICES]


def endpoints_view(call: IdentityCall) -> list[dict]:
    origin = call.v3.removesuffix("/identity/v3")
    region = call.services.settings.identity.region
    return [{"id": _id(stype, interface), "service_id": _id(stype), "interface": interface, "region": region,
             "region_id": region, "enabled": True, "url": origin + path.replace("{project_id}", "%(project_id)s"),
             "links": {"self": f"{call.v3}/endpoints/{_id(stype, interface)}"}}
            for stype, _name, path in SERVICES for interface in INTERFACES]
