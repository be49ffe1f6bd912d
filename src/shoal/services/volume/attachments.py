"""Attach and detach, in both of Cinder's flows.

The legacy actions (os-reserve, os-initialize_connection, os-attach,
os-begin_detaching, os-detach, os-terminate_connection, os-unreserve,
os-roll_detaching, os-force_detach) and the attachments API (3.27+: create
with a connector, update, complete, delete) move the same records. The export
is always recomputed from every attachment that holds a connector, so the
target's initiator ACL is exactly the attached hosts; a volume with no
connectors left is not exported at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from shoal.db import models
from shoal.db.models import utcnow
from shoal.drivers.base import InvalidRequest
from shoal.drivers.volume import ConnectionInfo

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound
from . import rows as vr

CONNECTOR_KEYS = ("initiator", "ip", "host", "multipath", "platform", "os_type", "do_local_attach", "nqn", "uuid",
                  "wwpns", "wwnns", "mountpoint", "mode", "instance")


def check_connector(connector: Any) -> dict:
    if not isinstance(connector, dict):
        raise Invalid("Invalid input received: connector must be an object")
    clean = {k: connector[k] for k in CONNECTOR_KEYS if k in connector}
    if "ip" in clean and clean["ip"] is not None:
        import ipaddress

        try:
            ipaddress.ip_address(str(clean["ip"]))
        except ValueError:
            raise Invalid(f"Invalid input received: connector ip {clean['ip']!r} is not an IP address") from None
    return clean


class Attachments:
    def __init__(self, core: c.Core):
        self.core = core

    # ---- the export, recomputed from the attachments ----------------------------------

    def _export(self, volume_id: str, drop: str | None = None) -> ConnectionInfo | None:
        """Export the volume to every attachment's connector (minus attachment
        `drop`); unexport it when none is left."""
        with self.core.volume_lock(volume_id):
            with self.core.db.session() as session:
                volume = session.get(models.Volume, volume_id)
                vr.ensure_target_auth(self.core, volume)
                ref, backend, spec = vr.volume_ref(volume), volume.backend, vr.export_spec(volume, without=drop)
            drv = vr.driver(self.core, backend)
            if not spec.connectors:
                drv.unexport(ref)
                return None
            return drv.export(ref, spec)

    # ---- the attachments API (3.27+) ---------------------------------------------------------

    def create(self, ctx: RequestContext, volume_id: str, instance_uuid: str | None = None, connector: Any = None,
               mode: Any = "rw") -> tuple[models.VolumeAttachment, ConnectionInfo | None]:
        if mode not in (None, "rw", "ro"):
            raise Invalid("Invalid input received: mode must be rw or ro")
        connector = check_connector(connector) if connector is not None else None

        def reserve(session) -> tuple[models.Volume, models.VolumeAttachment]:
            volume = vr.get_volume(session, ctx, volume_id)
            self._check_attachable(volume)
            if connector is not None:
                self._validate(volume, connector)
            row = models.VolumeAttachment(volume_id=volume_id, instance_uuid=instance_uuid, attach_mode=mode or "rw",
                                          attach_status="reserved")
            session.add(row)
            return volume, row

        if connector is not None:
            return self._connect(volume_id, connector, reserve)
        with self.core.db.session() as session:
            volume, row = reserve(session)
            if volume.status == "available":
                volume.status = "reserved"
            session.flush()
        return row, None

    def update(self, ctx: RequestContext, attachment_id: str, connector: Any) -> tuple[models.VolumeAttachment, ConnectionInfo]:
        connector = check_connector(connector)
        volume_id = self.get(ctx, attachment_id).volume_id  # for the volume's lock

        def existing(session) -> tuple[models.Volume, models.VolumeAttachment]:
            row = self._row(session, ctx, attachment_id)
            volume = session.get(models.Volume, row.volume_id)
            self._validate(volume, connector)
            return volume, row

        return self._connect(volume_id, connector, existing)

    def _connect(self, volume_id: str, connector: dict, prepare) -> tuple[models.VolumeAttachment, ConnectionInfo]:
        """Record `connector` on the attachment that `prepare(session)` gives (with
        its volume), then export the volume to it: one transaction before the
        export, and one more only to undo the record when the export fails. Under
        the volume's lock, so exports of one volume never interleave."""
        with self.core.volume_lock(volume_id):
            with self.core.db.session() as session:
                volume, row = prepare(session)
                vr.ensure_target_auth(self.core, volume)
                ref, backend = vr.volume_ref(volume), volume.backend
                spec = vr.export_spec(volume, connector, row.id)
                before = (row.connector, row.attached_host, row.attach_status, volume.status)
                row.connector, row.attached_host, row.attach_status = connector, connector.get("host"), "attaching"
                if volume.status in ("available", "reserved"):
                    volume.status = "attaching"
                session.flush()
            try:
                info = vr.driver(self.core, backend).export(ref, spec)
            except Exception as exc:
                self._undo_connect(row, before)
                if isinstance(exc, Invalid):
                    raise
                raise Invalid(f"Invalid input received: export failed: {exc}") from None
        return row, info

    def _undo_connect(self, row: models.VolumeAttachment, before: tuple) -> None:
        """Put the attachment and its volume back as they were before a failed
        export (a new attachment stays, reserved and without a connector)."""
        connector, host, status, volume_status = before
        attachments, volumes = models.VolumeAttachment.__table__, models.Volume.__table__
        with self.core.db.connection() as connection:
            connection.execute(update(attachments).where(attachments.c.id == row.id).values(
                connector=connector, attached_host=host, attach_status=status))
            connection.execute(update(volumes).where(volumes.c.id == row.volume_id, volumes.c.status == "attaching")
                               .values(status="reserved" if volume_status == "available" else volume_status))
        row.connector, row.attached_host, row.attach_status = connector, host, status

    def complete(self, ctx: RequestContext, attachment_id: str) -> None:
        with self.core.db.session() as session:
            row = self._row(session, ctx, attachment_id)
            if not row.connector:
                raise Invalid("Invalid attachment: it has no connector yet (update it first)")
            row.attach_status, row.attach_time = "attached", utcnow()
            volume = session.get(models.Volume, row.volume_id)
            volume.status, volume.attach_status = "in-use", "attached"

    def delete(self, ctx: RequestContext, attachment_id: str) -> None:
        attachment = self.get(ctx, attachment_id)
        if attachment.connector:
            self._export(attachment.volume_id, drop=attachment_id)
        with self.core.db.session() as session:
            row = session.get(models.VolumeAttachment, attachment_id)
            if row is not None:
                session.delete(row)
                session.flush()
            self._settle(session, attachment.volume_id)

    def get(self, ctx: RequestContext, attachment_id: str) -> models.VolumeAttachment:
        with self.core.db.session() as session:
            return self._row(session, ctx, attachment_id)

    def list(self, ctx: RequestContext, all_tenants: bool = False, volume_id: str | None = None) -> list:
        from sqlalchemy import select

        query = select(models.VolumeAttachment).join(models.Volume)
        if not (ctx.is_admin and all_tenants):
            query = query.where(models.Volume.project_id == ctx.project_id)
        if volume_id:
            query = query.where(models.VolumeAttachment.volume_id == volume_id)
        with self.core.db.session() as session:
            return list(session.scalars(query.order_by(models.VolumeAttachment.created_at)))

    def connection_info(self, ctx: RequestContext, attachment: models.VolumeAttachment) -> ConnectionInfo | None:
        """How the attachment's connector reaches the volume (recomputed, idempotent)."""
        if not attachment.connector:
            return None
        return self._export(attachment.volume_id)

    # ---- the legacy actions ------------------------------------------------------------------

    def reserve(self, ctx: RequestContext, volume_id: str) -> None:
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            self._check_attachable(volume)
            session.add(models.VolumeAttachment(volume_id=volume_id, attach_status="reserved"))
            volume.status = "attaching"

    def unreserve(self, ctx: RequestContext, volume_id: str) -> None:
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            for row in list(volume.attachments):
                # Reserved, or connected and let go again (nova's roll-back of a failed
                # attach: os-terminate_connection, then os-unreserve): never attached.
                if row.attach_status in ("reserved", "attaching") and not row.connector:
                    session.delete(row)
            session.flush()
            self._settle(session, volume_id)

    def initialize_connection(self, ctx: RequestContext, volume_id: str, connector: Any) -> ConnectionInfo:
        connector = check_connector(connector)

        def pending_attachment(session) -> tuple[models.Volume, models.VolumeAttachment]:
            volume = vr.get_volume(session, ctx, volume_id)
            self._validate(volume, connector)
            if volume.status not in ("available", "attaching", "reserved", "in-use"):
                raise Invalid(f"Invalid volume: status must be available or attaching, not {volume.status}")
            pending = next((a for a in volume.attachments if a.attach_status in ("reserved", "attaching")
                            and (not a.connector or a.connector.get("initiator") == connector.get("initiator"))), None)
            if pending is None:
                # A caller that skipped os-reserve still gets an attachment to hold its connector.
                self._check_attachable(volume, already_reserved=volume.status == "attaching")
                pending = models.VolumeAttachment(volume_id=volume_id, attach_status="attaching")
                session.add(pending)
            return volume, pending

        _, info = self._connect(volume_id, connector, pending_attachment)
        return info

    def attach(self, ctx: RequestContext, volume_id: str, instance_uuid: Any = None, host_name: Any = None,
               mountpoint: Any = None, mode: Any = "rw") -> None:
        if mode not in (None, "rw", "ro"):
            raise Invalid("Invalid input received: mode must be rw or ro")
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            pending = next((a for a in volume.attachments if a.attach_status in ("reserved", "attaching")), None)
            if pending is None:
                if volume.status not in ("available", "attaching"):
                    raise Invalid(f"Invalid volume: status must be available or attaching, not {volume.status}")
                pending = models.VolumeAttachment(volume_id=volume_id, attach_status="attaching")
                session.add(pending)
            pending.instance_uuid, pending.attached_host = instance_uuid, host_name or pending.attached_host
            pending.mountpoint, pending.attach_mode = mountpoint, mode or "rw"
            pending.attach_status, pending.attach_time = "attached", utcnow()
            volume.status, volume.attach_status = "in-use", "attached"

    def begin_detaching(self, ctx: RequestContext, volume_id: str) -> None:
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            if volume.status != "in-use" or volume.attach_status != "attached":
                raise Invalid(f"Invalid volume: status must be in-use and attached, not {volume.status}")
            volume.status = "detaching"

    def roll_detaching(self, ctx: RequestContext, volume_id: str) -> None:
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            if volume.status == "detaching":
                volume.status = "in-use"

    def terminate_connection(self, ctx: RequestContext, volume_id: str, connector: Any) -> None:
        connector = check_connector(connector)
        self.get_volume_checked(ctx, volume_id)
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            matching = [a for a in volume.attachments if a.connector and _same_host(a.connector, connector)]
            for row in matching:
                row.connector = None  # the host lets go; the record stays until os-detach
        self._export(volume_id)

    def detach(self, ctx: RequestContext, volume_id: str, attachment_id: Any = None) -> None:
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            rows = [a for a in volume.attachments if attachment_id in (None, a.id)]
            if attachment_id is not None and not rows:
                raise NotFound(f"Attachment {attachment_id} could not be found.")
            if attachment_id is None and len(rows) > 1:
                raise Invalid("Invalid volume: the volume has several attachments; give attachment_id")
            if not rows:
                raise Invalid("Invalid volume: the volume is not attached")
            holding = any(r.connector for r in rows)
            for row in rows:
                session.delete(row)
            session.flush()
            self._settle(session, volume_id)
        if holding:
            self._export(volume_id)

    def force_detach(self, ctx: RequestContext, volume_id: str, attachment_id: Any = None, connector: Any = None) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow volume_extension:volume_admin_actions:force_detach to be performed.")
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            rows = [a for a in volume.attachments if attachment_id in (None, a.id)
                    and (connector is None or (a.connector and _same_host(a.connector, check_connector(connector))))]
            for row in rows:
                session.delete(row)
            session.flush()
            self._settle(session, volume_id)
        self._export(volume_id)

    # ---- helpers --------------------------------------------------------------------------------

    def _validate(self, volume: models.Volume, connector: dict) -> None:
        """Refuse a connector the backend cannot attach, before any record changes."""
        try:
            vr.driver(self.core, volume.backend).validate_connector(vr.connector_from(connector))
        except InvalidRequest as exc:
            raise Invalid(f"Invalid input received: {exc}") from None

    def get_volume_checked(self, ctx: RequestContext, volume_id: str) -> models.Volume:
        with self.core.db.session() as session:
            return vr.get_volume(session, ctx, volume_id)

    @staticmethod
    def _check_attachable(volume: models.Volume, already_reserved: bool = False) -> None:
        active = [a for a in volume.attachments if a.attach_status != "detached"]
        if active and not volume.multiattach and not already_reserved:
            raise Invalid(f"Invalid volume: volume {volume.id} is already attached and does not allow multiattach")
        if volume.status not in ("available", "in-use", "reserved", "attaching"):
            raise Invalid(f"Invalid volume: Volume {volume.id} status must be available or in-use, not {volume.status}")

    @staticmethod
    def _row(session, ctx: RequestContext, attachment_id: str) -> models.VolumeAttachment:
        row = session.get(models.VolumeAttachment, attachment_id)
        if row is None:
            raise NotFound(f"Volume attachment could not be found with filter: attachment_id = {attachment_id}.")
        volume = session.get(models.Volume, row.volume_id)
        if not ctx.reaches(volume.project_id):
            raise NotFound(f"Volume attachment could not be found with filter: attachment_id = {attachment_id}.")
        return row

    @staticmethod
    def _settle(session, volume_id: str) -> None:
        """The volume's status from the attachments it has left."""
        volume = session.get(models.Volume, volume_id)
        session.refresh(volume, ["attachments"])
        states = {a.attach_status for a in volume.attachments}
        if "attached" in states:
            volume.status, volume.attach_status = "in-use", "attached"
        elif states & {"reserved", "attaching"}:
            volume.status, volume.attach_status = "attaching", "detached"
        else:
            volume.status, volume.attach_status = "available", "detached"


def _same_host(a: dict, b: dict) -> bool:
    if a.get("initiator") and b.get("initiator"):
        return a["initiator"] == b["initiator"]
    return bool(a.get("ip")) and a.get("ip") == b.get("ip")
