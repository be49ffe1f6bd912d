"""Share transfers (Manila 2.77). Kept beside `models.py` on the same Base; only
`services` import it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, new_id


class ShareTransfer(Base):
    """An offer to give a share to whichever project presents the auth key; only
    the key's salted hash is kept. An accepted transfer is deleted, as Manila's."""

    __tablename__ = "share_transfers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    share_id: Mapped[str] = mapped_column(ForeignKey("shares.id", ondelete="CASCADE"), index=True)
    source_project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    salt: Mapped[str] = mapped_column(String(255))
    crypt_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime)
