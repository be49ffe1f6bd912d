"""The image-volume cache's entries (Cinder's image_volume_cache_entries): one
cache volume per image, backend and pool, that later volumes from the image are
cloned from. Beside `models.py` on the same Base; only `services` import it (and
migrations/env.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow


class ImageVolumeCacheEntry(Base):
    __tablename__ = "image_volume_cache_entries"
    __table_args__ = (UniqueConstraint("backend", "pool", "image_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    backend: Mapped[str] = mapped_column(String(255), index=True)
    pool: Mapped[str] = mapped_column(String(255))
    image_id: Mapped[str] = mapped_column(String(36), index=True)
    # What the entry was filled from: a change of either makes it stale.
    image_updated_at: Mapped[datetime] = mapped_column(DateTime)
    image_checksum: Mapped[str | None] = mapped_column(String(32), default=None)
    # Seen by all (public, community): an image service that then shows it to no one has
    # deleted it or changed it (its updated_at) -- stale either way.
    image_visibility: Mapped[str | None] = mapped_column(String(16), default=None)
    volume_id: Mapped[str] = mapped_column(String(36), unique=True)  # the cache volume (internal project)
    size: Mapped[int] = mapped_column(Integer)  # GiB, as the limits count it
    virtual_size: Mapped[int] = mapped_column(BigInteger)  # bytes of the image, as checked when filled
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
