"""Share and volume types and their extra specs (one catalog class, two
configurations). A default type always exists: `openstack share create` asks
for `/types/default` before anything else, and Cinder has `__DEFAULT__`."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoal.db import models

from . import core as c
from .checks import check_text
from .context import RequestContext
from .errors import Conflict, Forbidden, Invalid, NotFound, ServiceError

DEFAULT_TYPE = "default"
DHSS = "driver_handles_share_servers"
REQUIRED_SPECS = {DHSS}


def _is_uuid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4


_TRUE = ("1", "t", "true", "on", "y", "yes")
_FALSE = ("0", "f", "false", "off", "n", "no")


def check_bool(name: str, value: Any) -> bool:
    """A boolean, or one of the strings oslo's strict bool_from_string accepts."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise Invalid(f"{name} must be a boolean")


def parse_is_public(value: str | None) -> bool | None:
    """The `is_public` list filter as Cinder and Manila read it: absent means public
    (plus the private types the caller's project may use), `none`/`all` means every
    type, anything else must be a boolean."""
    if value is None:
        return True
    if value.strip().lower() in ("none", "all"):
        return None
    try:
        return check_bool("is_public", value)
    except Invalid:
        raise Invalid(f"Invalid is_public filter [{value}]") from None


def any_project(project: Any) -> str:
    if not isinstance(project, str) or not project.strip() or len(project) > 255:
        raise Invalid("project must be a project id of 1-255 characters")
    return project


def uuid_project(project: Any) -> str:
    """Manila's rule: a project id is UUID-like (with or without dashes)."""
    try:
        uuid.UUID(project)
    except (TypeError, ValueError, AttributeError):
        raise Invalid(f"Bad project format: project is not in proper format ({project})") from None
    return project


def check_specs(specs: Any, required: set[str] = REQUIRED_SPECS) -> dict[str, str]:
    if not isinstance(specs, dict):
        raise Invalid("extra_specs must be an object")
    out = {}
    for key, value in specs.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise Invalid(f"extra spec key {key!r} must be 1-255 characters")
        check_text("extra spec key", key, 255)
        if isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or len(value) > 255:
            raise Invalid(f"extra spec {key} must be a string of at most 255 characters")
        check_text(f"extra spec {key}", value, 255)
        out[key] = value
    if DHSS not in required:
        return out
    if DHSS in out and (not out[DHSS].strip() or out[DHSS].strip().split()[-1].lower() not in ("true", "false")):
        raise Invalid(f"{DHSS} must be true or false")
    if DHSS in out and out[DHSS].strip().split()[-1].lower() == "true":
        raise Invalid(f"{DHSS}=true is not supported: Shoal's backends do not manage share servers")
    return out


class TypeCatalog:
    """Types of one kind of resource, kept in `model` (ShareType or VolumeType).

    A public type is for everyone. A private one is for administrators and for the
    projects on its access list (`access`: ShareTypeProject or VolumeTypeProject);
    to anyone else it does not exist (404, never 403)."""

    def __init__(self, core: c.Core, model, users, label: str, default_name: str,
                 default_specs: dict[str, str], required: set[str], access,
                 check_project=any_project, public_access_error: type[ServiceError] = Invalid):
        # `users` is the model whose rows refer to a type (Share, Volume).
        self.core, self.model, self.users, self.label = core, model, users, label
        self.default_name, self.default_specs, self.required = default_name, default_specs, required
        # How the two APIs differ on access lists: which project ids they take, and
        # what changing a public type's list answers (Cinder 400, Manila 409).
        self.access, self.check_project, self.public_access_error = access, check_project, public_access_error

    def bootstrap(self) -> None:
        """Create the default type when no default exists (first start)."""
        with self.core.db.session() as session:
            if self.default(session) is None:
                existing = session.scalars(select(self.model).where(self.model.name == self.default_name)).first()
                if existing is not None:
                    existing.is_default = True
                else:
                    session.add(self.model(name=self.default_name, is_public=True, is_default=True,
                                           description=f"Shoal's default {self.label}",
                                           extra_specs=dict(self.default_specs)))

    def default(self, session: Session):
        return session.scalars(select(self.model).where(self.model.is_default.is_(True))).first()

    def find(self, session: Session, ctx: RequestContext, name_or_id: str):
        if not isinstance(name_or_id, str):
            raise Invalid(f"{self.label} must be a name or an id")
        stype = session.get(self.model, name_or_id) if _is_uuid(name_or_id) else None
        stype = stype or session.scalars(select(self.model).where(self.model.name == name_or_id)).first()
        if stype is None or not self._visible(session, ctx, stype):
            raise NotFound(f"{self.label.capitalize()} {name_or_id} could not be found.")
        return stype

    def _visible(self, session: Session, ctx: RequestContext, stype) -> bool:
        return stype.is_public or ctx.is_admin or session.get(self.access, (stype.id, ctx.project_id)) is not None

    def get(self, ctx: RequestContext, name_or_id: str):
        with self.core.db.session() as session:
            if name_or_id == "default":
                stype = self.default(session)
                if stype is None:
                    raise NotFound(f"Default {self.label} could not be found.")
                return stype
            return self.find(session, ctx, name_or_id)

    def list(self, ctx: RequestContext, is_public: str | None = None) -> list:
        """Public types and the private ones the caller's project may use; an admin
        may ask for the private ones only (`is_public=false`) or for all (`none`/`all`)."""
        wanted = parse_is_public(is_public) if ctx.is_admin else True
        query = select(self.model).order_by(self.model.created_at)
        if wanted is True:
            mine = select(self.access.type_id).where(self.access.project_id == ctx.project_id)
            query = query.where(or_(self.model.is_public.is_(True), self.model.id.in_(mine)))
        elif wanted is False:
            query = query.where(self.model.is_public.is_(False))
        with self.core.db.session() as session:
            return list(session.scalars(query))

    def create(self, ctx: RequestContext, name: str, extra_specs: Any, is_public: bool = True,
               description: str | None = None):
        """The fields' types and lengths: the APIs' body models (api/*/bodies.py TypeCreate)."""
        self._admin(ctx)
        if not name.strip():
            raise Invalid(f"{self.label} name must be 1-255 characters")
        specs = check_specs(extra_specs or {}, self.required)
        missing = self.required - set(specs)
        if missing:
            raise Invalid(f"required extra specs missing: {', '.join(sorted(missing))}")
        with self.core.db.session() as session:
            if session.scalars(select(self.model).where(self.model.name == name)).first():
                raise Conflict(f"{self.label.capitalize()} {name} already exists.")
            stype = self.model(name=name, extra_specs=specs, is_public=is_public, description=description)
            session.add(stype)
            session.flush()
            return stype

    def update(self, ctx: RequestContext, type_id: str, fields: dict):
        """`fields`: name, description, is_public, as the APIs' TypeUpdate models let them through."""
        self._admin(ctx)
        with self.core.db.session() as session:
            stype = self.find(session, ctx, type_id)
            if "name" in fields and fields["name"] is not None:
                name = fields["name"]
                if not name.strip():
                    raise Invalid(f"{self.label} name must be 1-255 characters")
                clash = session.scalars(select(self.model).where(self.model.name == name)).first()
                if clash is not None and clash.id != stype.id:
                    raise Conflict(f"{self.label.capitalize()} {name} already exists.")
                stype.name = name
            if "description" in fields:
                stype.description = fields["description"]
            if fields.get("is_public") is not None:
                stype.is_public = fields["is_public"]
            return stype

    def delete(self, ctx: RequestContext, type_id: str) -> None:
        self._admin(ctx)
        with self.core.db.session() as session:
            stype = self.find(session, ctx, type_id)
            if stype.is_default:
                raise Invalid(f"the default {self.label} cannot be deleted")
            users = self.users
            column = users.share_type_id if users is models.Share else users.volume_type_id
            in_use = session.scalars(select(users).where(column == stype.id)).first()
            if in_use is not None:
                raise Conflict(f"{self.label.capitalize()} {type_id} is in use by {in_use.id}.")
            session.execute(delete(self.access).where(self.access.type_id == stype.id))
            session.delete(stype)

    def set_specs(self, ctx: RequestContext, type_id: str, specs: Any) -> dict[str, str]:
        self._admin(ctx)
        specs = check_specs(specs, self.required)
        with self.core.db.session() as session:
            stype = self.find(session, ctx, type_id)
            stype.extra_specs = {**stype.extra_specs, **specs}
            return dict(stype.extra_specs)

    def unset_spec(self, ctx: RequestContext, type_id: str, key: str) -> None:
        self._admin(ctx)
        if key in self.required:
            raise Forbidden(f"required extra spec {key} cannot be removed")
        with self.core.db.session() as session:
            stype = self.find(session, ctx, type_id)
            if key not in stype.extra_specs:
                raise NotFound(f"{self.label.capitalize()} extra spec {key} could not be found.")
            stype.extra_specs = {k: v for k, v in stype.extra_specs.items() if k != key}

    # ---- access lists of private types ----------------------------------------------

    def projects(self, ctx: RequestContext, type_id: str) -> tuple[str, list[str]]:
        """(type id, the projects that may use the private type)."""
        self._admin(ctx)
        with self.core.db.session() as session:
            stype = self.find(session, ctx, type_id)
            if stype.is_public:
                raise NotFound(f"Access list not available for public {self.label}s.")
            rows = session.scalars(select(self.access.project_id).where(self.access.type_id == stype.id)
                                   .order_by(self.access.project_id))
            return stype.id, list(rows)

    def add_project(self, ctx: RequestContext, type_id: str, project: Any) -> None:
        with self._access_change(ctx, type_id, project) as (session, stype, project, row):
            exists = Conflict(f"{self.label.capitalize()} access for {stype.id} / {project} "
                              "combination already exists.")
            if row is not None:
                raise exists
            try:
                with session.begin_nested():  # a concurrent add of the same pair loses here
                    session.add(self.access(type_id=stype.id, project_id=project))
            except IntegrityError:
                raise exists from None

    def remove_project(self, ctx: RequestContext, type_id: str, project: Any) -> None:
        with self._access_change(ctx, type_id, project) as (session, stype, project, row):
            if row is None:
                raise NotFound(f"{self.label.capitalize()} access not found for {stype.id} / {project} "
                               "combination.")
            session.delete(row)

    def access_action(self, ctx: RequestContext, type_id: str, body: Any) -> None:
        """The type action both APIs share: `{"addProjectAccess" | "removeProjectAccess":
        {"project": "<id>"}}`."""
        actions = {"addProjectAccess": self.add_project, "removeProjectAccess": self.remove_project}
        if not isinstance(body, dict) or len(body) != 1 or next(iter(body)) not in actions:
            raise Invalid(f"Invalid input received: the {self.label} action must be one of "
                          f"{', '.join(actions)}")
        name, args = next(iter(body.items()))
        if not isinstance(args, dict) or "project" not in args:
            raise Invalid(f"Invalid input received: {name} needs a project")
        actions[name](ctx, type_id, args["project"])

    @contextmanager
    def _access_change(self, ctx: RequestContext, type_id: str, project: Any):
        self._admin(ctx)
        project = self.check_project(project)
        with self.core.db.session() as session:
            stype = self.find(session, ctx, type_id)
            if stype.is_public:
                raise self.public_access_error(
                    f"Type access modification is not applicable to public {self.label}.")
            yield session, stype, project, session.get(self.access, (stype.id, project))

    def _admin(self, ctx: RequestContext) -> None:
        if not ctx.is_admin:
            raise Forbidden(f"{self.label}s are managed by administrators")


def share_types(core: c.Core) -> TypeCatalog:
    return TypeCatalog(core, models.ShareType, models.Share, "share type", DEFAULT_TYPE,
                       {DHSS: "False", "snapshot_support": "True"}, REQUIRED_SPECS, models.ShareTypeProject,
                       check_project=uuid_project, public_access_error=Conflict)


def volume_types(core: c.Core) -> TypeCatalog:
    return TypeCatalog(core, models.VolumeType, models.Volume, "volume type", "__DEFAULT__", {}, set(),
                       models.VolumeTypeProject)

