"""Resource locks (Manila 2.81): a lock on a share's deletion, or on an access rule's
deletion or visibility. Kept beside `models.py` on the same Base; only `services`
import it."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, Timestamps, new_id


class ResourceLock(Timestamps, Base):
    """Who placed it (user, project, and as what: `user` or `admin`), on what, against which action."""

    __tablename__ = "resource_locks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    lock_context: Mapped[str] = mapped_column(String(10))
    resource_id: Mapped[str] = mapped_column(String(36), index=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_action: Mapped[str] = mapped_column(String(32))
    lock_reason: Mapped[str | None] = mapped_column(String(1023), default=None)
