"""Security services (Manila): the LDAP, Kerberos or Active Directory servers a share
network names. Records of the caller's project; an administrator lists every
project's with `all_tenants`. Shoal's backends serve no share servers, so no share
server ever joins one: every field stays updatable, as Manila allows while a
network has no share servers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shoal.db.share_networks import (
    SecurityService,
    ShareNetwork,
    ShareNetworkSecurityService,
)

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound

TYPES = ("ldap", "kerberos", "active_directory")
FIELDS = ("name", "description", "dns_ip", "server", "domain", "user", "password", "ou", "default_ad_site")
SEARCH_OPTIONS = ("name", "id", "type", "user", "server", "dns_ip", "domain")


def _values(values: dict, ad_site_allowed: bool, kind: str | None) -> dict:
    """The known fields of a create or update body (their types and lengths checked by the API's model)."""
    out = {field: values[field] for field in FIELDS if field in values}
    if out.get("default_ad_site"):
        if not ad_site_allowed:
            raise Invalid('"default_ad_site" is only supported from API version 2.76.')
        if kind == "active_directory" and (out.get("server") or values.get("server")):
            raise Invalid("Cannot create security service because both server and 'default_ad_site' were "
                          "provided. Specify either server or 'default_ad_site'.")
    return out


class SecurityServices:
    def __init__(self, core: c.Core):
        self.core = core

    @staticmethod
    def find(session, ctx: RequestContext, ss_id: Any) -> SecurityService:
        row = session.get(SecurityService, ss_id) if isinstance(ss_id, str) else None
        if row is None or not ctx.reaches(row.project_id):
            raise NotFound(f"Security service {ss_id} could not be found.")
        return row

    def create(self, ctx: RequestContext, values: dict, ad_site_allowed: bool) -> SecurityService:
        kind = values.get("type")
        if kind not in TYPES:
            raise Invalid(f"Invalid type {kind} specified for security service. Valid types are {','.join(TYPES)}")
        row = SecurityService(project_id=ctx.project_id, type=kind, **_values(values, ad_site_allowed, kind))
        with self.core.db.session() as session:
            session.add(row)
            session.flush()
        return row

    def get(self, ctx: RequestContext, ss_id: str) -> SecurityService:
        with self.core.db.session() as session:
            return self.find(session, ctx, ss_id)

    def update(self, ctx: RequestContext, ss_id: str, values: dict, ad_site_allowed: bool) -> SecurityService:
        with self.core.db.session() as session:
            row = self.find(session, ctx, ss_id)
            kind = values.get("type", row.type)
            if kind not in TYPES:
                raise Invalid(f"Invalid type {kind} specified for security service. Valid types are "
                              f"{','.join(TYPES)}")
            changes = _values(values, ad_site_allowed, kind)
            if kind == "active_directory" and changes.get("default_ad_site") and row.server and "server" not in values:
                raise Invalid("Cannot update security service because both server and 'default_ad_site' would "
                              "be set. Specify either server or 'default_ad_site'.")
            row.type = kind
            for field, value in changes.items():
                setattr(row, field, value)
            session.flush()
            session.refresh(row)
            return row

    def delete(self, ctx: RequestContext, ss_id: str) -> None:
        with self.core.db.session() as session:
            row = self.find(session, ctx, ss_id)
            used = session.scalars(select(ShareNetworkSecurityService).where(
                ShareNetworkSecurityService.security_service_id == row.id).limit(1)).first()
            if used is not None:
                raise Forbidden("Cannot delete security service. It is assigned to share network(s)")
            session.delete(row)

    def list(self, ctx: RequestContext, params: dict[str, str]) -> list[tuple[SecurityService, list[str]]]:
        """(security service, ids of the share networks it is in), filtered as Manila filters:
        by a share network, else the caller's project (every project for an administrator
        asking for all_tenants); then by equality on Manila's search options (others ignored)."""
        from .networks import (  # the networks module imports this one
            find_network,
            is_all_tenants,
        )

        params = dict(params)
        params.pop("status", None)
        with self.core.db.session() as session:
            if "share_network_id" in params:
                network = find_network(session, ctx, params.pop("share_network_id"))
                ids = [link.security_service_id for link in network.links]
                rows = list(session.scalars(select(SecurityService).where(SecurityService.id.in_(ids))))
            else:
                query = select(SecurityService)
                if not (is_all_tenants(params) and ctx.is_admin):
                    query = query.where(SecurityService.project_id == ctx.project_id)
                rows = list(session.scalars(query))
            rows.sort(key=lambda r: r.created_at)
            for key in ("all_tenants", "limit", "offset"):
                params.pop(key, None)
            # Manila's remove_invalid_options: others' unknown options are ignored, an
            # administrator's kept (and match nothing)
            wanted = params if ctx.is_admin else {k: v for k, v in params.items() if k in SEARCH_OPTIONS}
            rows = [r for r in rows if all(k in SEARCH_OPTIONS and getattr(r, k) == v for k, v in wanted.items())]
            links = session.execute(select(ShareNetworkSecurityService.security_service_id,
                                           ShareNetworkSecurityService.share_network_id).join(
                ShareNetwork, ShareNetwork.id == ShareNetworkSecurityService.share_network_id).where(
                ShareNetworkSecurityService.security_service_id.in_([r.id for r in rows])))
            networks: dict[str, list[str]] = {}
            for ss_id, sn_id in links:
                networks.setdefault(ss_id, []).append(sn_id)
            return [(r, networks.get(r.id, [])) for r in rows]


__all__ = ["SecurityServices", "TYPES"]
