"""Shoal's built-in Identity: users, projects, roles and role assignments in Shoal's
database; password authentication; tokens (see token_codec) validated with the roles
the user holds at validation time.

Only the `Default` domain exists. Roles imply others as in Keystone's bootstrap:
admin ⊃ member ⊃ reader, so a token lists the implied roles too.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shoal.config import IdentityConfig
from shoal.db import models

from ..common import core as c
from ..common import quotas
from ..common.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from .token_codec import TokenClaims, TokenCodec, load_or_create_key
from .tokens import TokenCache, TokenInfo, token_key

log = logging.getLogger(__name__)

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"
BUILTIN_ROLES = ("admin", "member", "reader")
IMPLIED_ROLES = {"admin": ("member", "reader"), "member": ("reader",)}
VALIDATION_CACHE_SECONDS = 10.0  # local changes clear the cache at once
AUTH_FAILED = "The request you have made requires authentication."


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _text(value: Any, what: str, limit: int, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Invalid(f"{what} must be a non-empty string of at most {limit} characters")
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{what} must be a boolean")
    return value


def system_caller() -> TokenInfo:
    """The caller of offline admin commands (`shoal identity ...`)."""
    return TokenInfo(user_id="shoal", user_name="shoal", project_id=None, project_name=None,
                     roles=with_implied({"admin"}), expires_at=datetime.max)


def with_implied(names: set[str]) -> tuple[str, ...]:
    out = set(names)
    for name in names:
        out.update(IMPLIED_ROLES.get(name, ()))
    return tuple(sorted(out))


def _domain_id(domain: Any) -> str:
    """The domain of an auth request ({"id": ..} or {"name": ..}); only Default exists."""
    if domain is None:
        return DEFAULT_DOMAIN_ID
    if not isinstance(domain, dict):
        raise Unauthorized(AUTH_FAILED)
    if domain.get("id") in (DEFAULT_DOMAIN_ID,) or domain.get("name") == DEFAULT_DOMAIN_NAME:
        return DEFAULT_DOMAIN_ID
    raise Unauthorized(AUTH_FAILED)


class Identity:
    def __init__(self, core: c.Core, cfg: IdentityConfig, state_dir: str):
        self.core, self.cfg = core, cfg
        key_file = Path(cfg.key_file) if cfg.key_file else Path(state_dir) / "identity" / "token.key"
        self.codec = TokenCodec(load_or_create_key(key_file), cfg.token_ttl)
        # argon2id at OWASP's baseline (19 MiB, 2 passes, 1 lane): memory-hard, yet a login
        # costs tens of milliseconds on a small host. Hashes carry their parameters, so
        # raising them later still verifies the old ones.
        self.hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
        self._dummy_hash = self.hasher.hash("not a password")
        self._cache = TokenCache(max_entries=10000)

    # ---- bootstrap (offline admin commands) ------------------------------------------

    def bootstrap(self, username: str, password: str, project_name: str = "admin") -> tuple[models.User, models.Project]:
        """The built-in roles, an admin project and an admin user with the admin role on it.
        Idempotent; an existing user gets the given password."""
        _text(username, "user name", 255)
        _text(password, "password", 4096)
        _text(project_name, "project name", 64)
        with self.core.db.session() as session:
            roles = self._ensure_roles(session)
            project = self._project_by_name(session, project_name)
            if project is None:
                project = models.Project(name=project_name, description="Bootstrap project")
                session.add(project)
            user = self._user_by_name(session, username)
            if user is None:
                user = models.User(name=username)
                session.add(user)
            user.password_hash = self.hasher.hash(password)
            user.enabled = True
            user.default_project_id = user.default_project_id or project.id
            session.flush()
            if session.get(models.RoleAssignment, (user.id, project.id, roles["admin"].id)) is None:
                session.add(models.RoleAssignment(user_id=user.id, project_id=project.id, role_id=roles["admin"].id))
        self._forget_all()
        return user, project

    def has_admin(self) -> bool:
        """Does any enabled user hold the admin role on an enabled project?"""
        with self.core.db.session() as session:
            query = (select(models.RoleAssignment.user_id)
                     .join(models.Role, models.Role.id == models.RoleAssignment.role_id)
                     .join(models.User, models.User.id == models.RoleAssignment.user_id)
                     .join(models.Project, models.Project.id == models.RoleAssignment.project_id)
                     .where(models.Role.name == "admin", models.User.enabled.is_(True),
                            models.Project.enabled.is_(True)))
            return session.scalars(query).first() is not None

    def ensure_roles(self) -> None:
        with self.core.db.session() as session:
            self._ensure_roles(session)

    @staticmethod
    def _ensure_roles(session: Session) -> dict[str, models.Role]:
        roles = {r.name: r for r in session.scalars(select(models.Role).where(models.Role.name.in_(BUILTIN_ROLES)))}
        for name in BUILTIN_ROLES:
            if name not in roles:
                roles[name] = models.Role(name=name)
                session.add(roles[name])
        session.flush()
        return roles

    # ---- authentication ----------------------------------------------------------------

    def authenticate(self, auth: Any) -> tuple[str, TokenInfo]:
        """POST /auth/tokens: a new token for valid credentials, else Unauthorized."""
        if not isinstance(auth, dict) or not isinstance(auth.get("identity"), dict):
            raise Invalid("Expecting to find identity in auth.")
        identity = auth["identity"]
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
            raise Invalid("Expecting to find methods in identity.")
        expires_at = None
        if "password" in methods:
            user_id = self._check_password(identity.get("password"))
        elif "token" in methods:
            token = identity.get("token")
            if not isinstance(token, dict) or not isinstance(token.get("id"), str):
                raise Invalid("Expecting to find id in token.")
            old = self.validate_token(token["id"])
            # A token from a token never outlives the original (Keystone's rule).
            user_id, expires_at = old.user_id, old.expires_at
        else:
            raise Unauthorized("Attempted to authenticate with an unsupported method.")
        project_id = self._scope(user_id, auth.get("scope"))
        token, claims = self.codec.issue(user_id, project_id, tuple(methods), expires_at)
        return token, self._info(claims)

    def _check_password(self, method: Any) -> str:
        user_ref = method.get("user") if isinstance(method, dict) else None
        if not isinstance(user_ref, dict) or not isinstance(user_ref.get("password"), str):
            raise Invalid("Expecting to find user and password in the password method.")
        with self.core.db.session() as session:
            if isinstance(user_ref.get("id"), str):
                user = session.get(models.User, user_ref["id"])
            elif isinstance(user_ref.get("name"), str):
                user = self._user_by_name(session, user_ref["name"], _domain_id(user_ref.get("domain")))
            else:
                raise Invalid("Expecting to find the user's id or name.")
            stored = user.password_hash if user is not None else None
            enabled = user is not None and user.enabled
            user_id = user.id if user is not None else None
        try:
            # A missing user costs the same hash check, so timing does not reveal who exists.
            self.hasher.verify(stored or self._dummy_hash, user_ref["password"])
            ok = stored is not None and enabled
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            log.info("password authentication failed for user %s", user_ref.get("name") or user_ref.get("id"))
            raise Unauthorized(AUTH_FAILED)
        return user_id

    def _scope(self, user_id: str, scope: Any) -> str | None:
        with self.core.db.session() as session:
            if scope is None or scope == "unscoped":
                user = session.get(models.User, user_id)
                default = user.default_project_id if user else None
                # As Keystone: no scope asked means the default project, when the user has a role there.
                if default and self._role_ids(session, user_id, default):
                    project = session.get(models.Project, default)
                    if project is not None and project.enabled and scope is None:
                        return default
                return None
            if not isinstance(scope, dict) or not isinstance(scope.get("project"), dict):
                raise Unauthorized("Only project scope is supported.")
            ref = scope["project"]
            if isinstance(ref.get("id"), str):
                project = session.get(models.Project, ref["id"])
            elif isinstance(ref.get("name"), str):
                project = self._project_by_name(session, ref["name"], _domain_id(ref.get("domain")))
            else:
                raise Invalid("Expecting to find the project's id or name in the scope.")
            if project is None or not project.enabled or not self._role_ids(session, user_id, project.id):
                log.info("user %s has no role on the requested project", user_id)
                raise Unauthorized(AUTH_FAILED)
            return project.id

    def validate_token(self, token: str) -> TokenInfo:
        """The TokenInfo of a valid token, or Unauthorized (garbled, expired, revoked,
        user or project gone or disabled, no role left on the project)."""
        if not isinstance(token, str) or not token or len(token) > 1024:
            raise Unauthorized("The token is not valid.")
        hit = self.cached(token)
        if hit is not None:
            return hit
        key = token_key(token)
        info = self._info(self.codec.read(token))
        until_expiry = (info.expires_at - _now()).total_seconds()
        self._cache.put(key, info, min(VALIDATION_CACHE_SECONDS, until_expiry))
        return info

    def cached(self, token: str) -> TokenInfo | None:
        """The TokenInfo of a token validated recently, without any I/O; else None."""
        if not isinstance(token, str) or not token or len(token) > 1024:
            return None
        return self._cache.get(token_key(token))

    def _info(self, claims: TokenClaims) -> TokenInfo:
        with self.core.db.session() as session:
            if session.get(models.RevokedToken, claims.audit_id) is not None:
                raise Unauthorized("The token has been revoked.")
            user = session.get(models.User, claims.user_id)
            if user is None or not user.enabled:
                raise Unauthorized("The token's user no longer exists or is disabled.")
            if user.tokens_valid_after and claims.issued_at < user.tokens_valid_after:
                raise Unauthorized("The token has been revoked.")
            project_name, roles = None, ()
            if claims.project_id is not None:
                project = session.get(models.Project, claims.project_id)
                if project is None or not project.enabled:
                    raise Unauthorized("The token's project no longer exists or is disabled.")
                role_ids = self._role_ids(session, user.id, project.id)
                if not role_ids:
                    raise Unauthorized("The token's user has no role on its project any more.")
                names = set(session.scalars(select(models.Role.name).where(models.Role.id.in_(role_ids))))
                project_name, roles = project.name, with_implied(names)
            return TokenInfo(user_id=user.id, user_name=user.name, project_id=claims.project_id,
                             project_name=project_name, roles=roles, expires_at=claims.expires_at,
                             audit_id=claims.audit_id, domain_id=user.domain_id, methods=claims.methods,
                             issued_at=claims.issued_at)

    def role_ids(self) -> dict[str, str]:
        """Role name -> id, for token bodies."""
        with self.core.db.session() as session:
            return {r.name: r.id for r in session.scalars(select(models.Role))}

    def revoke_token(self, token: str) -> None:
        info = self.validate_token(token)
        with self.core.db.session() as session:
            session.execute(delete(models.RevokedToken).where(models.RevokedToken.expires_at < _now()))
            if session.get(models.RevokedToken, info.audit_id) is None:
                session.add(models.RevokedToken(audit_id=info.audit_id, expires_at=info.expires_at))
        self._forget_all()

    def _forget_all(self) -> None:
        self._cache.clear()

    # ---- lookups -----------------------------------------------------------------------

    @staticmethod
    def _role_ids(session: Session, user_id: str, project_id: str) -> list[str]:
        return list(session.scalars(select(models.RoleAssignment.role_id).where(
            models.RoleAssignment.user_id == user_id, models.RoleAssignment.project_id == project_id)))

    @staticmethod
    def _user_by_name(session: Session, name: str, domain_id: str = DEFAULT_DOMAIN_ID) -> models.User | None:
        return session.scalars(select(models.User).where(models.User.name == name,
                                                         models.User.domain_id == domain_id)).first()

    @staticmethod
    def _project_by_name(session: Session, name: str, domain_id: str = DEFAULT_DOMAIN_ID) -> models.Project | None:
        return session.scalars(select(models.Project).where(models.Project.name == name,
                                                            models.Project.domain_id == domain_id)).first()

    @staticmethod
    def _admin(caller: TokenInfo) -> None:
        if "admin" not in caller.roles:
            raise Forbidden("You are not authorized to perform the requested action: admin role required.")

    @staticmethod
    def _get(session: Session, model, item_id: str, label: str):
        row = session.get(model, item_id)
        if row is None:
            raise NotFound(f"Could not find {label}: {item_id}.")
        return row

    @staticmethod
    def _check_domain(fields: dict) -> None:
        if fields.get("domain_id", DEFAULT_DOMAIN_ID) not in (DEFAULT_DOMAIN_ID, None):
            raise NotFound(f"Could not find domain: {fields['domain_id']}.")

    # ---- projects ----------------------------------------------------------------------

    def _list(self, caller: TokenInfo, model, name: str | None, enabled: bool | None = None) -> list:
        self._admin(caller)
        query = select(model).order_by(model.name)
        if name is not None:
            query = query.where(model.name == name)
        if enabled is not None:
            query = query.where(model.enabled.is_(enabled))
        with self.core.db.session() as session:
            return list(session.scalars(query))

    @staticmethod
    def _unique_name(session: Session, model, name: Any, label: str, limit: int) -> str:
        name = _text(name, f"{label} name", limit)
        if session.scalars(select(model.id).where(model.name == name)).first() is not None:
            raise Conflict(f"Conflict occurred attempting to store {label} - Duplicate entry found with name {name}.")
        return name

    def list_projects(self, caller: TokenInfo, name: str | None = None, enabled: bool | None = None) -> list:
        return self._list(caller, models.Project, name, enabled)

    def get_project(self, caller: TokenInfo, project_id: str) -> models.Project:
        if caller.project_id != project_id:
            self._admin(caller)
        with self.core.db.session() as session:
            return self._get(session, models.Project, project_id, "project")

    def create_project(self, caller: TokenInfo, fields: dict) -> models.Project:
        self._admin(caller)
        self._check_domain(fields)
        project = models.Project(description=_text(fields.get("description"), "description", 65535, False),
                                 enabled=_bool(fields.get("enabled", True), "enabled"))
        with self.core.db.session() as session:
            project.name = self._unique_name(session, models.Project, fields.get("name"), "project", 64)
            session.add(project)
        return project

    def update_project(self, caller: TokenInfo, project_id: str, fields: dict) -> models.Project:
        self._admin(caller)
        with self.core.db.session() as session:
            project = self._get(session, models.Project, project_id, "project")
            if "name" in fields and fields["name"] != project.name:
                project.name = self._unique_name(session, models.Project, fields["name"], "project", 64)
            if "description" in fields:
                project.description = _text(fields["description"], "description", 65535, False)
            if "enabled" in fields:
                project.enabled = _bool(fields["enabled"], "enabled")
        self._forget_all()
        return project

    def delete_project(self, caller: TokenInfo, project_id: str) -> None:
        self._admin(caller)
        with self.core.db.session() as session:
            project = self._get(session, models.Project, project_id, "project")
            session.execute(delete(models.RoleAssignment).where(models.RoleAssignment.project_id == project_id))
            quotas.drop_project(session, project_id)  # its quota sets go with it
            session.delete(project)
        self._forget_all()

    def user_projects(self, caller: TokenInfo, user_id: str) -> list:
        if caller.user_id != user_id:
            self._admin(caller)
        with self.core.db.session() as session:
            self._get(session, models.User, user_id, "user")
            ids = select(models.RoleAssignment.project_id).where(models.RoleAssignment.user_id == user_id)
            return list(session.scalars(select(models.Project).where(models.Project.id.in_(ids))
                                        .order_by(models.Project.name)))

    # ---- users -------------------------------------------------------------------------

    def list_users(self, caller: TokenInfo, name: str | None = None, enabled: bool | None = None) -> list:
        return self._list(caller, models.User, name, enabled)

    def get_user(self, caller: TokenInfo, user_id: str) -> models.User:
        if caller.user_id != user_id:
            self._admin(caller)
        with self.core.db.session() as session:
            return self._get(session, models.User, user_id, "user")

    def create_user(self, caller: TokenInfo, fields: dict) -> models.User:
        self._admin(caller)
        self._check_domain(fields)
        user = models.User(enabled=_bool(fields.get("enabled", True), "enabled"),
                           description=_text(fields.get("description"), "description", 65535, False),
                           email=_text(fields.get("email"), "email", 255, False))
        if fields.get("password") is not None:
            user.password_hash = self.hasher.hash(_text(fields["password"], "password", 4096))
        with self.core.db.session() as session:
            if fields.get("default_project_id") is not None:
                user.default_project_id = self._get(session, models.Project, fields["default_project_id"], "project").id
            user.name = self._unique_name(session, models.User, fields.get("name"), "user", 255)
            session.add(user)
        return user

    def update_user(self, caller: TokenInfo, user_id: str, fields: dict) -> models.User:
        self._admin(caller)
        with self.core.db.session() as session:
            user = self._get(session, models.User, user_id, "user")
            if "name" in fields and fields["name"] != user.name:
                user.name = self._unique_name(session, models.User, fields["name"], "user", 255)
            for key, limit in (("description", 65535), ("email", 255)):
                if key in fields:
                    setattr(user, key, _text(fields[key], key, limit, False))
            if "default_project_id" in fields:
                ref = fields["default_project_id"]
                user.default_project_id = None if ref is None else self._get(session, models.Project, ref, "project").id
            if "password" in fields:
                user.password_hash = self.hasher.hash(_text(fields["password"], "password", 4096))
                user.tokens_valid_after = _now()
            if "enabled" in fields:
                user.enabled = _bool(fields["enabled"], "enabled")
                if not user.enabled:
                    user.tokens_valid_after = _now()
        self._forget_all()
        return user

    def change_password(self, caller: TokenInfo, user_id: str, original: Any, new: Any) -> None:
        """Self-service: the user proves the old password; every older token stops working."""
        if caller.user_id != user_id:
            raise Forbidden("You may only change your own password.")
        self._check_password({"user": {"id": user_id, "password": original if isinstance(original, str) else ""}})
        new = _text(new, "password", 4096)
        with self.core.db.session() as session:
            user = self._get(session, models.User, user_id, "user")
            user.password_hash = self.hasher.hash(new)
            user.tokens_valid_after = _now()
        self._forget_all()

    def delete_user(self, caller: TokenInfo, user_id: str) -> None:
        self._admin(caller)
        with self.core.db.session() as session:
            user = self._get(session, models.User, user_id, "user")
            session.execute(delete(models.RoleAssignment).where(models.RoleAssignment.user_id == user_id))
            session.delete(user)
        self._forget_all()

    # ---- roles and assignments ---------------------------------------------------------

    def list_roles(self, caller: TokenInfo, name: str | None = None) -> list:
        return self._list(caller, models.Role, name)

    def get_role(self, caller: TokenInfo, role_id: str) -> models.Role:
        self._admin(caller)
        with self.core.db.session() as session:
            return self._get(session, models.Role, role_id, "role")

    def create_role(self, caller: TokenInfo, fields: dict) -> models.Role:
        self._admin(caller)
        role = models.Role(description=_text(fields.get("description"), "description", 65535, False))
        with self.core.db.session() as session:
            role.name = self._unique_name(session, models.Role, fields.get("name"), "role", 255)
            session.add(role)
        return role

    def delete_role(self, caller: TokenInfo, role_id: str) -> None:
        self._admin(caller)
        with self.core.db.session() as session:
            role = self._get(session, models.Role, role_id, "role")
            if role.name in BUILTIN_ROLES:
                raise Forbidden(f"The built-in role {role.name} cannot be deleted.")
            session.execute(delete(models.RoleAssignment).where(models.RoleAssignment.role_id == role_id))
            session.delete(role)
        self._forget_all()

    def _assignment_refs(self, session: Session, project_id: str, user_id: str, role_id: str) -> None:
        self._get(session, models.Project, project_id, "project")
        self._get(session, models.User, user_id, "user")
        self._get(session, models.Role, role_id, "role")

    def grant(self, caller: TokenInfo, project_id: str, user_id: str, role_id: str) -> None:
        self._admin(caller)
        with self.core.db.session() as session:
            self._assignment_refs(session, project_id, user_id, role_id)
            if session.get(models.RoleAssignment, (user_id, project_id, role_id)) is None:
                session.add(models.RoleAssignment(user_id=user_id, project_id=project_id, role_id=role_id))
        self._forget_all()

    def check_grant(self, caller: TokenInfo, project_id: str, user_id: str, role_id: str) -> None:
        self._admin(caller)
        with self.core.db.session() as session:
            self._assignment_refs(session, project_id, user_id, role_id)
            if session.get(models.RoleAssignment, (user_id, project_id, role_id)) is None:
                raise NotFound(f"Could not find role assignment with role: {role_id}, user or group: {user_id}, "
                               f"project, domain, or system: {project_id}.")

    def revoke_grant(self, caller: TokenInfo, project_id: str, user_id: str, role_id: str) -> None:
        self.check_grant(caller, project_id, user_id, role_id)
        with self.core.db.session() as session:
            session.execute(delete(models.RoleAssignment).where(
                models.RoleAssignment.user_id == user_id, models.RoleAssignment.project_id == project_id,
                models.RoleAssignment.role_id == role_id))
        self._forget_all()

    def project_user_roles(self, caller: TokenInfo, project_id: str, user_id: str) -> list:
        self._admin(caller)
        with self.core.db.session() as session:
            self._get(session, models.Project, project_id, "project")
            self._get(session, models.User, user_id, "user")
            ids = self._role_ids(session, user_id, project_id)
            return list(session.scalars(select(models.Role).where(models.Role.id.in_(ids)).order_by(models.Role.name)))

    def assignments(self, caller: TokenInfo, user_id: str | None = None, project_id: str | None = None,
                    role_id: str | None = None) -> list[tuple[models.RoleAssignment, models.User, models.Project, models.Role]]:
        """Role assignments, with the names of what they join (for `include_names`)."""
        if caller.user_id != user_id:
            self._admin(caller)
        query = (select(models.RoleAssignment, models.User, models.Project, models.Role)
                 .join(models.User, models.User.id == models.RoleAssignment.user_id)
                 .join(models.Project, models.Project.id == models.RoleAssignment.project_id)
                 .join(models.Role, models.Role.id == models.RoleAssignment.role_id)
                 .order_by(models.User.name, models.Project.name, models.Role.name))
        if user_id is not None:
            query = query.where(models.RoleAssignment.user_id == user_id)
        if project_id is not None:
            query = query.where(models.RoleAssignment.project_id == project_id)
        if role_id is not None:
            query = query.where(models.RoleAssignment.role_id == role_id)
        with self.core.db.session() as session:
            return [tuple(row) for row in session.execute(query)]
