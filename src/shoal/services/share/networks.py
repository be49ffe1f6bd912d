"""Share networks and their subnets (Manila), as records: every Shoal backend has
driver_handles_share_servers=False, so no share server is ever made on one and
nothing is asked of Neutron; Manila keeps them the same way for such a cloud.

A network is made with one subnet, its default (no availability zone); more
subnets name a zone each (one per zone below 2.70). Its security services are
associated with it (one per type). `share_networks` is a quota of the project
and of its users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from shoal.db.share_networks import (
    SecurityService,
    ShareNetwork,
    ShareNetworkSecurityService,
    ShareNetworkSubnet,
)

from ..common import core as c
from ..common import quotas
from ..common.checks import check_metadata
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound
from ..common.types import check_bool
from .security_services import SecurityServices

SUBNET_TEXT = {"neutron_net_id": 255, "neutron_subnet_id": 255, "network_type": 32, "cidr": 64, "gateway": 64}
SUBNET_INTS = ("segmentation_id", "ip_version", "mtu")
STATUSES = ("active", "error", "network_change")
LIST_IGNORED = ("all_tenants", "created_since", "created_before", "limit", "offset", "security_service_id",
                "project_id")
SENSITIVE = ("network_type", "segmentation_id")  # Manila's show_network_details: administrators only


def is_all_tenants(params: dict[str, str]) -> bool:
    """Manila's utils.is_all_tenants: present and true; a value that is no boolean is a 400."""
    if "all_tenants" not in params:
        return False
    try:
        return check_bool("all_tenants", params["all_tenants"])
    except Invalid:
        raise Invalid(f"Invalid value '{params['all_tenants']}' for 'all_tenants' search option") from None


def find_network(session, ctx: RequestContext, sn_id: Any) -> ShareNetwork:
    row = session.get(ShareNetwork, sn_id) if isinstance(sn_id, str) else None
    if row is None or not ctx.reaches(row.project_id):
        raise NotFound(f"Share network {sn_id} could not be found.")
    return row


def check_int(field: str, value: Any) -> int:
    """A subnet's number (segmentation id, IP version, MTU) in a body or a filter: an integer or its digits."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (
            isinstance(value, str) and not value.strip().lstrip("-").isdigit()):
        raise Invalid(f"{field} must be an integer, not {value!r}")
    number = int(value)
    if abs(number) >= 2**31:
        raise Invalid(f"{field} is out of range")
    return number


def _when(field: str, value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except (TypeError, ValueError):
        raise Invalid(f"{field} must be a date or time in ISO 8601 form, not {value!r}") from None


def subnet_values(values: dict) -> dict:
    """The subnet fields of a body (their types checked by the API's model; other keys ignored)."""
    if ("neutron_net_id" in values) != ("neutron_subnet_id" in values):
        raise Invalid("When creating a new share network subnet you need to specify both neutron_net_id and "
                      "neutron_subnet_id or none of them.")
    return {field: values[field] for field in (*SUBNET_TEXT, *SUBNET_INTS) if values.get(field) is not None}


def _day(field: str, value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise Invalid(f"{value} is not in yyyy-mm-dd format.") from None


def _matches(fields: dict, subnets: list[dict], key: str, value: Any, like: bool) -> bool:
    """Manila's share network filter: the network's own field equal, or any subnet's;
    from 2.36 `key~` is a substring match on either."""
    if fields.get(key) == value or any(s.get(key) == value for s in subnets):
        return True
    if like and key.endswith("~"):
        base = key[:-1]
        return any(got is not None and str(value) in str(got) for got in [fields.get(base)] +
                   [s.get(base) for s in subnets])
    return False


def subnet_fields(sub: ShareNetworkSubnet) -> dict:
    return {"id": sub.id, "availability_zone": sub.availability_zone, "neutron_net_id": sub.neutron_net_id,
            "neutron_subnet_id": sub.neutron_subnet_id, "network_type": sub.network_type,
            "segmentation_id": sub.segmentation_id, "cidr": sub.cidr, "ip_version": sub.ip_version,
            "gateway": sub.gateway, "mtu": sub.mtu}


def _loaded(row: ShareNetwork) -> ShareNetwork:
    """Its subnets and security-service links read while the session is open."""
    row.subnets, row.links  # noqa: B018
    return row


class ShareNetworks:
    def __init__(self, core: c.Core, security_services: SecurityServices):
        self.core, self.security_services = core, security_services

    def _zone(self, zone: Any) -> str:
        if not isinstance(zone, str) or zone not in {d.availability_zone for d in self.core.drivers.values()}:
            raise Invalid(f"The provided availability zone {zone} does not exist.")
        return zone

    # ---- networks ------------------------------------------------------------------------

    def create(self, ctx: RequestContext, values: dict, with_zone: bool) -> ShareNetwork:
        """`with_zone`: the microversion takes an availability zone (2.51+) for the first subnet."""
        if "nova_net_id" in values:
            raise Invalid("nova networking is not supported starting in Ocata.")
        subnet = subnet_values(values)
        zone = values.get("availability_zone") if with_zone else None
        zone = self._zone(zone) if zone is not None else None
        # Manila stores what the body says of these too (Tempest sets created_at and filters on it)
        stamps = {k: _when(k, values[k]) for k in ("created_at", "updated_at") if values.get(k) is not None}
        with self.core.db.session() as session:
            quotas.check_share(self.core, session, ctx.project_id, ctx.user_id, None, share_networks=1)
            row = ShareNetwork(project_id=ctx.project_id, user_id=ctx.user_id, name=values.get("name"),
                               description=values.get("description"), status="active", **stamps)
            row.subnets.append(ShareNetworkSubnet(availability_zone=zone, metadata_={}, **stamps, **subnet))
            session.add(row)
            session.flush()
            return _loaded(row)

    def get(self, ctx: RequestContext, sn_id: str) -> ShareNetwork:
        with self.core.db.session() as session:
            return _loaded(find_network(session, ctx, sn_id))

    def list(self, ctx: RequestContext, params: dict[str, str], like: bool) -> list[ShareNetwork]:
        """Manila's index/detail: an administrator's own project unless `project_id` or
        `all_tenants` says otherwise (others always see their own), created_since/before
        (yyyy-mm-dd), security_service_id, then equality (or `~` from 2.36) on the rest."""
        params = dict(params)
        query = select(ShareNetwork).order_by(ShareNetwork.created_at)
        if ctx.is_admin and "project_id" in params:
            query = query.where(ShareNetwork.project_id == params["project_id"])
        elif not (ctx.is_admin and is_all_tenants(params)):
            query = query.where(ShareNetwork.project_id == ctx.project_id)
        if "created_since" in params:
            query = query.where(ShareNetwork.created_at > _day("created_since", params["created_since"]))
        if "created_before" in params:
            query = query.where(ShareNetwork.created_at < _day("created_before", params["created_before"]))
        if "security_service_id" in params:
            query = query.join(ShareNetworkSecurityService).where(
                ShareNetworkSecurityService.security_service_id == params["security_service_id"])
        for key in LIST_IGNORED:
            params.pop(key, None)
        if not ctx.is_admin:
            for key in SENSITIVE:
                params.pop(key, None)
        wanted: dict[str, Any] = {}
        for key, value in params.items():
            wanted[key] = check_int(key, value) if key in ("ip_version", "segmentation_id") else value
        with self.core.db.session() as session:
            rows = [_loaded(r) for r in session.scalars(query).unique()]
        out = []
        for row in rows:
            fields = {"id": row.id, "name": row.name, "description": row.description, "project_id": row.project_id,
                      "user_id": row.user_id, "status": row.status}
            subnets = [subnet_fields(s) for s in row.subnets]
            if all(_matches(fields, subnets, k, v, like) for k, v in wanted.items()):
                out.append(row)
        return out

    def update(self, ctx: RequestContext, sn_id: str, values: dict) -> ShareNetwork:
        if "nova_net_id" in values:
            raise Invalid("nova networking is not supported starting in Ocata.")
        with self.core.db.session() as session:
            row = find_network(session, ctx, sn_id)
            if "neutron_net_id" in values or "neutron_subnet_id" in values:
                defaults = [s for s in row.subnets if s.availability_zone is None]
                if len(defaults) != 1:
                    unique = "a" if not defaults else "an unique"
                    raise Invalid(f"The share network {row.id} does not have {unique} 'default' subnet that serves "
                                  f"all availability zones, so subnet details ('neutron_net_id', "
                                  f"'neutron_subnet_id') cannot be updated.")
                subnet = defaults[0]
                if subnet.neutron_net_id is None and subnet.neutron_subnet_id is None and (
                        values.get("neutron_net_id") is None or values.get("neutron_subnet_id") is None):
                    raise Invalid(f"To update the share network {row.id} you need to specify both 'neutron_net_id' "
                                  f"and 'neutron_subnet_id'.")
                merged = {"neutron_net_id": subnet.neutron_net_id, "neutron_subnet_id": subnet.neutron_subnet_id,
                          **{k: v for k, v in values.items() if k in SUBNET_TEXT or k in SUBNET_INTS}}
                changes = subnet_values(merged)
                for field, value in changes.items():
                    setattr(subnet, field, value)
            for field in ("name", "description"):
                if field in values:
                    setattr(row, field, values[field])
            session.flush()
            return _loaded(row)

    def delete(self, ctx: RequestContext, sn_id: str) -> None:
        with self.core.db.session() as session:
            row = find_network(session, ctx, sn_id)
            if len(row.subnets) > 1:
                raise Conflict(f"The share network {row.id} has more than one subnet attached. Please remove the "
                               f"subnets untill you have one or no subnets remaining.")
            session.delete(row)

    def refuse_for_share(self, ctx: RequestContext, sn_id: Any) -> None:
        """A share asked for on a share network: no Shoal backend handles share servers
        (driver_handles_share_servers=False), so none could serve it there. Manila's share
        manager fails such a share later; Shoal refuses it up front (404 for a network the
        caller cannot see), so nothing is made."""
        with self.core.db.session() as session:
            find_network(session, ctx, sn_id)
        raise Invalid(f"Share network {sn_id} cannot be used: every backend has driver_handles_share_servers="
                      f"False and exports shares without share servers; create the share without a share network.")

    def reset_status(self, ctx: RequestContext, sn_id: str, status: Any) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow share_network:reset_status to be performed.")
        if status not in STATUSES:
            raise Invalid(f"Invalid status provided: {status}. Valid statuses are {', '.join(STATUSES)}")
        with self.core.db.session() as session:
            find_network(session, ctx, sn_id).status = status

    # ---- security services ---------------------------------------------------------------

    def _service(self, session, ctx: RequestContext, ss_id: Any, missing: type = NotFound) -> SecurityService:
        try:
            return self.security_services.find(session, ctx, ss_id)
        except NotFound as exc:
            raise missing(str(exc)) from None

    @staticmethod
    def _check_change(session, network: ShareNetwork, new: SecurityService,
                      current: SecurityService | None = None) -> None:
        """Manila's _share_network_update_initial_checks (no share servers: nothing else to ask)."""
        if network.status != "active":
            raise Invalid(f"The share network {network.id} used isn't in an 'active' state. Current status is "
                          f"{network.status}. The action may be retried after the share network has changed its "
                          f"state.")
        attached = [session.get(SecurityService, link.security_service_id) for link in network.links]
        if current is None:
            if any(ss is not None and ss.type == new.type for ss in attached):
                raise Conflict(f"Cannot add security service to share network. Security service with '{new.type}' "
                               f"type already added to '{network.id}' share network")
            return
        if current.id not in {link.security_service_id for link in network.links}:
            raise Conflict(f"The specified current security service {current.id} is not associated to the share "
                           f"network {network.id}.")
        if current.type != new.type:
            raise Conflict(f"A security service can only be replaced by one of the same type. The current security "
                           f"service type is '{current.type}' and the new security service type is '{new.type}'")

    def add_security_service(self, ctx: RequestContext, sn_id: str, ss_id: Any) -> ShareNetwork:
        with self.core.db.session() as session:
            network = find_network(session, ctx, sn_id)
            service = self._service(session, ctx, ss_id)
            self._check_change(session, network, service)
            network.links.append(ShareNetworkSecurityService(share_network_id=network.id,
                                                             security_service_id=service.id))
            session.flush()
            return _loaded(network)

    def remove_security_service(self, ctx: RequestContext, sn_id: str, ss_id: Any) -> ShareNetwork:
        with self.core.db.session() as session:
            network = find_network(session, ctx, sn_id)
            service = self._service(session, ctx, ss_id)
            link = next((x for x in network.links if x.security_service_id == service.id), None)
            if link is None:
                raise Invalid(f"Failed to dissociate security service {service.id} from share network "
                              f"{network.id}: it is not associated with it.")
            network.links.remove(link)
            session.flush()
            return _loaded(network)

    def replace_security_service(self, ctx: RequestContext, sn_id: str, current_id: Any, new_id: Any,
                                 check_only: bool = False) -> ShareNetwork:
        with self.core.db.session() as session:
            network = find_network(session, ctx, sn_id)
            current = self._service(session, ctx, current_id, Invalid)
            new = self._service(session, ctx, new_id, Invalid)
            self._check_change(session, network, new, current)
            if not check_only:
                link = next(x for x in network.links if x.security_service_id == current.id)
                network.links.remove(link)
                session.flush()
                network.links.append(ShareNetworkSecurityService(share_network_id=network.id,
                                                                 security_service_id=new.id))
                session.flush()
            return _loaded(network)

    def check_add_security_service(self, ctx: RequestContext, sn_id: str, ss_id: Any) -> None:
        with self.core.db.session() as session:
            network = find_network(session, ctx, sn_id)
            service = self._service(session, ctx, ss_id, Invalid)
            self._check_change(session, network, service)

    # ---- subnets -------------------------------------------------------------------------

    def _subnet(self, session, ctx: RequestContext, sn_id: str, subnet_id: str) -> ShareNetworkSubnet:
        network = find_network(session, ctx, sn_id)
        subnet = next((s for s in network.subnets if s.id == subnet_id), None)
        if subnet is None:
            raise NotFound(f"Share network subnet {subnet_id} could not be found.")
        return subnet

    def check_subnet(self, ctx: RequestContext, sn_id: str, values: dict, several_per_zone: bool,
                     session=None) -> tuple[dict, str | None]:
        """Manila's validate_subnet_create: (the subnet's fields, its zone)."""
        fields = subnet_values(values)
        if session is None:
            with self.core.db.session() as session:
                return self.check_subnet(ctx, sn_id, values, several_per_zone, session)
        network = find_network(session, ctx, sn_id)
        zone = self._zone(values["availability_zone"]) if values.get("availability_zone") is not None else None
        if not several_per_zone and any(s.availability_zone == zone for s in network.subnets):
            raise Conflict(f"Another share network subnet was found in the specified availability zone. Only one "
                           f"share network subnet is allowed per availability zone for share network {sn_id}.")
        return fields, zone

    def create_subnet(self, ctx: RequestContext, sn_id: str, values: dict, several_per_zone: bool,
                      metadata: Any = None) -> tuple[ShareNetworkSubnet, ShareNetwork]:
        metadata = check_metadata(metadata)
        with self.core.db.session() as session:
            fields, zone = self.check_subnet(ctx, sn_id, values, several_per_zone, session)
            network = find_network(session, ctx, sn_id)
            subnet = ShareNetworkSubnet(availability_zone=zone, metadata_=metadata, **fields)
            network.subnets.append(subnet)
            session.flush()
            return subnet, _loaded(network)

    def get_subnet(self, ctx: RequestContext, sn_id: str, subnet_id: str) -> tuple[ShareNetworkSubnet, ShareNetwork]:
        with self.core.db.session() as session:
            subnet = self._subnet(session, ctx, sn_id, subnet_id)
            return subnet, _loaded(find_network(session, ctx, sn_id))

    def delete_subnet(self, ctx: RequestContext, sn_id: str, subnet_id: str) -> None:
        with self.core.db.session() as session:
            session.delete(self._subnet(session, ctx, sn_id, subnet_id))

    def subnet_metadata(self, ctx: RequestContext, sn_id: str, subnet_id: str) -> dict:
        with self.core.db.session() as session:
            return dict(self._subnet(session, ctx, sn_id, subnet_id).metadata_ or {})

    def set_subnet_metadata(self, ctx: RequestContext, sn_id: str, subnet_id: str, metadata: Any,
                            replace: bool) -> dict:
        metadata = check_metadata(metadata)
        with self.core.db.session() as session:
            subnet = self._subnet(session, ctx, sn_id, subnet_id)
            subnet.metadata_ = metadata if replace else {**(subnet.metadata_ or {}), **metadata}
            return dict(subnet.metadata_)

    def delete_subnet_metadata(self, ctx: RequestContext, sn_id: str, subnet_id: str, key: str) -> None:
        with self.core.db.session() as session:
            subnet = self._subnet(session, ctx, sn_id, subnet_id)
            if key not in (subnet.metadata_ or {}):
                raise NotFound(f"Metadata item {key} was not found.")
            subnet.metadata_ = {k: v for k, v in subnet.metadata_.items() if k != key}


__all__ = ["ShareNetworks", "check_int", "find_network", "is_all_tenants", "SENSITIVE"]
