"""The Export_Id of every NFS export Shoal makes on a server that needs one
(ganesha): kept here, not in the server's config files, so that losing those
files never changes an id the running server still holds. Beside `models.py` on
the same Base; only `services` import it (and migrations/env.py)."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


class NfsExportId(Base):
    __tablename__ = "nfs_export_ids"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # the export's key: a share, replica or volume id
    export_id: Mapped[int] = mapped_column(Integer, unique=True)
