"""Share transfers (Manila 2.77, /share-transfers): a project offers an available
share; whoever presents the transfer's id and auth key takes it over, with its
snapshots, its access rules unless asked to clear them. Usage is counted from
the rows, so the share's quota moves with its project_id; the receiving project's
quota is checked before it takes the share. The data stays where it is."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shoal.db import models
from shoal.db.replicas import ShareReplica
from shoal.db.share_transfers import ShareTransfer

from ..common import core as c
from ..common import quotas as q
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound
from . import rows as sr
from .access import ShareAccess

AWAITING = "awaiting_transfer"


def _hash(salt: str, auth_key: str) -> str:
    return hashlib.sha256(f"{salt}{auth_key}".encode()).hexdigest()


class ShareTransfers:
    def __init__(self, core: c.Core, access: ShareAccess):
        self.core, self.access = core, access

    @staticmethod
    def _find(session: Session, ctx: RequestContext, transfer_id: str) -> ShareTransfer:
        """A transfer its source project (or an admin) may see."""
        row = session.get(ShareTransfer, transfer_id)
        if row is None or not ctx.reaches(row.source_project_id):
            raise NotFound(f"Transfer {transfer_id} could not be found.")
        return row

    def create(self, ctx: RequestContext, share_id: str | None, name: str | None = None) -> tuple[ShareTransfer, str]:
        """The transfer and its auth key (given out once, here). The fields' types: the API's body model."""
        if not share_id:
            raise Invalid("Must supply 'share_id' attribute.")
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id, locations=False)
            if share.project_id != ctx.project_id and not ctx.is_admin:
                raise Forbidden("only the share's project may give it away")
            if share.status != "available":
                raise Invalid(f"Share's status must be available, not {share.status}")
            if share.is_soft_deleted:
                raise Invalid(f"Share {share_id} is in the recycle bin")
            if session.scalars(select(ShareReplica.id).where(ShareReplica.share_id == share_id,
                                                             ShareReplica.replica_state != "active")).first():
                raise Invalid(f"Share {share_id} has replicas and cannot be transferred")
            busy = session.scalars(select(models.ShareSnapshot).where(
                models.ShareSnapshot.share_id == share_id, models.ShareSnapshot.status != "available")).first()
            if busy is not None:
                raise Invalid(f"Snapshot: {busy.id} status must be available")
            auth_key, salt = secrets.token_hex(8), secrets.token_hex(8)
            transfer = ShareTransfer(share_id=share_id, source_project_id=share.project_id,
                                     name=name.strip() if name else name, salt=salt,
                                     crypt_hash=_hash(salt, auth_key), created_at=models.utcnow())
            share.status = AWAITING
            session.add(transfer)
            session.flush()
            return transfer, auth_key

    def get(self, ctx: RequestContext, transfer_id: str) -> ShareTransfer:
        with self.core.db.session() as session:
            return self._find(session, ctx, transfer_id)

    def list(self, ctx: RequestContext, all_tenants: bool = False) -> list[ShareTransfer]:
        query = select(ShareTransfer).order_by(ShareTransfer.created_at, ShareTransfer.id)
        if not (ctx.is_admin and all_tenants):
            query = query.where(ShareTransfer.source_project_id == ctx.project_id)
        with self.core.db.session() as session:
            return list(session.scalars(query))

    def delete(self, ctx: RequestContext, transfer_id: str) -> None:
        """Withdraw the offer: the share is available again to its project."""
        with self.core.db.session() as session:
            transfer = self._find(session, ctx, transfer_id)
            share = session.get(models.Share, transfer.share_id)
            if share is not None and share.status == AWAITING:
                share.status = "available"
            session.delete(transfer)

    def accept(self, ctx: RequestContext, transfer_id: str, auth_key: str | None, clear_rules: bool = False) -> None:
        """Give the share and its snapshots to the caller's project."""
        if not auth_key:
            raise Invalid("Must supply 'auth_key' while accepting a share transfer.")
        with self.core.db.session() as session:
            # Any project that knows the id and key may accept: the lookup is not scoped.
            transfer = session.get(ShareTransfer, transfer_id)
            if transfer is None:
                raise NotFound(f"Transfer {transfer_id} could not be found.")
            if not hmac.compare_digest(_hash(transfer.salt, auth_key), transfer.crypt_hash):
                raise Invalid(f"Invalid auth key: Attempt to transfer {transfer_id} with invalid auth key.")
            share = session.get(models.Share, transfer.share_id)
            if share is None or share.status != AWAITING:
                raise Invalid(f"Share's status must be {AWAITING}, not {share.status if share else 'deleted'}")
            snaps = list(session.scalars(select(models.ShareSnapshot).where(
                models.ShareSnapshot.share_id == share.id)))
            q.check_share(self.core, session, ctx.project_id, ctx.user_id, share.share_type_id, shares=1,
                          gigabytes=share.size, snapshots=len(snaps),
                          snapshot_gigabytes=sum(s.size for s in snaps), size=share.size)
            share.project_id, share.user_id, share.status = ctx.project_id, ctx.user_id, "available"
            for snap in snaps:
                snap.project_id, snap.user_id = ctx.project_id, ctx.user_id
            if clear_rules:  # denied as any deny is, through the next sync of the share
                session.execute(update(models.AccessRule).where(models.AccessRule.share_id == share.id)
                                .values(state="queued_to_deny"))
            session.delete(transfer)
        if clear_rules:
            self.access.schedule_sync(transfer.share_id)
