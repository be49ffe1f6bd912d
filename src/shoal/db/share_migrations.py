"""A share migration under way (Manila's migration_start ... migration_complete):
what its durable flows need to find again after a crash, and what start-up
needs to end it by hand when no flow is left. Kept beside `models.py` on the
same Base; only `services` import it. The row lives exactly as long as the
migration (a share's task_state tells how the last one ended)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, Timestamps


class ShareMigration(Timestamps, Base):
    __tablename__ = "share_migrations"

    share_id: Mapped[str] = mapped_column(ForeignKey("shares.id", ondelete="CASCADE"), primary_key=True)
    flow_id: Mapped[str | None] = mapped_column(String(64), default=None)  # the flow running now, if any
    # The id the destination copy is made under (its backend names it from this id);
    # never the share's, which the source's live export holds until the switch.
    dest_key: Mapped[str] = mapped_column(String(36))
    backend: Mapped[str] = mapped_column(String(255))
    pool: Mapped[str] = mapped_column(String(255))
    new_type_id: Mapped[str | None] = mapped_column(String(36), default=None)
    writable: Mapped[bool] = mapped_column(Boolean, default=True)  # the source stays writable in phase 1
    # The last migration point both copies hold; None before the first copy ends.
    last_tag: Mapped[str | None] = mapped_column(String(255), default=None)
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent, for migration_get_progress
    # The source before: what the clean-up removes once the destination is the share.
    old_backend: Mapped[str] = mapped_column(String(255))
    old_pool: Mapped[str | None] = mapped_column(String(255), default=None)
    old_location: Mapped[str | None] = mapped_column(String(1024), default=None)
    switched: Mapped[bool] = mapped_column(Boolean, default=False)  # the share is the destination now
    cancelling: Mapped[bool] = mapped_column(Boolean, default=False)  # a cancel was asked for
