"""Generic volume group types (Cinder's /group_types, 3.11+) and their group specs.
Administrators manage them; everyone may read the public ones, and a private one exists
only for administrators (Shoal keeps no access list for group types)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoal.db.volume_extras import GroupType

from ..common import core as c
from ..common.checks import MAX_NAME, check_text
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound
from ..common.types import check_bool, check_specs, parse_is_public

SORT_KEYS = {"id", "name", "description", "is_public", "created_at", "updated_at"}


def _admin(ctx: RequestContext) -> None:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow group:group_types_manage to be performed.")


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("Invalid input received: name must be a string of 1-255 characters")
    check_text("name", value, MAX_NAME)
    return value


def _description(value: Any) -> str | None:
    check_text("description", value, MAX_NAME)  # Cinder's column for it: 255
    return value


def _specs(value: Any) -> dict[str, str]:
    try:
        return check_specs(value, set())
    except Invalid as exc:
        raise Invalid(f"Invalid input received: {str(exc).replace('extra spec', 'group spec')}") from None


class GroupTypes:
    def __init__(self, core: c.Core):
        self.core = core

    @staticmethod
    def _find(session: Session, ctx: RequestContext, type_id: str) -> GroupType:
        row = session.get(GroupType, type_id)
        if row is None or not (row.is_public or ctx.is_admin):
            raise NotFound(f"Group type with id {type_id} could not be found.")
        return row

    def create(self, ctx: RequestContext, body: dict) -> GroupType:
        _admin(ctx)
        name, description = _name(body.get("name")), _description(body.get("description"))
        specs = _specs(body.get("group_specs") or {})
        is_public = check_bool("is_public", body.get("is_public", True))
        with self.core.db.session() as session:
            if session.scalars(select(GroupType).where(GroupType.name == name)).first() is not None:
                raise Conflict(f"Group Type {name} already exists.")
            row = GroupType(name=name, description=description, is_public=is_public, group_specs=specs)
            session.add(row)
            session.flush()
            return row

    def list(self, ctx: RequestContext, is_public: str | None = None,
             sort: list[tuple[str, str]] | None = None) -> list[GroupType]:
        wanted = parse_is_public(is_public) if ctx.is_admin else True
        query = select(GroupType)
        if wanted is not None:
            query = query.where(GroupType.is_public.is_(wanted))
        for key, direction in sort or [("created_at", "asc")]:
            if key not in SORT_KEYS or direction not in ("asc", "desc"):
                raise Invalid(f"Invalid input received: cannot sort group types by {key}:{direction}")
            column = getattr(GroupType, key)
            query = query.order_by(column.asc() if direction == "asc" else column.desc())
        with self.core.db.session() as session:
            return list(session.scalars(query.order_by(GroupType.id)))

    def get(self, ctx: RequestContext, type_id: str) -> GroupType:
        with self.core.db.session() as session:
            return self._find(session, ctx, type_id)

    def update(self, ctx: RequestContext, type_id: str, fields: dict) -> GroupType:
        _admin(ctx)
        if not {"name", "description", "is_public"} & set(fields):
            raise Invalid("Invalid input received: specify a name, a description or is_public to update")
        with self.core.db.session() as session:
            row = self._find(session, ctx, type_id)
            if fields.get("name") is not None:
                name = _name(fields["name"])
                clash = session.scalars(select(GroupType).where(GroupType.name == name)).first()
                if clash is not None and clash.id != row.id:
                    raise Conflict(f"Group Type {name} already exists.")
                row.name = name
            if "description" in fields:
                row.description = _description(fields["description"])
            if fields.get("is_public") is not None:
                row.is_public = check_bool("is_public", fields["is_public"])
            return row

    def delete(self, ctx: RequestContext, type_id: str) -> None:
        _admin(ctx)
        with self.core.db.session() as session:
            session.delete(self._find(session, ctx, type_id))

    def set_specs(self, ctx: RequestContext, type_id: str, specs: Any) -> dict[str, str]:
        """Add or change specs; the answer is what was set."""
        _admin(ctx)
        specs = _specs(specs)
        with self.core.db.session() as session:
            row = self._find(session, ctx, type_id)
            row.group_specs = {**row.group_specs, **specs}
        return specs

    def unset_spec(self, ctx: RequestContext, type_id: str, key: str) -> None:
        _admin(ctx)
        with self.core.db.session() as session:
            row = self._find(session, ctx, type_id)
            if key not in row.group_specs:
                raise NotFound(f"Group Type {type_id} has no specs with key {key}.")
            row.group_specs = {k: v for k, v in row.group_specs.items() if k != key}
