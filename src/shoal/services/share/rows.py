"""What the share services share: Manila's message ids, share rows to driver data
(ShareFacts in one plain SELECT), lookups scoped to the caller, and recording the
end of background work on a share."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session, raiseload

from shoal.db import models
from shoal.drivers.base import AccessRule, ShareRef, SnapshotRef

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import NotFound

# Manila's user-message ids (manila/message/message_field.py), kept so clients
# that key on them keep working.
ACTION_ALLOCATE_HOST, ACTION_CREATE, ACTION_REVERT, ACTION_DELETE = "001", "002", "006", "007"
ACTION_EXTEND, ACTION_SHRINK, ACTION_UPDATE_ACCESS = "008", "009", "010"  # the last: UPDATE_ACCESS_RULES
ACTION_MANAGE = ACTION_CREATE  # Manila has no action of its own for manage
# Manila names no driver failure in general: UNKNOWN_ERROR, with the reason after it.
DETAIL_UNEXPECTED = DETAIL_DRIVER_FAILED = "001"
DETAIL_NO_VALID_HOST = "002"
DETAIL_NEW_SIZE_TOO_SMALL = "018"  # DRIVER_REFUSED_SHRINK
DETAIL_UNSUPPORTED_CLIENT_ACCESS = "021"
# Manila's words for ACTION_UPDATE_ACCESS + DETAIL_UNSUPPORTED_CLIENT_ACCESS, the reason after them
UNSUPPORTED_CLIENT_ACCESS = ("update access rules: Failed to grant access to client. The access level or type "
                             "may be unsupported. You may try again with a different access level or access type.")
# Manila's words for DETAIL_NO_VALID_HOST (clients and Tempest look for them), the reason after them
NO_VALID_HOST = "allocate host: No storage could be allocated for this share request"
RULES_IN_FORCE = ("active", "applying", "queued_to_apply")  # the access rules a backend is given


@dataclass(frozen=True)
class ShareFacts:
    """A share as a request reads it to start work on it, in one plain SELECT
    (no ORM objects: a third of the cost): owner, state, and its driver ref."""

    ref: ShareRef
    project_id: str
    is_public: bool
    status: str
    backend: str | None
    share_proto: str
    share_type_id: str | None
    access_rules_status: str


_S, _T = models.Share, models.ShareType
SHARE_FACTS = (
    select(_S.id, _S.project_id, _S.is_public, _S.status, _S.size, _S.pool, _S.provider_location, _S.backend,
           _S.share_proto, _S.share_type_id, _S.access_rules_status, _T.extra_specs)
    .outerjoin(_T, _S.share_type_id == _T.id)
    .where(_S.id == bindparam("share_id"))
)


# ---- rows -> driver data -----------------------------------------------------------

def share_ref(share: models.Share) -> ShareRef:
    specs = dict(share.share_type.extra_specs) if share.share_type else {}
    return ShareRef(share.id, share.pool or "", share.size, share.provider_location, specs)


def snapshot_ref(snapshot: models.ShareSnapshot) -> SnapshotRef:
    return SnapshotRef(snapshot.id, share_ref(snapshot.share), snapshot.provider_location)


def rules_in_force(session: Session, share_id: str) -> list[AccessRule]:
    rows = session.scalars(
        select(models.AccessRule).where(
            models.AccessRule.share_id == share_id,
            models.AccessRule.state.in_(RULES_IN_FORCE),
        )
    )
    return [AccessRule(r.id, r.access_type, r.access_to, r.access_level) for r in rows]


def rules_in_force_of(session: Session, share_ids: list[str]) -> dict[str, list[AccessRule]]:
    """rules_in_force of many shares in one query per 500 shares (recovery's bulk pass)."""
    found: dict[str, list[AccessRule]] = {share_id: [] for share_id in share_ids}
    for start in range(0, len(share_ids), 500):
        rows = session.scalars(select(models.AccessRule).where(
            models.AccessRule.share_id.in_(share_ids[start:start + 500]),
            models.AccessRule.state.in_(RULES_IN_FORCE)))
        for r in rows:
            found[r.share_id].append(AccessRule(r.id, r.access_type, r.access_to, r.access_level))
    return found


# ---- lookups scoped to the caller ----------------------------------------------------

def get_share(session: Session, ctx: RequestContext, share_id: str, locations: bool = True) -> models.Share:
    """`locations=False` skips loading the export locations (one query less) where
    nothing reads them: reading them then raises."""
    share = session.get(models.Share, share_id,
                        options=None if locations else [raiseload(models.Share.export_locations)])
    return visible_share(ctx, share_id, share)


def read_share_facts(db: Session | Connection, share_id: str) -> ShareFacts | None:
    """A share as plain data, whoever asks (background work); None when it is gone."""
    return facts_of(c.plain(db).execute(SHARE_FACTS, {"share_id": share_id}).one_or_none())


def facts_of(row) -> ShareFacts | None:
    """The ShareFacts of a row of SHARE_FACTS (or of a query that adds columns to it)."""
    if row is None:
        return None
    ref = ShareRef(row.id, row.pool or "", row.size, row.provider_location, dict(row.extra_specs or {}))
    return ShareFacts(ref, row.project_id, row.is_public, row.status, row.backend, row.share_proto,
                      row.share_type_id, row.access_rules_status)


def share_facts(db: Session | Connection, ctx: RequestContext, share_id: str) -> ShareFacts:
    """What get_share finds, as plain data, for the requests that only start work."""
    return visible_share(ctx, share_id, read_share_facts(db, share_id))


def visible_share(ctx: RequestContext, share_id: str, share):
    """`share` (a row or its ShareFacts) if the caller may see it, else NotFound."""
    # Another project's share is "not found", never "forbidden": no existence leak
    # (public shares are readable by all; see RequestContext.reaches for admins).
    if share is None or not (ctx.reaches(share.project_id) or share.is_public):
        raise NotFound(f"Share {share_id} could not be found.")
    return share


def get_snapshot(session: Session, ctx: RequestContext, snapshot_id: str) -> models.ShareSnapshot:
    snap = session.get(models.ShareSnapshot, snapshot_id)
    if snap is None or not ctx.reaches(snap.project_id):
        raise NotFound(f"Snapshot {snapshot_id} could not be found.")
    return snap


# ---- recording the end of background work ----------------------------------------------

def set_share(core: c.Core, share_id: str, **fields) -> None:
    core.update_row(models.Share, share_id, **fields)


def fail_share(core: c.Core, share_id: str, status: str, action_id: str, detail_id: str, reason: str) -> None:
    """End a share's transitional state in `status`, with the reason kept for the user."""
    core.fail_row(models.Share, share_id, status, "SHARE", action_id, detail_id, reason, task_arg=None)
