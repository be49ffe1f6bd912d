"""Share groups and their snapshots (Manila 2.31+). Kept beside `models.py` on the
same Base; only `services` import it. A share's group is `Share.share_group_id`; a
share made from a group snapshot names its member in
`Share.source_share_group_snapshot_member_id`."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
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
    source_share_group_snapshot_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)


class ShareGroupSnapshot(Timestamps, Base):
    """A snapshot of every share a group held when it was taken: one member each
    (not consistent across the members; no backend here offers that)."""

    __tablename__ = "share_group_snapshots"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    share_group_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(32))
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)


class ShareGroupSnapshotMember(Timestamps, Base):
    """One share's snapshot in a group snapshot: a snapshot on the share's backend
    named from the member's id (not a share snapshot: /snapshots does not list it)."""

    __tablename__ = "share_group_snapshot_members"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    share_group_snapshot_id: Mapped[str] = mapped_column(ForeignKey("share_group_snapshots.id"), index=True)
    share_id: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    share_proto: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    provider_location: Mapped[str | None] = mapped_column(String(1024), default=None)
