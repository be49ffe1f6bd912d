"""Share networks, their subnets and security services (Manila). Every Shoal backend
has driver_handles_share_servers=False, so these are records only, as Manila keeps
them for such a cloud: nothing on a backend uses them. Kept beside `models.py` on
the same Base; only `services` import it."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .models import Base, Timestamps, new_id


class SecurityService(Timestamps, Base):
    """An LDAP, Kerberos or Active Directory server a share network's share servers
    would join (Manila's fields; the password is kept as Manila keeps it)."""

    __tablename__ = "security_services"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(String(255), default=None)
    dns_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    server: Mapped[str | None] = mapped_column(String(255), default=None)
    domain: Mapped[str | None] = mapped_column(String(255), default=None)
    user: Mapped[str | None] = mapped_column(String(255), default=None)
    password: Mapped[str | None] = mapped_column(String(255), default=None)
    ou: Mapped[str | None] = mapped_column(String(255), default=None)
    default_ad_site: Mapped[str | None] = mapped_column(String(255), default=None)


class ShareNetwork(Timestamps, Base):
    __tablename__ = "share_networks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(32), default="active")

    subnets: Mapped[list["ShareNetworkSubnet"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ShareNetworkSubnet.created_at")
    links: Mapped[list["ShareNetworkSecurityService"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")


class ShareNetworkSubnet(Timestamps, Base):
    """Where in a network shares would be served: the default subnet has no zone."""

    __tablename__ = "share_network_subnets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    share_network_id: Mapped[str] = mapped_column(ForeignKey("share_networks.id"), index=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255), default=None)
    neutron_net_id: Mapped[str | None] = mapped_column(String(255), default=None)
    neutron_subnet_id: Mapped[str | None] = mapped_column(String(255), default=None)
    network_type: Mapped[str | None] = mapped_column(String(32), default=None)
    segmentation_id: Mapped[int | None] = mapped_column(Integer, default=None)
    cidr: Mapped[str | None] = mapped_column(String(64), default=None)
    ip_version: Mapped[int | None] = mapped_column(Integer, default=None)
    gateway: Mapped[str | None] = mapped_column(String(64), default=None)
    mtu: Mapped[int | None] = mapped_column(Integer, default=None)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)


class ShareNetworkSecurityService(Base):
    """A security service associated with a share network."""

    __tablename__ = "share_network_security_services"

    share_network_id: Mapped[str] = mapped_column(ForeignKey("share_networks.id"), primary_key=True)
    security_service_id: Mapped[str] = mapped_column(ForeignKey("security_services.id"), primary_key=True,
                                                     index=True)
