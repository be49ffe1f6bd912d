"""Share groups (Manila 2.31+). Kept beside `models.py` on the same Base; only
`services` import it. A share's group is `Share.share_group_id`."""

from __future__ import annotations

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, Timestamps, new_id


class ShareGroup(Timestamps, Base):
    """Shares placed together: every member is on the group's backend and pool
    (Manila's `host`) and in its availability zone, and has one of its share types."""

    __tablename__ = "share_groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(32))
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    share_group_type_id: Mapped[str] = mapped_column(String(36))
    share_type_ids: Mapped[list] = mapped_column(JSON, default=list)
    availability_zone: Mapped[str | None] = mapped_column(String(255), default=None)
    backend: Mapped[str | None] = mapped_column(String(255), default=None)
    pool: Mapped[str | None] = mapped_column(String(255), default=None)
