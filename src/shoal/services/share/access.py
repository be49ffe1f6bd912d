"""Access rules, following Manila's update-access contract.

Allow and deny only queue a change; one coalesced background sync per share
then hands the driver the whole desired rule set (a bulk resync every time),
marks the rules it applied `active`, the ones it could not `error` (the others
are unaffected), and forgets denied rules. A rule denied before it was ever
applied is simply dropped. A request that finds no sync of its share running
claims the rules in its own transaction, under the share's lock, and the sync
it starts begins from what it read (see `_then_sync`).
"""

from __future__ import annotations

import ipaddress
import logging
from contextlib import contextmanager
from typing import Any

from sqlalchemy import bindparam, case, delete, select, update

from shoal.db import models
from shoal.drivers.base import AccessRule

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound
from . import rows as sr

log = logging.getLogger(__name__)

ACCESS_TYPES = ("ip", "user", "cert", "cephx")
ACCESS_LEVELS = ("rw", "ro")
PENDING = ("queued_to_apply", "applying", "queued_to_deny", "denying")
_CLAIM = {"queued_to_apply": "applying", "queued_to_deny": "denying"}  # what a sync takes on

# The statements of every allow, deny and sync, built once.
_R = models.AccessRule
_RULE_EXISTS = select(_R.id).where(_R.share_id == bindparam("b_share_id"), _R.access_type == bindparam("b_type"),
                                   _R.access_to == bindparam("b_to")).limit(1)
# Written on every allow and deny, even over "syncing": a sync that finished meanwhile may have written "active".
_MARK_SYNCING = update(models.Share).where(models.Share.id == bindparam("b_share_id")).values(access_rules_status="syncing")
_CLAIM_RULES = (update(_R).where(_R.share_id == bindparam("b_share_id"), _R.state.in_(tuple(_CLAIM)))
                .values(state=case(_CLAIM, value=_R.state)))
_RULES_OF_SHARE = select(_R.id, _R.access_type, _R.access_to, _R.access_level, _R.state).where(
    _R.share_id == bindparam("b_share_id"))
_FAIL_RULE = update(_R).where(_R.id == bindparam("b_id")).values(state="error", status_reason=bindparam("b_reason"))
_RULE_STATE = select(_R.share_id, _R.state).where(_R.id == bindparam("b_id"))
_DROP_RULE = delete(_R).where(_R.id == bindparam("b_id"))
_DENY = update(_R).where(_R.id == bindparam("b_id")).values(state=bindparam("b_state"))
_DROP_DENIED = delete(_R).where(_R.id.in_(bindparam("b_ids", expanding=True)), _R.state == "denying")
_ACTIVATE = update(_R).where(_R.id.in_(bindparam("b_ids", expanding=True)), _R.state == "applying").values(state="active")
_STATES_OF_SHARE = select(_R.state).where(_R.share_id == bindparam("b_share_id")).distinct()
_SET_RULES_STATUS = (update(models.Share).where(models.Share.id == bindparam("b_share_id"))
                     .values(access_rules_status=bindparam("b_status")))
# What an allow reads first, in one statement: the share, and whether the rule exists already.
_ALLOW_FACTS = sr.SHARE_FACTS.add_columns(_RULE_EXISTS.exists().label("taken"))


class _Change:
    """A request's change of a share's rules, and what it hands the sync it
    starts (see ShareAccess._then_sync)."""

    def __init__(self, share_id: str, lock):
        self.share_id = share_id
        self.lock = lock  # the share's lock, if it was free: held until the sync ends
        self.wanted = False
        self.claimed: tuple[sr.ShareFacts, list] | None = None

    @property
    def claims(self) -> bool:
        """Whether this request claims its own change: a rule it adds goes in as
        `applying`, one it denies becomes `denying`, as a sync's claim would."""
        return self.lock is not None

    def done(self, db, share: sr.ShareFacts) -> None:
        """Last in the request's transaction: have the change synced."""
        self.wanted = True
        key = {"b_share_id": self.share_id}
        db.execute(_MARK_SYNCING, key)
        if self.lock is None:
            return
        rules = db.execute(_RULES_OF_SHARE, key).all()
        if any(r.state in _CLAIM for r in rules):  # queued by requests that found a sync running
            db.execute(_CLAIM_RULES, key)
            rules = db.execute(_RULES_OF_SHARE, key).all()
        self.claimed = (share, rules)


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


class ShareAccess:
    def __init__(self, core: c.Core):
        self.core = core
        self.followers: list = []  # called with (share_id, rules in force) after each sync

    def allow(self, ctx: RequestContext, share_id: str, access_type: Any, access_to: Any,
              access_level: Any = "rw", metadata: dict | None = None) -> models.AccessRule:
        access_type, access_to, access_level = check_rule(access_type, access_to, access_level)
        # Statements built once on a plain connection, no session: building them, the
        # ORM's loading and the session's own bookkeeping were most of this request's
        # time (a burst of hundreds of allows pays it each time).
        with self._then_sync(share_id) as change, self.core.db.connection() as db:
            row = db.execute(_ALLOW_FACTS, {"share_id": share_id, "b_share_id": share_id, "b_type": access_type,
                                            "b_to": access_to}).one_or_none()
            share = sr.visible_share(ctx, share_id, sr.facts_of(row))
            if share.project_id != ctx.project_id and not ctx.is_admin:
                raise Forbidden("only the share's project may change its access")
            if share.status != "available":
                raise Invalid(f"Share status must be available, not {share.status}")
            if row.taken:
                raise Invalid(f"Share access {access_type}:{access_to} exists already.")
            rule = _R(share_id=share_id, access_type=access_type, access_to=access_to, access_level=access_level,
                      state="applying" if change.claims else "queued_to_apply", metadata_=metadata or {})
            c.insert_new(db, rule)
            change.done(db, share)
        return rule

    def deny(self, ctx: RequestContext, share_id: str, access_id: Any) -> None:
        with self._then_sync(share_id) as change, self.core.db.connection() as db:
            share = sr.share_facts(db, ctx, share_id)
            if share.project_id != ctx.project_id and not ctx.is_admin:
                raise Forbidden("only the share's project may change its access")
            rule = db.execute(_RULE_STATE, {"b_id": access_id}).first()
            if rule is None or rule.share_id != share_id:
                raise NotFound(f"Access rule {access_id} could not be found.")
            if rule.state == "error":
                db.execute(_DROP_RULE, {"b_id": access_id})  # never in force: nothing to undo on the backend
                change.done(db, share)  # but the share's access_rules_status is resynced, as Manila does
                return
            db.execute(_DENY, {"b_id": access_id, "b_state": "denying" if change.claims else "queued_to_deny"})
            change.done(db, share)

    @contextmanager
    def _then_sync(self, share_id: str):
        """Around a request's transaction that changes a share's rules: yields the
        `_Change`, whose `done` the request calls last in its transaction. If no
        sync of the share was running, the request holds the share's lock from
        the start and claims its own change (and any other pending one), and the
        sync started after the commit runs under that lock from what it read (the
        sync's own first transaction was a fifth of an allow's latency). Else the
        sync is queued behind the running one, which will see the change too."""
        change = _Change(share_id, self.core.tasks.try_key_lock(c.share_key(share_id)))
        lock = change.lock
        try:
            yield change
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        if change.claimed is not None:
            self.core.tasks.start_holding(lock, self._sync, share_id, change.claimed, waits=True)
            return
        if lock is not None:
            lock.release()
        if change.wanted:
            self.schedule_sync(share_id)

    def list(self, ctx: RequestContext, share_id: str) -> list[models.AccessRule]:
        with self.core.db.session() as session:
            sr.get_share(session, ctx, share_id)
            return list(session.scalars(select(models.AccessRule).where(models.AccessRule.share_id == share_id)
                                        .order_by(models.AccessRule.created_at)))

    def get(self, ctx: RequestContext, access_id: str) -> models.AccessRule:
        with self.core.db.session() as session:
            rule = session.get(models.AccessRule, access_id)
            if rule is None:
                raise NotFound(f"Access rule {access_id} could not be found.")
            try:
                sr.get_share(session, ctx, rule.share_id)
            except NotFound:
                raise NotFound(f"Access rule {access_id} could not be found.") from None
            return rule

    # ---- the sync -----------------------------------------------------------------

    def schedule_sync(self, share_id: str) -> None:
        # A sync waits for the export helper's reload: a task that waits (see TaskRunner.submit).
        self.core.tasks.coalesce(c.share_key(share_id), self._sync, share_id, waits=True)

    def _sync(self, share_id: str, claimed: tuple[sr.ShareFacts, list] | None = None) -> None:
        """Runs under the share's lock; loops until no change is pending. The
        first round may start from what a request `claimed` under that lock.
        Plain statements, nothing loaded into a session: this runs for every
        allow and deny, and most of its cost used to be the ORM's."""
        key = {"b_share_id": share_id}
        while True:
            if claimed is not None:
                (share, rules), claimed = claimed, None
            else:
                with self.core.db.connection() as db:
                    share = sr.read_share_facts(db, share_id)
                    if share is None or share.backend is None:
                        return
                    db.execute(_CLAIM_RULES, key)
                    rules = db.execute(_RULES_OF_SHARE, key).all()
                    if not any(r.state in PENDING for r in rules) and share.access_rules_status != "syncing":
                        return
            desired = [AccessRule(r.id, r.access_type, r.access_to, r.access_level) for r in rules if r.state in sr.RULES_IN_FORCE]
            applying = {r.id for r in rules if r.state == "applying"}
            denying = {r.id for r in rules if r.state == "denying"}
            try:
                failed = self.core.driver(share.backend).update_access(share.ref, desired)
            except Exception as exc:
                log.warning("share %s: access update failed: %s", share_id, exc)
                failed = {rule_id: f"update failed: {exc}" for rule_id in applying | denying}
            else:
                for follow in self.followers:  # e.g. the share's read-only replicas
                    follow(share_id, [r for r in desired if r.id not in failed])
                if failed:  # before the rules show `error`: whoever sees that finds the message
                    self._tell(share, rules, failed)
            with self.core.db.connection() as db:
                if failed:
                    db.execute(_FAIL_RULE, [{"b_id": rule_id, "b_reason": reason} for rule_id, reason in failed.items()])
                # Only rules still in the state this sync saw: one denied meanwhile
                # (queued_to_deny again) is left for the next round.
                if done := denying - failed.keys():
                    db.execute(_DROP_DENIED, {"b_ids": list(done)})
                if done := applying - failed.keys():
                    db.execute(_ACTIVATE, {"b_ids": list(done)})
                states = set(db.execute(_STATES_OF_SHARE, key).scalars())
                if not states & set(PENDING):
                    db.execute(_SET_RULES_STATUS, {**key, "b_status": "error" if "error" in states else "active"})
                    return

    def _tell(self, share: sr.ShareFacts, rules: list, failed: dict[str, str]) -> None:
        """A user message on the share for each rule the backend refused, as
        Manila's drivers write one: Manila's words, then the rule and why."""
        access_to = {r.id: r.access_to for r in rules}
        with self.core.db.session() as session:
            for rule_id, reason in failed.items():
                self.core.message(session, share.project_id, "SHARE", share.ref.id, sr.ACTION_UPDATE_ACCESS,
                                  sr.DETAIL_UNSUPPORTED_CLIENT_ACCESS,
                                  f"{sr.UNSUPPORTED_CLIENT_ACCESS} Rule {rule_id} ({access_to.get(rule_id, '?')}): "
                                  f"{reason}")
