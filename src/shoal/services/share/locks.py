"""Resource locks (Manila 2.81) and the access-rule locks of 2.82.

A `delete` lock on a share refuses its deletion, soft deletion and unmanage (also
to administrators, also forced) until every such lock is gone. On an access rule,
a `delete` lock refuses its denial unless the caller asks to `unrestrict` and may
drop the locks; a `show` lock (one per rule) hides the rule's access_to and
access_key from everyone but administrators and the user who placed it.

Who may change or remove a lock (Manila's policy and _check_allow_lock_manipulation):
its owner or an administrator, and a lock placed as an administrator
(lock_context `admin`) only an administrator."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from shoal.db import models
from shoal.db.resource_locks import ResourceLock

from ..common import core as c
from ..common.checks import check_text
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound
from ..common.types import check_bool
from . import rows as sr

ACTIONS = {"share": ("delete",), "access_rule": ("delete", "show")}
# statuses a deletion lock would be futile in (Manila's DISALLOWED_STATUS_WHEN_LOCKING_*)
NOT_LOCKABLE = {"share": ("deleting", "error_deleting", "unmanaging", "manage_error_unmanaging",
                          "unmanage_error", "unmanaged"),
                "access_rule": ("queued_to_deny", "denying", "error", "deleted")}
SHARE_LOCKED_BY_ACCESS_LOCK = "Locked by access lock: %s"
FILTERS = ("id", "user_id", "resource_id", "resource_type", "lock_context", "resource_action", "lock_reason",
           "project_id")
SORT_KEYS = ("created_at", "updated_at", "id", "resource_id", "resource_type", "resource_action", "lock_context",
             "user_id", "project_id", "lock_reason")
HIDDEN = "******"


def _context(ctx: RequestContext) -> str:
    return "admin" if ctx.is_admin else "user"


def check_reason(reason: Any) -> str | None:
    if reason is not None and (not isinstance(reason, str) or len(reason) > 1023):
        raise Invalid("'lock_reason' can contain a maximum of 1023 characters.")
    check_text("lock_reason", reason, 1023)
    return reason


def _check_action(resource_type: str, action: Any) -> str:
    if action not in ACTIONS[resource_type]:
        raise Invalid(f"'resource_action' can only be one of {list(ACTIONS[resource_type])}")
    return action


def may_manipulate(ctx: RequestContext, lock: ResourceLock) -> bool:
    """Its owner or an administrator; a lock placed as an administrator, an administrator only."""
    if lock.lock_context == "admin" and not ctx.is_admin:
        return False
    return ctx.is_admin or lock.user_id == ctx.user_id


def _when(field: str, value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        raise Invalid(f"Invalid value specified for the query key: {field}") from None


def refuse_if_locked(session, share_id: str, action: str = "delete") -> None:
    """Manila's prevent_locked_action_on_share: a 403 whoever asks (delete, soft delete,
    unmanage; forced or not)."""
    ids = list(session.scalars(select(ResourceLock.id).where(
        ResourceLock.resource_id == share_id, ResourceLock.resource_action == action)))
    if ids:
        raise Forbidden(f"Resource lock/s [{', '.join(ids)}] prevent {action} action.")


def drop_rule_locks(connection, share_id: str) -> None:
    """A share's rules are going with it: so do their locks (a visibility lock is all
    a rule may still have then; deletion locks kept the share from being deleted)."""
    rules = select(models.AccessRule.id).where(models.AccessRule.share_id == share_id)
    connection.execute(delete(ResourceLock.__table__).where(ResourceLock.__table__.c.resource_id.in_(rules)))


class ResourceLocks:
    def __init__(self, core: c.Core):
        self.core = core

    # ---- the resources -------------------------------------------------------------------

    @staticmethod
    def _resource(session, ctx: RequestContext, resource_type: str, resource_id: str):
        """The share or access rule, if the caller may see it; its state."""
        try:
            if resource_type == "share":
                share = sr.get_share(session, ctx, resource_id, locations=False)
                if share.is_soft_deleted:
                    raise Conflict("Resource cannot be locked since it has been soft deleted.")
                return share.status
            rule = session.get(models.AccessRule, resource_id)
            if rule is None:
                raise NotFound(resource_id)
            sr.get_share(session, ctx, rule.share_id, locations=False)
            return rule.state
        except NotFound:
            raise Invalid("No such resource found.") from None

    def _add(self, session, ctx: RequestContext, resource_type: str, resource_id: str, action: str,
             reason: str | None) -> ResourceLock:
        if action == "show" and session.scalars(select(ResourceLock.id).where(
                ResourceLock.resource_id == resource_id, ResourceLock.resource_action == "show")).first():
            raise Conflict("Resource's visibility is already locked by other user.")
        if action == "delete" and self._resource(session, ctx, resource_type, resource_id) in \
                NOT_LOCKABLE[resource_type]:
            raise Conflict("Resource status not suitable for locking")
        lock = ResourceLock(user_id=ctx.user_id, project_id=ctx.project_id, lock_context=_context(ctx),
                            resource_id=resource_id, resource_type=resource_type, resource_action=action,
                            lock_reason=reason)
        session.add(lock)
        session.flush()
        return lock

    # ---- /resource-locks -----------------------------------------------------------------

    def create(self, ctx: RequestContext, body: dict) -> ResourceLock:
        """Manila's checks in Manila's order: a malformed body is a 400, a resource not
        found a 400, a second visibility lock or a resource being deleted a 409."""
        reason = check_reason(body.get("lock_reason") or None)
        resource_type = body.get("resource_type", "share")
        if not isinstance(resource_type, str) or resource_type not in ACTIONS:
            raise Invalid(f"'resource_type' is required and must be one of {tuple(ACTIONS)}")
        action = _check_action(resource_type, body.get("resource_action") or "delete")
        resource_id = body.get("resource_id")
        try:
            uuid.UUID(str(resource_id))
        except ValueError:
            raise Invalid("Resource ID is required and must be in uuid format.") from None
        with self.core.db.session() as session:
            self._resource(session, ctx, resource_type, resource_id)
            return self._add(session, ctx, resource_type, resource_id, action, reason)

    @staticmethod
    def _find(session, ctx: RequestContext, lock_id: Any) -> ResourceLock:
        lock = session.get(ResourceLock, lock_id) if isinstance(lock_id, str) else None
        if lock is None or not ctx.reaches(lock.project_id):
            raise NotFound(f"Resource lock {lock_id} could not be found.")
        return lock

    def get(self, ctx: RequestContext, lock_id: str) -> ResourceLock:
        with self.core.db.session() as session:
            return self._find(session, ctx, lock_id)

    def list(self, ctx: RequestContext, params: dict[str, str]) -> tuple[list[ResourceLock], int]:
        """(a page, how many matched): Manila's filters, sort (created_at desc) and paging."""
        params = dict(params)
        if not ctx.is_admin and "all_projects" in params:  # Manila drops both for others
            params.pop("all_projects")
            params.pop("project_id", None)
        project = params.get("project_id")
        if project is not None and not ctx.reaches(project):
            raise Forbidden("Policy doesn't allow listing the locks of another project.")
        query = select(ResourceLock)
        if project is None and not (params.get("all_projects") or params.get("all_tenants")):
            query = query.where(ResourceLock.project_id == ctx.project_id)
        for key in FILTERS:
            if key in params:
                query = query.where(getattr(ResourceLock, key) == params[key])
        if "lock_reason~" in params:
            query = query.where(ResourceLock.lock_reason.contains(params["lock_reason~"], autoescape=True))
        if "created_since" in params:
            query = query.where(ResourceLock.created_at >= _when("created_since", params["created_since"]))
        if "created_before" in params:
            query = query.where(ResourceLock.created_at <= _when("created_before", params["created_before"]))
        sort_key, sort_dir = params.get("sort_key", "created_at"), params.get("sort_dir", "desc")
        if sort_key not in SORT_KEYS or sort_dir not in ("asc", "desc"):
            raise Invalid(f"Invalid sort: {sort_key} {sort_dir}")
        column = getattr(ResourceLock, sort_key)
        query = query.order_by(column.asc() if sort_dir == "asc" else column.desc(), ResourceLock.id)
        with self.core.db.session() as session:
            found = list(session.scalars(query))
        return found, len(found)

    def update(self, ctx: RequestContext, lock_id: str, body: dict) -> ResourceLock:
        with self.core.db.session() as session:
            lock = self._find(session, ctx, lock_id)
            if set(body) - {"resource_action", "lock_reason"}:
                raise Invalid("Only 'resource_action' and 'lock_reason' can be updated.")
            reason = check_reason(body.get("lock_reason") or None)
            action = _check_action(lock.resource_type, body.get("resource_action") or "delete")
            if not may_manipulate(ctx, lock):
                raise Forbidden("Resource lock cannot be manipulated by user. Please contact the administrator.")
            if "resource_action" in body and action != lock.resource_action:
                if action == "show" and session.scalars(select(ResourceLock.id).where(
                        ResourceLock.resource_id == lock.resource_id, ResourceLock.resource_action == "show")).first():
                    raise Invalid("The resource already has a visibility lock.")
                if self._resource(session, ctx, lock.resource_type, lock.resource_id) in \
                        NOT_LOCKABLE[lock.resource_type] and action == "delete":
                    raise Invalid("Resource status not suitable for locking")
                lock.resource_action = action
            if "lock_reason" in body:
                lock.lock_reason = reason
            lock.updated_at = models.utcnow()
            session.flush()
            return lock

    def delete(self, ctx: RequestContext, lock_id: str) -> None:
        with self.core.db.session() as session:
            lock = self._find(session, ctx, lock_id)
            if not may_manipulate(ctx, lock):
                raise Forbidden("Resource lock cannot be manipulated by user. Please contact the administrator.")
            session.delete(lock)

    # ---- access rules (2.82) -------------------------------------------------------------

    def lock_rule(self, ctx: RequestContext, rule: models.AccessRule, visibility: Any, deletion: Any,
                  reason: Any) -> None:
        """The locks asked for with allow_access: a deletion lock on the rule and one on its
        share, a visibility lock on the rule. All or none (a 400 when one cannot be placed)."""
        visibility = check_bool("lock_visibility", visibility or False)
        deletion = check_bool("lock_deletion", deletion or False)
        reason = check_reason(reason)
        with self.core.db.session() as session:
            what = "deletion of the access rule"
            try:
                if deletion:
                    lock = self._add(session, ctx, "access_rule", rule.id, "delete", reason)
                    what = "deletion of the share"
                    self._add(session, ctx, "share", rule.share_id, "delete", SHARE_LOCKED_BY_ACCESS_LOCK % lock.id)
                what = "visibility of the access rule"
                if visibility:
                    self._add(session, ctx, "access_rule", rule.id, "show", reason)
            except (Conflict, Invalid):
                raise Invalid(f"Failed to lock the {what} {rule.id}.") from None

    def check_lock_args(self, visibility: Any, deletion: Any, reason: Any) -> None:
        """Before the rule is made: a reason without a lock is a 400, as Manila's."""
        if reason is not None and not (visibility or deletion):
            raise Invalid("Lock reason can only be specified when locking the visibility or the deletion of an "
                          "access rule.")
        check_bool("lock_visibility", visibility or False)
        check_bool("lock_deletion", deletion or False)
        check_reason(reason)

    def restricted(self, ctx: RequestContext, rule_ids: list[str]) -> set[str]:
        """The rules whose access_to and access_key this caller may not see."""
        if not rule_ids:
            return set()
        with self.core.db.session() as session:
            locks = session.scalars(select(ResourceLock).where(
                ResourceLock.resource_id.in_(rule_ids), ResourceLock.resource_action == "show"))
            return {lock.resource_id for lock in locks if not may_manipulate(ctx, lock)}

    def before_deny(self, ctx: RequestContext, share_id: str, access_id: Any, unrestrict: Any) -> None:
        """Manila's _check_for_access_rule_locks: a rule locked against deletion is denied only
        with `unrestrict`, by someone who may drop every such lock."""
        unrestrict = check_bool("unrestrict", unrestrict or False)
        if not isinstance(access_id, str):
            return  # no such rule: the deny itself says so
        with self.core.db.session() as session:
            locks = list(session.scalars(select(ResourceLock).where(
                ResourceLock.resource_id == access_id, ResourceLock.resource_action == "delete")))
        if locks and not unrestrict:
            raise Forbidden(f"Cannot deny access for share '{share_id}' since it has been locked. Please remove "
                            f"the locks and retry the operation")
        if any(not may_manipulate(ctx, lock) for lock in locks):
            raise Forbidden("Unable to drop access rule restrictions that are not placed by you.")

    def forget_rule(self, access_id: str) -> None:
        """A rule denied: its locks go, and the share deletion locks its deletion locks placed."""
        if not isinstance(access_id, str):
            return
        with self.core.db.session() as session:
            locks = list(session.scalars(select(ResourceLock).where(ResourceLock.resource_id == access_id)))
            reasons = [SHARE_LOCKED_BY_ACCESS_LOCK % lock.id for lock in locks if lock.resource_action == "delete"]
            if reasons:
                locks += list(session.scalars(select(ResourceLock).where(
                    ResourceLock.resource_type == "share", ResourceLock.lock_reason.in_(reasons))))
            for lock in locks:
                session.delete(lock)


__all__ = ["ResourceLocks", "HIDDEN", "drop_rule_locks", "may_manipulate", "refuse_if_locked"]
