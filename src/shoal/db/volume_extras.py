"""Cinder's catalogue around volume types and ownership: QoS specs (and which types they
are associated with), encryption types, volume transfers, group types, and volume groups
with their group snapshots, and the states of the services. Kept beside
`models.py` on the same Base; only `services` import it (and migrations/env.py, so that
autogenerate sees these tables)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, Timestamps, new_id


class QosSpecs(Timestamps, Base):
    """A named set of QoS limits; `consumer` says who applies them (front-end: the
    hypervisor, back-end: the storage, both)."""

    __tablename__ = "volume_qos_specs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    consumer: Mapped[str] = mapped_column(String(16), default="back-end")
    specs: Mapped[dict] = mapped_column(JSON, default=dict)


class VolumeTypeQos(Base):
    """The QoS specs a volume type is associated with (at most one, as in Cinder)."""

    __tablename__ = "volume_type_qos"

    type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True)
    qos_id: Mapped[str] = mapped_column(ForeignKey("volume_qos_specs.id"), index=True)


class VolumeTypeEncryption(Timestamps, Base):
    """How volumes of a type are to be encrypted (recorded for the clients that read it;
    Shoal itself encrypts nothing)."""

    __tablename__ = "volume_type_encryption"

    type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True)
    encryption_id: Mapped[str] = mapped_column(String(36), default=new_id, unique=True)
    provider: Mapped[str] = mapped_column(String(255))
    cipher: Mapped[str | None] = mapped_column(String(255), default=None)
    key_size: Mapped[int | None] = mapped_column(Integer, default=None)
    control_location: Mapped[str] = mapped_column(String(16), default="front-end")


class VolumeTransfer(Base):
    """An offer to give a volume to whichever project presents the auth key; only
    the key's salted hash is kept."""

    __tablename__ = "volume_transfers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id", ondelete="CASCADE"), index=True)
    source_project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    salt: Mapped[str] = mapped_column(String(255))
    crypt_hash: Mapped[str] = mapped_column(String(255))
    no_snapshots: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class GroupType(Timestamps, Base):
    """A generic volume group type with its group specs."""

    __tablename__ = "volume_group_types"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    group_specs: Mapped[dict] = mapped_column(JSON, default=dict)


class VolumeGroup(Timestamps, Base):
    """A generic volume group (3.13+): volumes of the listed types, snapshotted together.
    Its volumes name it in `volumes.group_id`. `task` is `create` while a group made
    from a source waits for its new volumes (its status follows theirs)."""

    __tablename__ = "volume_groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(32))
    task: Mapped[str | None] = mapped_column(String(32), default=None)
    group_type_id: Mapped[str] = mapped_column(String(36))
    volume_type_ids: Mapped[list] = mapped_column(JSON, default=list)
    availability_zone: Mapped[str | None] = mapped_column(String(255), default=None)
    group_snapshot_id: Mapped[str | None] = mapped_column(String(36), default=None)
    source_group_id: Mapped[str | None] = mapped_column(String(36), default=None)


class GroupSnapshot(Timestamps, Base):
    """A snapshot of every volume of a group at once; its snapshots name it in
    `volume_snapshots.group_snapshot_id`. `task` is `create` while they are being made."""

    __tablename__ = "volume_group_snapshots"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    group_id: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(32))
    task: Mapped[str | None] = mapped_column(String(32), default=None)
    group_type_id: Mapped[str] = mapped_column(String(36))


class VolumeServiceState(Base):
    """What an admin set on one of Cinder's services as Shoal shows them (os-services):
    disabled (no new volumes placed on a `cinder-volume` backend) or frozen (no
    management calls on its volumes either). No row: enabled and not frozen."""

    __tablename__ = "volume_service_states"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    binary: Mapped[str] = mapped_column(String(64), primary_key=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), default=None)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
