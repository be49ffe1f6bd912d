"""Security services (Manila's /security-services): kept per project and shown as
Manila shows them. No backend here joins a directory (every one is
driver_handles_share_servers=False, so no share network uses them); they are
stored for the clients that manage them, checked as Manila checks them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shoal.db.security_services import SecurityService

from ..common import core as c
from ..common.checks import MAX_DESCRIPTION, check_text
from ..common.context import RequestContext
from ..common.errors import Invalid, NotFound

TYPES = ("ldap", "kerberos", "active_directory")
TEXT_FIELDS = ("name", "dns_ip", "ou", "server", "domain", "user", "password", "default_ad_site")
FILTERS = ("name", "id", "type", "user", "server", "dns_ip", "domain")  # Manila's search options


def _checked(fields: dict) -> dict:
    out = {}
    for key in (*TEXT_FIELDS, "description"):
        if key in fields:
            value = fields[key]
            if value is not None and not isinstance(value, str):
                raise Invalid(f"Invalid input received: {key} must be a string")
            check_text(key, value, MAX_DESCRIPTION if key == "description" else 255)
            out[key] = value
    return out


class SecurityServices:
    def __init__(self, core: c.Core):
        self.core = core

    @staticmethod
    def _find(session, ctx: RequestContext, ss_id: str) -> SecurityService:
        row = session.get(SecurityService, ss_id)
        if row is None or not ctx.reaches(row.project_id):
            raise NotFound(f"Security service {ss_id} could not be found.")
        return row

    def create(self, ctx: RequestContext, fields: Any) -> SecurityService:
        if not isinstance(fields, dict):
            raise Invalid("Invalid input received: security_service must be an object")
        kind = fields.get("type")
        if kind not in TYPES:
            raise Invalid(f"Invalid input received: Invalid type {kind!r} specified for security service. "
                          f"Valid types are {','.join(TYPES)}")
        values = _checked(fields)
        if kind == "active_directory" and values.get("server") and values.get("default_ad_site"):
            raise Invalid("Invalid input received: Cannot create security service because both server and "
                          "'default_ad_site' were provided, Specify either server or 'default_ad_site'.")
        with self.core.db.session() as session:
            row = SecurityService(project_id=ctx.project_id, type=kind, **values)
            session.add(row)
            session.flush()
            session.refresh(row)
            return row

    def get(self, ctx: RequestContext, ss_id: str) -> SecurityService:
        with self.core.db.session() as session:
            return self._find(session, ctx, ss_id)

    def list(self, ctx: RequestContext, all_tenants: bool, filters: dict[str, str]) -> list[SecurityService]:
        query = select(SecurityService).order_by(SecurityService.created_at, SecurityService.id)
        if not (all_tenants and ctx.is_admin):
            query = query.where(SecurityService.project_id == ctx.project_id)
        with self.core.db.session() as session:
            rows = list(session.scalars(query))
        # As Manila: a member's filters other than its search options are dropped; an
        # administrator's are kept, and one naming no field matches nothing.
        wanted = filters if ctx.is_admin else {k: v for k, v in filters.items() if k in FILTERS}
        missing = object()
        return [r for r in rows
                if all(k in FILTERS and getattr(r, k, missing) == v for k, v in wanted.items())]

    def update(self, ctx: RequestContext, ss_id: str, fields: Any) -> SecurityService:
        if not isinstance(fields, dict):
            raise Invalid("Invalid input received: security_service must be an object")
        values = _checked(fields)
        with self.core.db.session() as session:
            row = self._find(session, ctx, ss_id)
            server = values.get("server", row.server)
            if row.type == "active_directory" and server and values.get("default_ad_site"):
                raise Invalid("Invalid input received: Cannot update security service because both server "
                              "and 'default_ad_site' were provided.")
            for key, value in values.items():
                setattr(row, key, value)
            return row

    def delete(self, ctx: RequestContext, ss_id: str) -> None:
        with self.core.db.session() as session:
            session.delete(self._find(session, ctx, ss_id))
