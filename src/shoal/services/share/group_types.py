"""Share group types (Manila 2.31+): which share types a share group may hold, and
its group specs; public, or private with an access list of projects. Managed by
administrators. Shoal has no share groups yet (no backend offers consistent group
snapshots), so a group type is what clients and quota tools set up beforehand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shoal.db.share_group_types import ShareGroupType

from ..common import core as c
from ..common.checks import check_text
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound
from ..common.types import TypeCatalog, parse_is_public, uuid_project


def check_group_specs(specs: Any) -> dict[str, str]:
    if specs is None:
        return {}
    if not isinstance(specs, dict):
        raise Invalid("Group specs can be either of 'None' or 'dict' types.")
    for key, value in specs.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key or len(key) > 255 or len(value) > 255:
            raise Invalid("Group specs keys and values should be strings of 1-255 characters.")
        check_text("group spec key", key, 255)
        check_text(f"group spec {key}", value, 255)
    return dict(specs)


class ShareGroupTypes:
    def __init__(self, core: c.Core, share_types: TypeCatalog):
        self.core, self.share_types = core, share_types

    @staticmethod
    def _admin(ctx: RequestContext) -> None:
        if not ctx.is_admin:
            raise Forbidden("share group types are managed by administrators")

    @staticmethod
    def _visible(ctx: RequestContext, row: ShareGroupType) -> bool:
        return row.is_public or ctx.is_admin or ctx.project_id in (row.projects or [])

    def _find(self, session, ctx: RequestContext, ref: str) -> ShareGroupType:
        row = session.get(ShareGroupType, ref) if isinstance(ref, str) else None
        if row is None and isinstance(ref, str):
            row = session.scalars(select(ShareGroupType).where(ShareGroupType.name == ref)).first()
        if row is None or not self._visible(ctx, row):
            raise NotFound(f"Share group type with id {ref} not found.")
        return row

    def create(self, ctx: RequestContext, name: str, share_types: list[str], group_specs: dict | None = None,
               is_public: bool = True) -> ShareGroupType:
        """The API's model has checked the body (a valid name, some share types, the specs' text)."""
        self._admin(ctx)
        specs = dict(group_specs or {})
        with self.core.db.session() as session:
            ids = []
            for ref in share_types:
                try:
                    ids.append(self.share_types.find(session, ctx, ref).id)
                except (NotFound, Invalid):
                    raise NotFound(f"Share type {ref} does not exist.") from None
            if session.scalars(select(ShareGroupType).where(ShareGroupType.name == name)).first():
                raise Conflict(f"Share group type {name} already exists.")
            row = ShareGroupType(name=name, is_public=is_public, share_type_ids=ids, group_specs=specs, projects=[])
            session.add(row)
            session.flush()
            session.refresh(row)
            return row

    def get(self, ctx: RequestContext, ref: str) -> ShareGroupType:
        with self.core.db.session() as session:
            return self._find(session, ctx, ref)

    def specs(self, ctx: RequestContext, ref: str) -> dict:
        """A type's group specs: for administrators only (Manila's share_group_types_spec
        policies, index and show alike), though the type itself is shown with them."""
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow share_group_types_spec:index to be performed.")
        return dict(self.get(ctx, ref).group_specs or {})

    def list(self, ctx: RequestContext, is_public: str | None = None) -> list[ShareGroupType]:
        wanted = parse_is_public(is_public) if ctx.is_admin else True
        with self.core.db.session() as session:
            rows = list(session.scalars(select(ShareGroupType).order_by(ShareGroupType.created_at)))
        if wanted is True:
            return [r for r in rows if r.is_public or ctx.project_id in (r.projects or [])]
        return [r for r in rows if wanted is None or r.is_public == wanted]

    def delete(self, ctx: RequestContext, ref: str) -> None:
        self._admin(ctx)
        with self.core.db.session() as session:
            session.delete(self._find(session, ctx, ref))

    def set_specs(self, ctx: RequestContext, ref: str, specs: dict[str, str]) -> dict:
        """`specs`: as the API's models have read them (check_group_specs)."""
        self._admin(ctx)
        with self.core.db.session() as session:
            row = self._find(session, ctx, ref)
            row.group_specs = {**(row.group_specs or {}), **specs}
            return dict(row.group_specs)

    def unset_spec(self, ctx: RequestContext, ref: str, key: str) -> None:
        self._admin(ctx)
        with self.core.db.session() as session:
            row = self._find(session, ctx, ref)
            if key not in (row.group_specs or {}):
                raise NotFound(f"Share group type {ref} has no group spec {key}.")
            row.group_specs = {k: v for k, v in row.group_specs.items() if k != key}

    def projects(self, ctx: RequestContext, ref: str) -> tuple[str, list[str]]:
        self._admin(ctx)
        with self.core.db.session() as session:
            row = self._find(session, ctx, ref)
            if row.is_public:
                raise NotFound("Access list not available for public share group types.")
            return row.id, sorted(row.projects or [])

    def change_access(self, ctx: RequestContext, ref: str, project: Any, add: bool) -> None:
        self._admin(ctx)
        project = uuid_project(project)
        with self.core.db.session() as session:
            row = self._find(session, ctx, ref)
            if row.is_public:
                raise Conflict("Type access modification is not applicable to public share group type.")
            current = list(row.projects or [])
            if add == (project in current):
                if add:
                    raise Conflict(f"Share group type access for {row.id} / {project} combination already exists.")
                raise NotFound(f"Share group type access not found for {row.id} / {project} combination.")
            row.projects = [*current, project] if add else [p for p in current if p != project]


__all__ = ["ShareGroupTypes"]
