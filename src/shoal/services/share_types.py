"""Share types and their extra specs. A default type always exists, because
`openstack share create` asks for `/types/default` before anything else."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoal.db import models

from . import core as c
from .context import RequestContext
from .errors import Conflict, Forbidden, Invalid, NotFound

DEFAULT_TYPE = "default"
DHSS = "driver_handles_share_servers"
REQUIRED_SPECS = {DHSS}


def _is_uuid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4


def check_specs(specs: Any) -> dict[str, str]:
    if not isinstance(specs, dict):
        raise Invalid("extra_specs must be an object")
    out = {}
    for key, value in specs.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise Invalid(f"extra spec key {key!r} must be 1-255 characters")
        if isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or len(value) > 255:
            raise Invalid(f"extra spec {key} must be a string of at most 255 characters")
        out[key] = value
    if DHSS in out and out[DHSS].strip().split()[-1].lower() not in ("true", "false"):
        raise Invalid(f"{DHSS} must be true or false")
    if DHSS in out and out[DHSS].strip().split()[-1].lower() == "true":
        raise Invalid(f"{DHSS}=true is not supported: Shoal's backends do not manage share servers")
    return out


class ShareTypes:
    def __init__(self, core: c.Core):
        self.core = core

    def bootstrap(self) -> None:
        """Create the default type when no default exists (first start)."""
        with self.core.db.session() as session:
            if self.default(session) is None:
                existing = session.scalars(select(models.ShareType).where(models.ShareType.name == DEFAULT_TYPE)).first()
                if existing is not None:
                    existing.is_default = True
                else:
                    session.add(models.ShareType(name=DEFAULT_TYPE, is_public=True, is_default=True,
                                                 description="Shoal's default share type",
                                                 extra_specs={DHSS: "False", "snapshot_support": "True"}))

    @staticmethod
    def default(session: Session) -> models.ShareType | None:
        return session.scalars(select(models.ShareType).where(models.ShareType.is_default.is_(True))).first()

    def find(self, session: Session, ctx: RequestContext, name_or_id: str) -> models.ShareType:
        stype = session.get(models.ShareType, name_or_id) if _is_uuid(name_or_id) else None
        stype = stype or session.scalars(select(models.ShareType).where(models.ShareType.name == name_or_id)).first()
        if stype is None or not (stype.is_public or ctx.is_admin):
            raise NotFound(f"Share type {name_or_id} could not be found.")
        return stype

    def get(self, ctx: RequestContext, name_or_id: str) -> models.ShareType:
        with self.core.db.session() as session:
            if name_or_id == "default":
                stype = self.default(session)
                if stype is None:
                    raise NotFound("Default share type could not be found.")
                return stype
            return self.find(session, ctx, name_or_id)

    def list(self, ctx: RequestContext, is_public: str | None = None) -> list[models.ShareType]:
        with self.core.db.session() as session:
            rows = list(session.scalars(select(models.ShareType).order_by(models.ShareType.created_at)))
        if not ctx.is_admin or is_public in (None, "true", "True", "1"):
            rows = [t for t in rows if t.is_public]
        elif is_public in ("false", "False", "0"):
            rows = [t for t in rows if not t.is_public]
        return rows

    def create(self, ctx: RequestContext, name: Any, extra_specs: Any, is_public: Any = True,
               description: str | None = None) -> models.ShareType:
        self._admin(ctx)
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise Invalid("share type name must be 1-255 characters")
        specs = check_specs(extra_specs or {})
        missing = REQUIRED_SPECS - set(specs)
        if missing:
            raise Invalid(f"required extra specs missing: {', '.join(sorted(missing))}")
        if not isinstance(is_public, bool):
            raise Invalid("is_public must be a boolean")
        if description is not None and (not isinstance(description, str) or len(description) > 255):
            raise Invalid("description must be a string of at most 255 characters")
        with self.core.db.session() as session:
            if session.scalars(select(models.ShareType).where(models.ShareType.name == name)).first():
                raise Conflict(f"Share Type {name} already exists.")
            stype = models.ShareType(name=name, extra_specs=specs, is_public=is_public, description=description)
            session.add(stype)
            session.flush()
            return stype

    def delete(self, ctx: RequestContext, type_id: str) -> None:
        self._admin(ctx)
        with self.core.db.session() as session:
            stype = self.find(session, ctx, type_id)
            in_use = session.scalars(select(models.Share).where(models.Share.share_type_id == stype.id)).first()
            if in_use is not None:
                raise Conflict(f"Share type {type_id} is in use by share {in_use.id}.")
            session.delete(stype)

    def set_specs(self, ctx: RequestContext, type_id: str, specs: Any) -> dict[str, str]:
        self._admin(ctx)
        specs = check_specs(specs)
        with self.core.db.session() as session:
            stype = self.find(session, ctx, type_id)
            stype.extra_specs = {**stype.extra_specs, **specs}
            return dict(stype.extra_specs)

    def unset_spec(self, ctx: RequestContext, type_id: str, key: str) -> None:
        self._admin(ctx)
        if key in REQUIRED_SPECS:
            raise Forbidden(f"required extra spec {key} cannot be removed")
        with self.core.db.session() as session:
            stype = self.find(session, ctx, type_id)
            if key not in stype.extra_specs:
                raise NotFound(f"Share type extra spec {key} could not be found.")
            stype.extra_specs = {k: v for k, v in stype.extra_specs.items() if k != key}

    @staticmethod
    def _admin(ctx: RequestContext) -> None:
        if not ctx.is_admin:
            raise Forbidden("share types are managed by administrators")
