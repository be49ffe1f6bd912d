"""Volume transfers (Cinder's /os-volume-transfer and, from 3.55, /volume-transfers):
a project offers an available volume; whoever presents the transfer's id and auth key
takes it over, with its snapshots unless `no_snapshots`. Usage is counted from the rows,
so the volume's quota moves with its project_id; the receiving project's quota is
checked before it takes the volume."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shoal.db import models
from shoal.db.volume_extras import VolumeTransfer

from ..common import core as c
from ..common import quotas as q
from ..common.context import RequestContext
from ..common.errors import Invalid, NotFound
from . import rows as vr

AWAITING = "awaiting-transfer"


def _hash(salt: str, auth_key: str) -> str:
    return hashlib.sha256(f"{salt}{auth_key}".encode()).hexdigest()


class Transfers:
    def __init__(self, core: c.Core):
        self.core = core

    @staticmethod
    def _find(session: Session, ctx: RequestContext, transfer_id: str) -> VolumeTransfer:
        """A transfer its source project (or an admin) may see."""
        row = session.get(VolumeTransfer, transfer_id)
        if row is None or not ctx.reaches(row.source_project_id):
            raise NotFound(f"Transfer {transfer_id} could not be found.")
        return row

    def create(self, ctx: RequestContext, volume_id: str | None, name: str | None = None,
               no_snapshots: bool = False) -> tuple[VolumeTransfer, str]:
        """The transfer and its auth key (given out once, here). The fields' types: the API's body model."""
        if not volume_id:
            raise Invalid("Invalid input received: volume_id must be specified")
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id, attachments=False)
            if volume.status != "available":
                raise Invalid(f"Invalid volume: status must be available, but current status is: {volume.status}.")
            if volume.group_id is not None:
                raise Invalid(f"Invalid volume: volume {volume.id} belongs to group {volume.group_id}.")
            if not no_snapshots:
                busy = session.scalars(select(models.VolumeSnapshot).where(
                    models.VolumeSnapshot.volume_id == volume.id,
                    models.VolumeSnapshot.status != "available")).first()
                if busy is not None:
                    raise Invalid(f"Invalid snapshot: snapshot {busy.id} status must be available, but current "
                                  f"status is: {busy.status}.")
            auth_key, salt = secrets.token_hex(8), secrets.token_hex(8)
            transfer = VolumeTransfer(volume_id=volume.id, source_project_id=volume.project_id, name=name,
                                      salt=salt, crypt_hash=_hash(salt, auth_key), no_snapshots=no_snapshots,
                                      created_at=models.utcnow())
            volume.status = AWAITING
            session.add(transfer)
            session.flush()
            return transfer, auth_key

    def get(self, ctx: RequestContext, transfer_id: str) -> VolumeTransfer:
        with self.core.db.session() as session:
            return self._find(session, ctx, transfer_id)

    def list(self, ctx: RequestContext, all_tenants: bool = False) -> list[VolumeTransfer]:
        query = select(VolumeTransfer).order_by(VolumeTransfer.created_at, VolumeTransfer.id)
        if not (ctx.is_admin and all_tenants):
            query = query.where(VolumeTransfer.source_project_id == ctx.project_id)
        with self.core.db.session() as session:
            return list(session.scalars(query))

    def delete(self, ctx: RequestContext, transfer_id: str) -> None:
        """Withdraw the offer: the volume is available again to its project."""
        with self.core.db.session() as session:
            transfer = self._find(session, ctx, transfer_id)
            volume = session.get(models.Volume, transfer.volume_id)
            if volume is not None and volume.status == AWAITING:
                volume.status = "available"
            session.delete(transfer)

    def accept(self, ctx: RequestContext, transfer_id: str, auth_key: str | None) -> VolumeTransfer:
        """Give the volume (and its snapshots, unless no_snapshots) to the caller's project."""
        if not auth_key:
            raise Invalid("Invalid input received: auth_key must be specified")
        with self.core.db.session() as session:
            # Any project that knows the id and key may accept: the lookup is not scoped.
            transfer = session.get(VolumeTransfer, transfer_id)
            if transfer is None:
                raise NotFound(f"Transfer {transfer_id} could not be found.")
            if not hmac.compare_digest(_hash(transfer.salt, auth_key), transfer.crypt_hash):
                raise Invalid(f"Invalid auth key: Attempt to transfer {transfer_id} with invalid auth key.")
            volume = session.get(models.Volume, transfer.volume_id)
            if volume is None or volume.status != AWAITING:
                raise Invalid(f"Invalid volume: status must be {AWAITING}, but current status is: "
                              f"{volume.status if volume else 'deleted'}.")
            snaps = [] if transfer.no_snapshots else list(session.scalars(
                select(models.VolumeSnapshot).where(models.VolumeSnapshot.volume_id == volume.id)))
            q.check_volume(self.core, session, ctx.project_id, volume.volume_type_id, volumes=1,
                           snapshots=len(snaps), gigabytes=volume.size + sum(s.size for s in snaps), size=volume.size)
            volume.project_id, volume.user_id, volume.status = ctx.project_id, ctx.user_id, "available"
            for snap in snaps:
                snap.project_id, snap.user_id = ctx.project_id, ctx.user_id
            session.execute(delete(VolumeTransfer).where(VolumeTransfer.id == transfer.id))
            return transfer
