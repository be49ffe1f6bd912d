"""Share group types (Manila 2.31+). Kept beside `models.py` on the same Base; only
`services` import it."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, Timestamps, new_id


class ShareGroupType(Timestamps, Base):
    """Which share types a share group may hold, and its group specs. `projects` is
    the access list of a private type."""

    __tablename__ = "share_group_types"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    share_type_ids: Mapped[list] = mapped_column(JSON, default=list)
    group_specs: Mapped[dict] = mapped_column(JSON, default=dict)
    projects: Mapped[list] = mapped_column(JSON, default=list)
