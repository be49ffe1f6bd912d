"""Security services (Manila's /security-services). Kept beside `models.py` on the
same Base; only `services` import it."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, Timestamps, new_id


class SecurityService(Timestamps, Base):
    """What a share network would use to join a directory (LDAP, Kerberos, Active
    Directory). Shoal's backends join none (driver_handles_share_servers=False), so
    these are kept and shown as Manila keeps them, for the clients that manage them."""

    __tablename__ = "security_services"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    dns_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    ou: Mapped[str | None] = mapped_column(String(255), default=None)
    server: Mapped[str | None] = mapped_column(String(255), default=None)
    domain: Mapped[str | None] = mapped_column(String(255), default=None)
    user: Mapped[str | None] = mapped_column(String(255), default=None)
    password: Mapped[str | None] = mapped_column(String(255), default=None)
    default_ad_site: Mapped[str | None] = mapped_column(String(255), default=None)
