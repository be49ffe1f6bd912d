"""Share replicas (Manila's share instances of a replicated share). Kept beside
`models.py` on the same Base; only `services` import it."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, Timestamps, new_id


class ShareReplica(Timestamps, Base):
    """One copy of a share. Every replicated share has exactly one `active`
    replica (the share's own backend, pool and dataset, kept in step with the
    share row); the others are read-only secondaries."""

    __tablename__ = "share_replicas"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    share_id: Mapped[str] = mapped_column(ForeignKey("shares.id"), index=True)
    backend: Mapped[str | None] = mapped_column(String(255), default=None)
    pool: Mapped[str | None] = mapped_column(String(255), default=None)
    availability_zone: Mapped[str | None] = mapped_column(String(255), default=None)
    provider_location: Mapped[str | None] = mapped_column(String(1024), default=None)
    status: Mapped[str] = mapped_column(String(32))
    replica_state: Mapped[str | None] = mapped_column(String(32), default=None)
    # The last replication snapshot this replica shares with the active one.
    last_tag: Mapped[str | None] = mapped_column(String(255), default=None)
    export_locations: Mapped[list] = mapped_column(JSON, default=list)
    progress: Mapped[str | None] = mapped_column(String(16), default=None)
    task_state: Mapped[str | None] = mapped_column(String(64), default=None)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    task: Mapped[str | None] = mapped_column(String(32), default=None)
    flow_id: Mapped[str | None] = mapped_column(String(64), default=None)



class ShareSnapshotInstance(Timestamps, Base):
    """A snapshot of a replicated share as one of its copies holds it (Manila's
    snapshot instance): one row per (snapshot, replica). The active copy's row
    gives its instance an id; its state is the snapshot row's own. A
    secondary's row says whether a sync has brought the snapshot there yet
    (`creating` -> `available`) and where it is; `deleting` while it is removed."""

    __tablename__ = "share_snapshot_instances"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    snapshot_id: Mapped[str] = mapped_column(ForeignKey("share_snapshots.id", ondelete="CASCADE"), index=True)
    replica_id: Mapped[str] = mapped_column(ForeignKey("share_replicas.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    provider_location: Mapped[str | None] = mapped_column(String(1024), default=None)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
