"""A volume migration (or a retype that moves the data) under way: what its
durable flow needs to find again after a crash, and what start-up needs to end
it by hand when its flow is gone. Kept beside `models.py` on the same Base; only
`services` import it. The row lives exactly as long as the migration."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, Timestamps


class VolumeMigration(Timestamps, Base):
    __tablename__ = "volume_migrations"

    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id", ondelete="CASCADE"), primary_key=True)
    flow_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # The hidden volume the data is copied into (migration_status `target:<volume_id>`).
    target_id: Mapped[str] = mapped_column(String(36))
    # Where the data goes; None until the flow places a retype's volume.
    backend: Mapped[str | None] = mapped_column(String(255), default=None)
    pool: Mapped[str | None] = mapped_column(String(255), default=None)
    new_type_id: Mapped[str | None] = mapped_column(String(36), default=None)  # a retype's new type
    previous_status: Mapped[str] = mapped_column(String(32))  # the volume's status before, to go back to
    force_host_copy: Mapped[bool] = mapped_column(Boolean, default=False)
    # The data's place before: the old copy the migration removes once it is done.
    old_backend: Mapped[str | None] = mapped_column(String(255), default=None)
    old_pool: Mapped[str | None] = mapped_column(String(255), default=None)
    old_location: Mapped[str | None] = mapped_column(String(1024), default=None)
    old_name_id: Mapped[str | None] = mapped_column(String(36), default=None)
    # Set when the copy began: a copy that runs again starts from a fresh target.
    copy_started: Mapped[bool] = mapped_column(Boolean, default=False)
