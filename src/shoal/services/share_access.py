"""Access rules, following Manila's update-access contract.

Allow and deny only queue a change; one coalesced background sync per share
then hands the driver the whole desired rule set (a bulk resync every time),
marks the rules it applied `active`, the ones it could not `error` (the others
are unaffected), and forgets denied rules. A rule denied before it was ever
applied is simply dropped.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from shoal.db import models

from . import core as c
from .context import RequestContext
from .errors import Forbidden, Invalid, NotFound

log = logging.getLogger(__name__)

ACCESS_TYPES = ("ip", "user", "cert", "cephx")
ACCESS_LEVELS = ("rw", "ro")
PENDING = ("queued_to_apply", "applying", "queued_to_deny", "denying")


def check_rule(access_type: Any, access_to: Any, access_level: Any) -> tuple[str, str, str]:
    if access_type not in ACCESS_TYPES:
        raise Invalid(f"access_type must be one of {', '.join(ACCESS_TYPES)}")
    if access_level is None:
        access_level = "rw"
    if access_level not in ACCESS_LEVELS:
        raise Invalid(f"access_level must be rw or ro, not {access_level!r}")
    if not isinstance(access_to, str) or not access_to.strip() or len(access_to) > 255:
        raise Invalid("access_to must be a non-empty string")
    access_to = access_to.strip()
    if access_type == "ip":
        try:
            net = ipaddress.ip_network(access_to, strict=True)
        except ValueError:
            raise Invalid(f"Invalid IP access rule {access_to!r}: not an IP address or CIDR with host bits zero") from None
        access_to = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
    return access_type, access_to, access_level


def mark_syncing(share: models.Share) -> None:
    """Always write the column, even if it already reads "syncing": a sync that
    finished meanwhile may have written "active", and must not win."""
    share.access_rules_status = "syncing"
    flag_modified(share, "access_rules_status")


class ShareAccess:
    def __init__(self, core: c.Core):
        self.core = core

    def allow(self, ctx: RequestContext, share_id: str, access_type: Any, access_to: Any,
              access_level: Any = "rw", metadata: dict | None = None) -> models.AccessRule:
        access_type, access_to, access_level = check_rule(access_type, access_to, access_level)
        with self.core.db.session() as session:
            share = self.core.get_share(session, ctx, share_id)
            if share.project_id != ctx.project_id and not ctx.is_admin:
                raise Forbidden("only the share's project may change its access")
            if share.status != "available":
                raise Invalid(f"Share status must be available, not {share.status}")
            existing = session.scalars(select(models.AccessRule).where(
                models.AccessRule.share_id == share_id, models.AccessRule.access_type == access_type,
                models.AccessRule.access_to == access_to)).first()
            if existing is not None:
                raise Invalid(f"Share access {access_type}:{access_to} exists already.")
            rule = models.AccessRule(share_id=share_id, access_type=access_type, access_to=access_to,
                                     access_level=access_level, state="queued_to_apply", metadata_=metadata or {})
            session.add(rule)
            mark_syncing(share)
            session.flush()
            session.refresh(rule)
            created = rule
        self.schedule_sync(share_id)
        return created

    def deny(self, ctx: RequestContext, share_id: str, access_id: Any) -> None:
        if not isinstance(access_id, str):
            raise Invalid("access_id must be a string")
        with self.core.db.session() as session:
            share = self.core.get_share(session, ctx, share_id)
            if share.project_id != ctx.project_id and not ctx.is_admin:
                raise Forbidden("only the share's project may change its access")
            rule = session.get(models.AccessRule, access_id)
            if rule is None or rule.share_id != share_id:
                raise NotFound(f"Access rule {access_id} could not be found.")
            if rule.state == "error":
                session.delete(rule)  # never in force: nothing to undo on the backend
                return
            rule.state = "queued_to_deny"
            mark_syncing(share)
        self.schedule_sync(share_id)

    def list(self, ctx: RequestContext, share_id: str) -> list[models.AccessRule]:
        with self.core.db.session() as session:
            self.core.get_share(session, ctx, share_id)
            return list(session.scalars(select(models.AccessRule).where(models.AccessRule.share_id == share_id)
                                        .order_by(models.AccessRule.created_at)))

    def get(self, ctx: RequestContext, access_id: str) -> models.AccessRule:
        with self.core.db.session() as session:
            rule = session.get(models.AccessRule, access_id)
            if rule is None:
                raise NotFound(f"Access rule {access_id} could not be found.")
            try:
                self.core.get_share(session, ctx, rule.share_id)
            except NotFound:
                raise NotFound(f"Access rule {access_id} could not be found.") from None
            return rule

    # ---- the sync -----------------------------------------------------------------

    def schedule_sync(self, share_id: str) -> None:
        self.core.tasks.coalesce(f"access:{share_id}", self._sync, share_id)

    def _sync(self, share_id: str) -> None:
        """Runs under the share's access lock; loops until no change is pending."""
        while True:
            with self.core.db.session() as session:
                share = session.get(models.Share, share_id)
                if share is None or share.backend is None:
                    return
                rules = list(session.scalars(select(models.AccessRule).where(models.AccessRule.share_id == share_id)))
                if not any(r.state in PENDING for r in rules) and share.access_rules_status != "syncing":
                    return
                for rule in rules:
                    if rule.state == "queued_to_apply":
                        rule.state = "applying"
                    elif rule.state == "queued_to_deny":
                        rule.state = "denying"
                ref, backend = self.core.share_ref(share), share.backend
                desired = self.core.rules_in_force(session, share_id)
                applying = {r.id for r in rules if r.state == "applying"}
                denying = {r.id for r in rules if r.state == "denying"}
            try:
                failed = self.core.driver(backend).update_access(ref, desired)
            except Exception as exc:
                log.warning("share %s: access update failed: %s", share_id, exc)
                failed = {rule_id: f"update failed: {exc}" for rule_id in applying | denying}
            with self.core.db.session() as session:
                share = session.get(models.Share, share_id)
                if share is None:
                    return
                for rule in session.scalars(select(models.AccessRule).where(models.AccessRule.share_id == share_id)):
                    if rule.id in failed:
                        rule.state, rule.status_reason = "error", failed[rule.id]
                    elif rule.id in denying:
                        session.delete(rule)
                    elif rule.id in applying:
                        rule.state = "active"
                pending = session.scalars(select(models.AccessRule).where(
                    models.AccessRule.share_id == share_id, models.AccessRule.state.in_(PENDING))).first()
                errors = session.scalars(select(models.AccessRule).where(
                    models.AccessRule.share_id == share_id, models.AccessRule.state == "error")).first()
                if pending is None:
                    share.access_rules_status = "error" if errors is not None else "active"
                    return
