"""Encryption types (Cinder's /types/{id}/encryption): how volumes of a type are to be
encrypted by whoever attaches them (front-end) or stores them (back-end). Shoal records
them for the clients that read them; it encrypts nothing itself. Administrators only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoal.db import models
from shoal.db.volume_extras import VolumeTypeEncryption

from ..common import core as c
from ..common.checks import MAX_NAME, check_text
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound

LOCATIONS = ("front-end", "back-end")
FIELDS = ("provider", "cipher", "key_size", "control_location")


def _admin(ctx: RequestContext) -> None:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow volume_extension:volume_type_encryption to be performed.")


def _checked(fields: dict, creating: bool) -> dict:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise Invalid(f"Invalid input received: unknown encryption fields {', '.join(sorted(unknown))}")
    out = dict(fields)
    if creating and "provider" not in out:
        raise Invalid("Invalid input received: provider must be specified")
    if "provider" in out and (not isinstance(out["provider"], str) or not out["provider"].strip()):
        raise Invalid("Invalid input received: provider must be a string of 1-255 characters")
    for key in ("provider", "cipher"):
        check_text(key, out.get(key), MAX_NAME)
    if out.get("key_size") is not None:
        size = out["key_size"]
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**31:
            raise Invalid("Invalid input received: key_size must be a non-negative integer")
    if "control_location" in out and out["control_location"] not in LOCATIONS:
        raise Invalid("Invalid input received: Valid control location are: ['front-end', 'back-end']")
    return out


class EncryptionTypes:
    def __init__(self, core: c.Core):
        self.core = core

    @staticmethod
    def _type(session: Session, type_id: str) -> models.VolumeType:
        vtype = session.get(models.VolumeType, type_id)
        if vtype is None:
            raise NotFound(f"Volume type {type_id} could not be found.")
        return vtype

    @staticmethod
    def _unused(session: Session, vtype: models.VolumeType, doing: str) -> None:
        if session.scalars(select(models.Volume.id).where(models.Volume.volume_type_id == vtype.id)).first():
            raise Invalid(f"Cannot {doing} encryption specification. Volume type in use.")

    @staticmethod
    def _existing(session: Session, type_id: str) -> VolumeTypeEncryption:
        row = session.get(VolumeTypeEncryption, type_id)
        if row is None:
            raise NotFound(f"Volume type encryption for type {type_id} does not exist.")
        return row

    def get(self, ctx: RequestContext, type_id: str) -> VolumeTypeEncryption | None:
        """The type's encryption, None when it has none (the type must exist)."""
        _admin(ctx)
        with self.core.db.session() as session:
            self._type(session, type_id)
            return session.get(VolumeTypeEncryption, type_id)

    def create(self, ctx: RequestContext, type_id: str, fields: Any) -> VolumeTypeEncryption:
        _admin(ctx)
        fields = _checked(fields if isinstance(fields, dict) else {}, creating=True)
        with self.core.db.session() as session:
            vtype = self._type(session, type_id)
            if session.get(VolumeTypeEncryption, vtype.id) is not None:
                raise Invalid(f"Volume type encryption for type {type_id} already exists.")
            self._unused(session, vtype, "create")
            row = VolumeTypeEncryption(type_id=vtype.id, **fields)
            session.add(row)
            session.flush()
            return row

    def update(self, ctx: RequestContext, type_id: str, fields: Any) -> dict:
        """The fields changed, as Cinder answers an update."""
        _admin(ctx)
        if not isinstance(fields, dict) or not fields:
            raise Invalid("Invalid input received: encryption must be a non-empty object")
        fields = _checked(fields, creating=False)
        with self.core.db.session() as session:
            vtype = self._type(session, type_id)
            row = self._existing(session, vtype.id)
            self._unused(session, vtype, "update")
            for key, value in fields.items():
                setattr(row, key, value)
        return fields

    def delete(self, ctx: RequestContext, type_id: str) -> None:
        _admin(ctx)
        with self.core.db.session() as session:
            vtype = self._type(session, type_id)
            row = self._existing(session, vtype.id)
            self._unused(session, vtype, "delete")
            session.delete(row)

    def encrypted_types(self, type_ids: list[str]) -> set[str]:
        """Which of these types have an encryption (a volume's `encrypted` flag)."""
        if not type_ids:
            return set()
        with self.core.db.session() as session:
            return set(session.scalars(select(VolumeTypeEncryption.type_id).where(
                VolumeTypeEncryption.type_id.in_(type_ids))))
