"""Shoal's state: SQLAlchemy 2 models. Only `services` import this module."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, default=None, onupdate=utcnow)


class ShareType(Timestamps, Base):
    __tablename__ = "share_types"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    extra_specs: Mapped[dict] = mapped_column(JSON, default=dict)


class Share(Timestamps, Base):
    __tablename__ = "shares"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), index=True)
    share_proto: Mapped[str] = mapped_column(String(16), default="NFS")
    share_type_id: Mapped[str | None] = mapped_column(ForeignKey("share_types.id"), default=None)
    availability_zone: Mapped[str | None] = mapped_column(String(255), default=None)
    backend: Mapped[str | None] = mapped_column(String(255), default=None)
    pool: Mapped[str | None] = mapped_column(String(255), default=None)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), default=None)
    provider_location: Mapped[str | None] = mapped_column(String(1024), default=None)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    access_rules_status: Mapped[str] = mapped_column(String(32), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    task: Mapped[str | None] = mapped_column(String(32), default=None)  # the work a transitional status stands for
    task_arg: Mapped[int | None] = mapped_column(Integer, default=None)
    # Manila's task_state: what an admin set with reset_task_state (Shoal runs no
    # share migrations of its own).
    task_state: Mapped[str | None] = mapped_column(String(64), default=None)
    # The recycle bin (Manila 2.69): a soft-deleted share is kept, hidden from the
    # lists, until restored or until scheduled_to_be_deleted_at.
    is_soft_deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), index=True)
    scheduled_to_be_deleted_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    share_group_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)  # Manila 2.31+
    source_share_group_snapshot_member_id: Mapped[str | None] = mapped_column(String(36), default=None)  # 2.31+

    share_type: Mapped[ShareType | None] = relationship(lazy="joined")
    export_locations: Mapped[list["ExportLocation"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ExportLocation.is_admin_only"
    )


class ExportLocation(Timestamps, Base):
    __tablename__ = "share_export_locations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    share_id: Mapped[str] = mapped_column(ForeignKey("shares.id"), index=True)
    path: Mapped[str] = mapped_column(String(2048))
    is_admin_only: Mapped[bool] = mapped_column(Boolean, default=False)
    preferred: Mapped[bool] = mapped_column(Boolean, default=False)


class ShareSnapshot(Timestamps, Base):
    __tablename__ = "share_snapshots"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    share_id: Mapped[str] = mapped_column(ForeignKey("shares.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    provider_location: Mapped[str | None] = mapped_column(String(1024), default=None)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    task: Mapped[str | None] = mapped_column(String(32), default=None)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)

    share: Mapped[Share] = relationship(lazy="joined")


class AccessRule(Timestamps, Base):
    __tablename__ = "share_access_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    share_id: Mapped[str] = mapped_column(ForeignKey("shares.id"), index=True)
    access_type: Mapped[str] = mapped_column(String(32))
    access_to: Mapped[str] = mapped_column(String(255))
    access_level: Mapped[str] = mapped_column(String(8))
    # queued_to_apply -> applying -> active | error ; queued_to_deny -> denying -> (gone) | error
    state: Mapped[str] = mapped_column(String(32), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)


class Message(Base):
    """User-facing messages (Manila's /messages): why something ended in error."""

    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(36), index=True)
    action_id: Mapped[str] = mapped_column(String(8))
    detail_id: Mapped[str] = mapped_column(String(8))
    message_level: Mapped[str] = mapped_column(String(16), default="ERROR")
    user_message: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)


# ---- block volumes (Cinder) ------------------------------------------------------


class VolumeType(Timestamps, Base):
    __tablename__ = "volume_types"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    extra_specs: Mapped[dict] = mapped_column(JSON, default=dict)


class Volume(Timestamps, Base):
    __tablename__ = "volumes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), index=True)
    attach_status: Mapped[str] = mapped_column(String(32), default="detached")
    volume_type_id: Mapped[str | None] = mapped_column(ForeignKey("volume_types.id"), default=None)
    availability_zone: Mapped[str | None] = mapped_column(String(255), default=None)
    backend: Mapped[str | None] = mapped_column(String(255), default=None)
    pool: Mapped[str | None] = mapped_column(String(255), default=None)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), default=None)
    source_volid: Mapped[str | None] = mapped_column(String(36), default=None)
    provider_location: Mapped[str | None] = mapped_column(String(1024), default=None)
    # "CHAP <user> <secret>", as Cinder keeps it; handed out in connection_info.
    provider_auth: Mapped[str | None] = mapped_column(String(255), default=None)
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    readonly: Mapped[bool] = mapped_column(Boolean, default=False)
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    task: Mapped[str | None] = mapped_column(String(32), default=None)
    task_arg: Mapped[str | None] = mapped_column(String(255), default=None)
    group_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)  # its volume group, if any
    # The image the volume was made from, as Cinder's volume_glance_metadata keeps it
    # (string values); None for a volume from no image.
    image_metadata: Mapped[dict | None] = mapped_column(JSON, default=None)
    progress: Mapped[str | None] = mapped_column(String(16), default=None)  # of an image copy or migration: "42%"
    # Cinder's: starting, migrating, completing, success, error; `target:<id>` on the
    # hidden volume a migration copies into (services/volume/migrations.py).
    migration_status: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    # Cinder's _name_id: the id whose name the data still carries on the backend after
    # a migration its driver could not rename (None: the volume's own id).
    name_id: Mapped[str | None] = mapped_column(String(36), default=None)

    volume_type: Mapped[VolumeType | None] = relationship(lazy="joined")
    attachments: Mapped[list["VolumeAttachment"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="VolumeAttachment.created_at"
    )


class VolumeSnapshot(Timestamps, Base):
    __tablename__ = "volume_snapshots"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    provider_location: Mapped[str | None] = mapped_column(String(1024), default=None)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    task: Mapped[str | None] = mapped_column(String(32), default=None)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    # as its creator last reported it (os-update_snapshot_status); None: from the status
    progress: Mapped[str | None] = mapped_column(String(16), default=None)
    group_snapshot_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)

    volume: Mapped[Volume] = relationship(lazy="joined")


class VolumeAttachment(Timestamps, Base):
    __tablename__ = "volume_attachments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True)
    instance_uuid: Mapped[str | None] = mapped_column(String(36), default=None)
    attached_host: Mapped[str | None] = mapped_column(String(255), default=None)
    mountpoint: Mapped[str | None] = mapped_column(String(255), default=None)
    attach_mode: Mapped[str] = mapped_column(String(8), default="rw")
    # reserved -> attaching -> attached -> detaching -> (deleted)
    attach_status: Mapped[str] = mapped_column(String(32))
    connector: Mapped[dict | None] = mapped_column(JSON, default=None)
    attach_time: Mapped[datetime | None] = mapped_column(DateTime, default=None)


# ---- type access (private types) -------------------------------------------------


class ShareTypeProject(Base):
    """A project that may use a private share type."""

    __tablename__ = "share_type_projects"

    type_id: Mapped[str] = mapped_column(ForeignKey("share_types.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class VolumeTypeProject(Base):
    """A project that may use a private volume type."""

    __tablename__ = "volume_type_projects"

    type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)


# ---- identity (the built-in Identity v3) -------------------------------------------


def new_hex_id() -> str:
    return uuid.uuid4().hex  # Keystone's id form: 32 hex digits


class Project(Timestamps, Base):
    __tablename__ = "identity_projects"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(String(64), default="default")
    description: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class User(Timestamps, Base):
    __tablename__ = "identity_users"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(String(64), default="default")
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(String(64), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    email: Mapped[str | None] = mapped_column(String(255), default=None)
    # Tokens issued before this moment are invalid (password change, disable).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(DateTime, default=None)


class Role(Timestamps, Base):
    __tablename__ = "identity_roles"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)


class RoleAssignment(Base):
    __tablename__ = "identity_role_assignments"

    user_id: Mapped[str] = mapped_column(ForeignKey("identity_users.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("identity_projects.id", ondelete="CASCADE"),
                                            primary_key=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("identity_roles.id", ondelete="CASCADE"), primary_key=True)


class RevokedToken(Base):
    """A revoked token, by its audit id, kept until the token would have expired anyway."""

    __tablename__ = "identity_revoked_tokens"

    audit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


# ---- quotas ----------------------------------------------------------------------


class Quota(Timestamps, Base):
    """A limit set for a project (Cinder/Manila quota sets), or for one of its users
    (Manila `?user_id=`) or one volume/share type (`volumes_<type>`, `?share_type=`).
    `service` keeps the two APIs apart: both have `gigabytes` and `snapshots`."""

    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("service", "project_id", "user_id", "type_id", "resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(8))  # "volume" | "share"
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255), default="")  # "": the whole project
    type_id: Mapped[str] = mapped_column(String(36), default="")  # "": every type
    resource: Mapped[str] = mapped_column(String(64))
    hard_limit: Mapped[int] = mapped_column(Integer)


class QuotaClass(Timestamps, Base):
    """A named set of limits; the `default` class overrides the configured defaults."""

    __tablename__ = "quota_classes"
    __table_args__ = (UniqueConstraint("service", "class_name", "type_id", "resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(8))
    class_name: Mapped[str] = mapped_column(String(255), index=True)
    type_id: Mapped[str] = mapped_column(String(36), default="")
    resource: Mapped[str] = mapped_column(String(64))
    hard_limit: Mapped[int] = mapped_column(Integer)


class QuotaLock(Base):
    """One row per project, written first by every quota-checked change of that project
    so that those changes run one at a time (see services/common/quotas.py)."""

    __tablename__ = "quota_locks"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)


# ---- images (the built-in Image service, Glance v2) ----------------------------------


class Image(Base):
    """An image's record; its data is in the image store, named by the id. Extra
    properties and tags live in their own tables so that lists filter on them in SQL."""

    __tablename__ = "images"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    # queued -> saving -> active | queued ; queued -> uploading -> importing -> active ; deactivated
    status: Mapped[str] = mapped_column(String(30), index=True)
    visibility: Mapped[str] = mapped_column(String(16), index=True)  # public private shared community
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    os_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    disk_format: Mapped[str | None] = mapped_column(String(16), default=None)
    container_format: Mapped[str | None] = mapped_column(String(16), default=None)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    checksum: Mapped[str | None] = mapped_column(String(32), default=None)
    os_hash_algo: Mapped[str | None] = mapped_column(String(64), default=None)
    os_hash_value: Mapped[str | None] = mapped_column(String(128), default=None)
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    stage_size: Mapped[int | None] = mapped_column(BigInteger, default=None)  # bytes staged for import
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    properties: Mapped[list["ImageProperty"]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    tags: Mapped[list["ImageTag"]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class ImageProperty(Base):
    __tablename__ = "image_properties"

    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ImageTag(Base):
    __tablename__ = "image_tags"

    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)


class ImageMember(Base):
    """A project a `shared` image is offered to; it accepts or rejects it."""

    __tablename__ = "image_members"

    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    member: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending accepted rejected
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


# ---- the lists' indexes --------------------------------------------------------------
# A project's list in its default order (newest first, then by id, as each service
# orders it), read from the index without sorting the project's rows; the id in each
# makes the marker's place a range of the index (services/common/paging.py).
Index("ix_shares_listing", Share.project_id, Share.is_soft_deleted, Share.created_at, Share.id)
Index("ix_share_snapshots_listing", ShareSnapshot.project_id, ShareSnapshot.created_at, ShareSnapshot.id)
Index("ix_volumes_listing", Volume.project_id, Volume.created_at.desc(), Volume.id)
Index("ix_volume_snapshots_listing", VolumeSnapshot.project_id, VolumeSnapshot.created_at.desc(), VolumeSnapshot.id)
