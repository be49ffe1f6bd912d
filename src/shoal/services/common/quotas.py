"""Per-project quotas for both APIs: the limits (config defaults < `default` quota class <
project quota set < user or type quota set), the usage, and the check that every create,
extend and manage makes before it writes.

How usage stays exact under concurrency: usage is never stored, it is counted from the
live rows (volumes, snapshots, shares; a pending extend at its new size) in the same
transaction that inserts the new row, and those transactions run one at a time per project:

- in this process, under a per-project lock held until the transaction ends (released by
  the session's `after_transaction_end` event, on commit and on rollback alike);
- across processes, because the transaction's first write is an upsert of the project's
  `quota_locks` row: PostgreSQL holds that row lock until commit, and at READ COMMITTED
  the counts that follow see everything committed before it; SQLite takes its single
  database write lock there, so the counts read the newest state.

Nothing is reserved ahead, so nothing can leak: a create that fails after the check rolls
its insert back with the rest of the transaction, a failed extend clears its task (and
its delta with it), and a resource in `error` counts until it is deleted, as upstream.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from typing import Any, Iterable

from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from shoal.db import models

from . import core as c
from .context import RequestContext
from .errors import Forbidden, Invalid, NotFound, OverQuota, ServiceError

VOLUME, SHARE, IMAGE = "volume", "share", "image"
VOLUME_RESOURCES = ("volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes", "groups",
                    "per_volume_gigabytes")
VOLUME_TYPE_RESOURCES = ("volumes", "gigabytes", "snapshots")  # as volumes_<type>, ...
SHARE_RESOURCES = ("shares", "gigabytes", "snapshots", "snapshot_gigabytes", "share_networks", "share_groups",
                   "share_group_snapshots", "share_replicas", "replica_gigabytes", "per_share_gigabytes")
SHARE_TYPE_RESOURCES = ("shares", "gigabytes", "snapshots", "snapshot_gigabytes", "share_replicas",
                        "replica_gigabytes", "per_share_gigabytes")
PER_SIZE = {VOLUME: "per_volume_gigabytes", SHARE: "per_share_gigabytes"}  # a bound, never "used"
DEFAULT_CLASS = "default"
LOCK_TIMEOUT = 60.0
MAX_LIMIT = 2**31 - 1

Limits = dict[str, int]


# ---- the arithmetic ----------------------------------------------------------------------------

def layered(*layers: Limits) -> Limits:
    """Later layers win: defaults, then the default class, then the project's own values."""
    out: Limits = {}
    for layer in layers:
        out.update(layer)
    return out


def overs(limits: Limits, used: Limits, deltas: Limits) -> list[str]:
    """The resources that `deltas` would take past their limit (-1: unlimited), sorted."""
    return sorted(r for r, d in deltas.items()
                  if d > 0 and limits.get(r, -1) >= 0 and used.get(r, 0) + d > limits[r])


def unbounded(limits: Limits, deltas: Limits) -> bool:
    """No resource that `deltas` grows has a limit: nothing to count, nothing to serialize."""
    return all(limits.get(r, -1) < 0 for r, d in deltas.items() if d > 0)


def parse_limit(resource: str, value: Any) -> int:
    """A quota value from a request: an integer, -1 (unlimited) or more."""
    bad = Invalid(f"Invalid input received: Quota limit for {resource} must be an integer, not {value!r}.")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise bad
    if isinstance(value, float) and not value.is_integer():
        raise bad
    if isinstance(value, str) and not re.fullmatch(r"-?\d+", value.strip()):
        raise bad
    number = int(value)
    if number < -1:
        raise Invalid(f"Invalid input received: Quota limit for {resource} must be -1 (unlimited) or greater, "
                      f"not {number}.")
    if number > MAX_LIMIT:
        raise Invalid(f"Invalid input received: Quota limit for {resource} must be at most {MAX_LIMIT}.")
    return number


def too_low(values: Limits, used: Limits) -> list[tuple[str, int, int]]:
    """(resource, new limit, usage) for every new limit below what is already used."""
    return [(r, v, used.get(r, 0)) for r, v in sorted(values.items()) if v != -1 and v < used.get(r, 0)]


# ---- one transaction at a time per project -------------------------------------------------------

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _project_lock(project_id: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(project_id, threading.Lock())


def _release_at_end(session: Session, transaction) -> None:
    if transaction.parent is None:
        for lock in session.info.pop("quota_locks", {}).values():
            lock.release()


def lock_project(session: Session, project_id: str) -> None:
    """Serialize the quota-checked changes of `project_id` until `session`'s transaction ends.
    Call it before the session writes anything (the write lock must come after this lock)."""
    _hold_here(session, project_id)
    _hold_in_database(session, project_id)


def _hold_here(session: Session, project_id: str) -> bool:
    """The in-process lock, until the transaction ends; True if taken by this call.
    Taken before anything is read, so waiting callers hold no database connection."""
    held = session.info.setdefault("quota_locks", {})
    if project_id in held:
        return False
    lock = _project_lock(project_id)
    if not lock.acquire(timeout=LOCK_TIMEOUT):
        raise ServiceError(f"quota check for project {project_id} timed out waiting for other requests")
    held[project_id] = lock
    if not session.info.get("quota_listener"):
        event.listen(session, "after_transaction_end", _release_at_end)
        session.info["quota_listener"] = True
    return True


def _let_go_here(session: Session, project_id: str) -> None:
    """Release early what _hold_here took (nothing was counted: no limit applies)."""
    lock = session.info.get("quota_locks", {}).pop(project_id, None)
    if lock is not None:
        lock.release()


def _hold_in_database(session: Session, project_id: str) -> None:
    """Across processes: the upsert of the project's quota_locks row, held until commit."""
    table = models.QuotaLock.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(project_id=project_id, generation=1)
    session.execute(stmt.on_conflict_do_update(index_elements=[table.c.project_id],
                                               set_={"generation": table.c.generation + 1}))


# ---- limits and usage from the database ------------------------------------------------------------

def _defaults(core: c.Core, service: str) -> Limits:
    return getattr(core.settings.quotas, service).model_dump()  # "volume", "share", "image"


# Limits change rarely and every create reads them: they are kept for LIMITS_TTL seconds.
# A change made through this process is seen at once (the cache is dropped when its
# transaction ends); one made by another Shoal process sharing the database, within LIMITS_TTL.
LIMITS_TTL = 2.0
_limits_cache: dict[tuple, tuple[float, dict]] = {}


def forget_limits(session: Session) -> None:
    """Drop cached limits now and again when `session`'s transaction ends (after the write)."""
    _limits_cache.clear()
    if not session.info.get("limits_listener"):
        event.listen(session, "after_transaction_end", lambda *_: _limits_cache.clear())
        session.info["limits_listener"] = True


def _rows(session: Session, model, **where) -> dict[tuple[str, str], int]:
    """(type_id, resource) -> limit of the quota (or quota class) rows matching `where`."""
    bind = session.get_bind()
    key = (id(bind), str(bind.url), model.__tablename__, *sorted(where.items()))
    now = time.monotonic()
    hit = _limits_cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    query = select(model.type_id, model.resource, model.hard_limit)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    rows = {(t, r): limit for t, r, limit in session.execute(query)}
    if len(_limits_cache) > 10000:
        _limits_cache.clear()
    _limits_cache[key] = (now + LIMITS_TTL, rows)
    return rows


def _untyped(rows: dict[tuple[str, str], int]) -> Limits:
    return {r: limit for (t, r), limit in rows.items() if not t}


def _typed(rows: dict[tuple[str, str], int], type_id: str) -> Limits:
    return {r: limit for (t, r), limit in rows.items() if t == type_id}


class Scope:
    """Every limit of one project in one service, read once."""

    def __init__(self, core: c.Core, session: Session, service: str, project_id: str):
        self.service = service
        self.defaults = _defaults(core, service)
        self.class_rows = _rows(session, models.QuotaClass, service=service, class_name=DEFAULT_CLASS)
        self.rows = _rows(session, models.Quota, service=service, project_id=project_id, user_id="")
        self.project = layered(self.defaults, _untyped(self.class_rows), _untyped(self.rows))

    def type_limits(self, type_id: str) -> Limits:
        if self.service == VOLUME:  # volumes_<type> & co: unlimited unless set
            base = {r: -1 for r in VOLUME_TYPE_RESOURCES}
        else:  # Manila: a share type's quota defaults to the project's
            base = {r: self.project[r] for r in SHARE_TYPE_RESOURCES}
        return layered(base, _typed(self.class_rows, type_id), _typed(self.rows, type_id))


def _volume_usage(session: Session, project_id: str) -> dict[str, Counter]:
    """Usage per volume type id ("" for untyped): volumes, snapshots, gigabytes (both)."""
    V, S = models.Volume, models.VolumeSnapshot
    by_type: dict[str, Counter] = defaultdict(Counter)
    counted = V.migration_status.is_(None) | V.migration_status.not_like("target:%")  # a migration's copy: no
    for type_id, count, size in session.execute(
            select(V.volume_type_id, func.count(), func.coalesce(func.sum(V.size), 0))
            .where(V.project_id == project_id, counted).group_by(V.volume_type_id)):
        by_type[type_id or ""].update(volumes=count, gigabytes=size)
    for type_id, size, task_arg in session.execute(
            select(V.volume_type_id, V.size, V.task_arg).where(V.project_id == project_id, V.task == "extend")):
        new_size = (task_arg or "").partition(":")[0]
        if new_size.isdigit():  # an extend holds its new size until it ends
            by_type[type_id or ""]["gigabytes"] += max(0, int(new_size) - size)
    for type_id, count, size in session.execute(
            select(V.volume_type_id, func.count(S.id), func.coalesce(func.sum(S.size), 0))
            .join(V, S.volume_id == V.id).where(S.project_id == project_id).group_by(V.volume_type_id)):
        by_type[type_id or ""].update(snapshots=count, gigabytes=size)
    return by_type


def _share_usage(session: Session, project_id: str, user_id: str | None = None) -> dict[str, Counter]:
    """Usage per share type id: shares, gigabytes, snapshots, snapshot_gigabytes; and the
    share networks, share groups and group snapshots (of no type)."""
    from shoal.db.share_groups import ShareGroup, ShareGroupSnapshot
    from shoal.db.share_networks import ShareNetwork

    Sh, Sn = models.Share, models.ShareSnapshot
    by_type: dict[str, Counter] = defaultdict(Counter)
    shares = select(Sh.share_type_id, func.count(), func.coalesce(func.sum(Sh.size), 0)).where(
        Sh.project_id == project_id)
    extends = select(Sh.share_type_id, Sh.size, Sh.task_arg).where(Sh.project_id == project_id, Sh.task == "extend")
    snaps = select(Sh.share_type_id, func.count(Sn.id), func.coalesce(func.sum(Sn.size), 0)).join(
        Sh, Sn.share_id == Sh.id).where(Sn.project_id == project_id)
    if user_id is not None:
        shares, extends = shares.where(Sh.user_id == user_id), extends.where(Sh.user_id == user_id)
        snaps = snaps.where(Sn.user_id == user_id)
    for type_id, count, size in session.execute(shares.group_by(Sh.share_type_id)):
        by_type[type_id or ""].update(shares=count, gigabytes=size)
    for type_id, size, new_size in session.execute(extends):
        by_type[type_id or ""]["gigabytes"] += max(0, (new_size or 0) - size)
    for type_id, count, size in session.execute(snaps.group_by(Sh.share_type_id)):
        by_type[type_id or ""].update(snapshots=count, snapshot_gigabytes=size)
    for resource, model in (("share_networks", ShareNetwork), ("share_groups", ShareGroup),
                            ("share_group_snapshots", ShareGroupSnapshot)):
        counted = select(func.count()).select_from(model).where(model.project_id == project_id)
        if user_id is not None:
            counted = counted.where(model.user_id == user_id)
        by_type[""][resource] += session.scalar(counted) or 0
    return by_type


def _total(by_type: dict[str, Counter]) -> Counter:
    out: Counter = Counter()
    for counts in by_type.values():
        out.update(counts)
    return out


# ---- the checks the resource services make -----------------------------------------------------------

def check_volume(core: c.Core, session: Session, project_id: str, type_id: str | None, *, volumes: int = 0,
                 snapshots: int = 0, gigabytes: int = 0, size: int | None = None) -> None:
    """Raise OverQuota (Cinder's messages) unless the project may add these; `size` is the
    size the new or extended volume will have (per_volume_gigabytes). Locks the project
    until the caller's transaction ends: call it before the session writes anything."""
    taken = _hold_here(session, project_id)
    scope = Scope(core, session, VOLUME, project_id)
    per = scope.project["per_volume_gigabytes"]
    if size is not None and per >= 0 and size > per:
        raise OverQuota(f"Requested volume size {size}G is larger than maximum allowed limit {per}G.")
    deltas = {"volumes": volumes, "snapshots": snapshots, "gigabytes": gigabytes}
    # Unlimited (the default): nothing to count, no database lock; creates stay cheap.
    if unbounded(scope.project, deltas) and (not type_id or unbounded(scope.type_limits(type_id), deltas)):
        if taken:
            _let_go_here(session, project_id)
        return
    _hold_in_database(session, project_id)
    usage = _volume_usage(session, project_id)
    checks = [("", scope.project, _total(usage))]
    if type_id:
        checks.append((type_id, scope.type_limits(type_id), usage.get(type_id, Counter())))
    for key, limits, used in checks:
        found = overs(limits, used, deltas)
        if found:
            name = found[0] if not key else f"{found[0]}_{_type_name(session, models.VolumeType, key)}"
            raise _volume_over(found[0], name, limits, used, deltas)


def _volume_over(resource: str, name: str, limits: Limits, used: Limits, deltas: Limits) -> OverQuota:
    if resource == "gigabytes":
        return OverQuota(f"Requested volume or snapshot exceeds allowed {name} quota. Requested "
                         f"{deltas['gigabytes']}G, quota is {limits['gigabytes']}G and {used.get('gigabytes', 0)}G "
                         f"has been consumed.")
    if resource == "snapshots":
        return OverQuota(f"Maximum number of snapshots allowed ({limits['snapshots']}) exceeded for quota '{name}'.")
    return OverQuota(f"Maximum number of volumes allowed ({limits['volumes']}) exceeded for quota '{name}'.")


def check_share(core: c.Core, session: Session, project_id: str, user_id: str | None, type_id: str | None, *,
                shares: int = 0, gigabytes: int = 0, snapshots: int = 0, snapshot_gigabytes: int = 0,
                size: int | None = None, extend: bool = False, share_networks: int = 0, share_groups: int = 0,
                share_group_snapshots: int = 0) -> None:
    """Raise OverQuota (Manila's messages) unless the project, its user and the share type
    may add these. Locks the project like check_volume."""
    taken = _hold_here(session, project_id)
    scope = Scope(core, session, SHARE, project_id)
    deltas = {"shares": shares, "gigabytes": gigabytes, "snapshots": snapshots,
              "snapshot_gigabytes": snapshot_gigabytes, "share_networks": share_networks,
              "share_groups": share_groups, "share_group_snapshots": share_group_snapshots}
    limit_sets = [scope.project]
    if type_id:
        limit_sets.append(scope.type_limits(type_id))
    user_limits = None
    if user_id:
        user_rows = _rows(session, models.Quota, service=SHARE, project_id=project_id, user_id=user_id)
        if _untyped(user_rows):  # a user without quotas of its own is bounded by the project's
            user_limits = layered(scope.project, _untyped(user_rows))
            limit_sets.append(user_limits)
    for limits in limit_sets:
        per = limits.get("per_share_gigabytes", -1)
        if size is not None and per >= 0 and size > per:
            raise OverQuota(f"Requested share size {size} is larger than maximum allowed limit {per}.")
    # Unlimited (the default): nothing to count, no database lock; creates stay cheap.
    if all(unbounded(limits, deltas) for limits in limit_sets):
        if taken:
            _let_go_here(session, project_id)
        return
    _hold_in_database(session, project_id)
    usage = _share_usage(session, project_id)
    checks = [(scope.project, _total(usage))]
    if type_id:
        checks.append((limit_sets[1], usage.get(type_id, Counter())))
    if user_limits is not None:
        checks.append((user_limits, _total(_share_usage(session, project_id, user_id))))
    for limits, used in checks:
        found = overs(limits, used, deltas)
        if found:
            raise _share_over(found[0], limits, used, deltas, project_id, extend)


def _share_over(resource: str, limits: Limits, used: Limits, deltas: Limits, project_id: str,
                extend: bool) -> OverQuota:
    if resource == "gigabytes" and extend:
        return OverQuota(f"Quota exceeded for {project_id}, tried to extend share by {deltas['gigabytes']}G, "
                         f"({used.get('gigabytes', 0)}G of {limits['gigabytes']}G already consumed).")
    if resource == "gigabytes":
        return OverQuota("Requested share exceeds allowed project/user or share type gigabytes quota.")
    if resource == "snapshot_gigabytes":
        return OverQuota("Requested snapshot exceeds allowed project/user or share type gigabytes quota.")
    if resource == "share_networks":
        return OverQuota(f"Maximum number of share-networks allowed ({limits[resource]}) exceeded.")
    if resource == "share_groups":
        return OverQuota("Maximum number of allowed share-groups is exceeded.")
    if resource == "share_group_snapshots":
        return OverQuota("Maximum number of allowed share-group-snapshots is exceeded.")
    return OverQuota(f"Maximum number of {resource} allowed ({limits[resource]}) either per project/user or "
                     f"share type quota is exceeded.")


IMAGE_RESOURCES = ("image_count_total", "image_size_total", "image_stage_total", "image_count_uploading")
UPLOADING = ("saving", "uploading", "importing")
MiB = 1 << 20


def _image_usage(session: Session, project_id: str, excluding: str | None = None) -> Counter:
    """Glance's unified-limits usage of a project: images owned, MiB stored, MiB staged,
    images being uploaded, staged or imported (`excluding` one image, counted by the caller)."""
    I = models.Image
    mine = [I.owner == project_id] + ([I.id != excluding] if excluding else [])
    count, stored, staged = session.execute(select(
        func.count(), func.coalesce(func.sum(I.size), 0), func.coalesce(func.sum(I.stage_size), 0)).where(*mine)).one()
    uploading = session.scalar(select(func.count()).where(*mine, I.status.in_(UPLOADING)))
    return Counter(image_count_total=count, image_size_total=-(-stored // MiB), image_stage_total=-(-staged // MiB),
                   image_count_uploading=uploading)


def image_room(core: c.Core, session: Session, project_id: str, resource: str, excluding: str | None = None) -> int | None:
    """How many more units of `resource` the project may use (None: unlimited).
    Does not lock: the caller's check_image, or the final check, does."""
    limit = Scope(core, session, IMAGE, project_id).project[resource]
    return None if limit < 0 else max(0, limit - _image_usage(session, project_id, excluding)[resource])


def image_usage(core: c.Core, project_id: str) -> dict[str, dict[str, int]]:
    """Glance's /v2/info/usage: each unified-limits resource's limit and usage."""
    with core.db.session() as session:
        limits = Scope(core, session, IMAGE, project_id).project
        used = _image_usage(session, project_id)
    return {r: {"limit": limits[r], "usage": int(used[r])} for r in IMAGE_RESOURCES}


def check_image(core: c.Core, session: Session, project_id: str, excluding: str | None = None, **deltas: int) -> None:
    """Raise OverQuota (oslo.limit's message, as Glance answers it) unless the project may
    add `deltas` of the unified-limits resources. Locks the project like check_volume."""
    taken = _hold_here(session, project_id)
    limits = Scope(core, session, IMAGE, project_id).project
    if unbounded(limits, deltas):
        if taken:
            _let_go_here(session, project_id)
        return
    _hold_in_database(session, project_id)
    used = _image_usage(session, project_id, excluding)
    found = overs(limits, used, deltas)
    if found:
        over = "; ".join(f"Resource {r} is over limit of {limits[r]} due to current usage {used[r]} and delta "
                         f"{deltas[r]}" for r in found)
        raise OverQuota(f"Project {project_id} is over a limit for [{over}]")


def _type_name(session: Session, model, type_id: str) -> str:
    row = session.get(model, type_id)
    return row.name if row is not None else type_id


def _find_type(session: Session, model, name_or_id: str, label: str):
    row = session.get(model, name_or_id) or session.scalars(select(model).where(model.name == name_or_id)).first()
    if row is None:
        raise NotFound(f"{label} {name_or_id} could not be found.")
    return row


# ---- the quota-set and quota-class APIs ---------------------------------------------------------------

def _may_read(ctx: RequestContext, target: str) -> None:
    if not ctx.is_admin and ctx.project_id != target:
        raise Forbidden("Policy doesn't allow quota_set:show to be performed for another project.")


def _admin(ctx: RequestContext, what: str) -> None:
    if not ctx.is_admin:
        raise Forbidden(f"Policy doesn't allow {what} to be performed.")


def _existing_project(core: c.Core, session: Session, target: str) -> None:
    """With the built-in identity, a quota set only for a project it knows: Cinder's answer
    when Keystone does not know one (api_utils.validate_project_and_authorize). With
    noauth or an external Keystone there is nothing here to ask, as in Cinder."""
    if core.settings.api.auth == "identity" and session.get(models.Project, target) is None:
        raise NotFound(f"Project with id {target} not found.")


def drop_project(session: Session, project_id: str) -> None:
    """What quotas keep of a project, gone with the project (its identity row)."""
    forget_limits(session)
    session.execute(delete(models.Quota).where(models.Quota.project_id == project_id))
    session.execute(delete(models.QuotaLock).where(models.QuotaLock.project_id == project_id))


def _upsert(session: Session, model, where: dict, values: Limits) -> None:
    forget_limits(session)
    for resource, limit in values.items():
        row = session.scalars(select(model).filter_by(**where, resource=resource)).first()
        if row is None:
            session.add(model(**where, resource=resource, hard_limit=limit))
        else:
            row.hard_limit = limit


def _usage_view(limits: Limits, used: Limits) -> dict[str, dict]:
    return {r: {"limit": v, "in_use": int(used.get(r, 0)), "reserved": 0, "allocated": 0} for r, v in limits.items()}


class Quotas:
    """What the quota APIs of both services call."""

    def __init__(self, core: c.Core):
        self.core = core

    # ---- Block Storage -----------------------------------------------------------------------------

    def _volume_types(self, session: Session) -> list[models.VolumeType]:
        return list(session.scalars(select(models.VolumeType).order_by(models.VolumeType.name)))

    def _volume_keys(self, session: Session, scope_limits: Limits, type_limits) -> Limits:
        out = dict(scope_limits)
        for vtype in self._volume_types(session):
            for resource, limit in type_limits(vtype.id).items():
                out[f"{resource}_{vtype.name}"] = limit
        return out

    def volume_set(self, ctx: RequestContext, target: str, usage: bool = False) -> dict:
        _may_read(ctx, target)
        with self.core.db.session() as session:
            scope = Scope(self.core, session, VOLUME, target)
            limits = self._volume_keys(session, scope.project, scope.type_limits)
            if not usage:
                return limits
            by_type = _volume_usage(session, target)
            used = dict(_total(by_type))
            for vtype in self._volume_types(session):
                for resource in VOLUME_TYPE_RESOURCES:
                    used[f"{resource}_{vtype.name}"] = by_type.get(vtype.id, Counter())[resource]
            return _usage_view(limits, used)

    def volume_defaults(self, ctx: RequestContext, target: str) -> Limits:
        _may_read(ctx, target)
        return self.volume_class(ctx, DEFAULT_CLASS, check=False)

    def _volume_values(self, session: Session, body: Any, ignore: Iterable[str], strict: bool) -> dict:
        """{(type_id, resource): limit} from a quota_set body; unknown keys are 400 when `strict`."""
        if not isinstance(body, dict):
            raise Invalid("Missing required element quota_set in request body.")
        types = {t.name: t.id for t in self._volume_types(session)}
        values, bad = {}, []
        for key, value in body.items():
            if key in ignore:
                continue
            if key in VOLUME_RESOURCES:
                values[("", key)] = parse_limit(key, value)
                continue
            resource, _, type_name = key.partition("_")
            if resource in VOLUME_TYPE_RESOURCES and type_name in types:
                values[(types[type_name], resource)] = parse_limit(key, value)
            else:
                bad.append(key)
        if bad and strict:
            raise Invalid(f"Bad key(s) in quota set: {','.join(sorted(bad))}")
        return values

    def update_volume_set(self, ctx: RequestContext, target: str, body: Any, skip_validation: bool = False) -> Limits:
        _admin(ctx, "volume_extension:quotas:update")
        with self.core.db.session() as session:
            _existing_project(self.core, session, target)
            values = self._volume_values(session, body, ("id", "tenant_id", "skip_validation"), strict=True)
            if not skip_validation:
                lock_project(session, target)  # no create may slip in between the check and the change
                by_type = _volume_usage(session, target)
                total = _total(by_type)
                for (type_id, resource), limit in sorted(values.items()):
                    used = (by_type.get(type_id, Counter()) if type_id else total)[resource]
                    if resource not in PER_SIZE.values() and limit != -1 and limit < used:
                        key = f"{resource}_{_type_name(session, models.VolumeType, type_id)}" if type_id else resource
                        raise Invalid(f"Quota {key} limit must be equal or greater than existing resources. "
                                      f"Current usage is {used} and the requested limit is {limit}.")
            for (type_id, resource), limit in values.items():
                _upsert(session, models.Quota, {"service": VOLUME, "project_id": target, "user_id": "",
                                                 "type_id": type_id}, {resource: limit})
        return self.volume_set(ctx, target)

    def delete_volume_set(self, ctx: RequestContext, target: str) -> None:
        _admin(ctx, "volume_extension:quotas:delete")
        with self.core.db.session() as session:
            forget_limits(session)
            session.execute(delete(models.Quota).where(models.Quota.service == VOLUME,
                                                       models.Quota.project_id == target))

    def volume_class(self, ctx: RequestContext, name: str, check: bool = True) -> Limits:
        if check:
            _admin(ctx, "volume_extension:quota_classes")
        with self.core.db.session() as session:
            defaults = _defaults(self.core, VOLUME)
            rows = _rows(session, models.QuotaClass, service=VOLUME, class_name=name)
            if name != DEFAULT_CLASS:  # another class starts from the default class
                rows = {**_rows(session, models.QuotaClass, service=VOLUME, class_name=DEFAULT_CLASS), **rows}
            base = layered(defaults, _untyped(rows))
            return self._volume_keys(session, base, lambda t: layered({r: -1 for r in VOLUME_TYPE_RESOURCES},
                                                                       _typed(rows, t)))

    def update_volume_class(self, ctx: RequestContext, name: str, body: Any) -> Limits:
        _admin(ctx, "volume_extension:quota_classes")
        with self.core.db.session() as session:
            # Cinder ignores unknown keys in a quota class set.
            values = self._volume_values(session, body, ("id", "class_name"), strict=False)
            for (type_id, resource), limit in values.items():
                _upsert(session, models.QuotaClass, {"service": VOLUME, "class_name": name, "type_id": type_id},
                        {resource: limit})
        return self.volume_class(ctx, name)

    def delete_volume_class(self, ctx: RequestContext, name: str) -> None:
        self._delete_class(ctx, VOLUME, name, "volume_extension:quota_classes")

    def _delete_class(self, ctx: RequestContext, service: str, name: str, policy: str) -> None:
        """A quota class's own limits go (Shoal's: neither upstream API can delete a class);
        `default` then falls back to the configured defaults."""
        _admin(ctx, policy)
        with self.core.db.session() as session:
            forget_limits(session)
            session.execute(delete(models.QuotaClass).where(models.QuotaClass.service == service,
                                                            models.QuotaClass.class_name == name))

    def volume_limits(self, ctx: RequestContext) -> tuple[Limits, Counter]:
        with self.core.db.session() as session:
            scope = Scope(self.core, session, VOLUME, ctx.project_id)
            return scope.project, _total(_volume_usage(session, ctx.project_id))

    # ---- Shared File Systems -------------------------------------------------------------------------

    def _share_target(self, session: Session, user_id: str | None, share_type: str | None) -> tuple[str, str]:
        if user_id and share_type:
            raise Invalid("'user_id' and 'share_type' values are mutually exclusive")
        type_id = _find_type(session, models.ShareType, share_type, "Share type").id if share_type else ""
        return user_id or "", type_id

    def share_set(self, ctx: RequestContext, target: str, user_id: str | None = None,
                  share_type: str | None = None, usage: bool = False) -> Limits | dict:
        _may_read(ctx, target)
        with self.core.db.session() as session:
            user, type_id = self._share_target(session, user_id, share_type)
            scope = Scope(self.core, session, SHARE, target)
            if type_id:
                limits = scope.type_limits(type_id)
                used = _share_usage(session, target).get(type_id, Counter())
            elif user:
                rows = _rows(session, models.Quota, service=SHARE, project_id=target, user_id=user)
                limits = layered(scope.project, _untyped(rows))
                used = _total(_share_usage(session, target, user))
            else:
                limits, used = scope.project, _total(_share_usage(session, target))
            return _usage_view(limits, used) if usage else limits

    def share_defaults(self, ctx: RequestContext, target: str) -> Limits:
        _may_read(ctx, target)
        return self.share_class(ctx, DEFAULT_CLASS)

    def _share_values(self, body: Any, allowed: Iterable[str], ignore: Iterable[str], strict: bool) -> Limits:
        if not isinstance(body, dict):
            raise Invalid("Missing required element quota_set in request body.")
        allowed, values, bad = set(allowed), {}, []
        for key, value in body.items():
            if key in ignore:
                continue
            if key in allowed:
                values[key] = parse_limit(key, value)
            else:
                bad.append(key)
        if bad and strict:
            raise Invalid(f"Bad key(s) {','.join(sorted(bad))} in quota_set.")
        return values

    def update_share_set(self, ctx: RequestContext, target: str, body: Any, allowed: Iterable[str],
                         user_id: str | None = None, share_type: str | None = None, force: bool = False) -> Limits:
        """`allowed`: the resources this microversion knows (the API decides)."""
        _admin(ctx, "quota_set:update")
        with self.core.db.session() as session:
            _existing_project(self.core, session, target)
            user, type_id = self._share_target(session, user_id, share_type)
            if type_id and isinstance(body, dict) and "share_networks" in body:
                raise Invalid("'share_networks' quota cannot be set for share type. "
                              "It can be set only for project or user.")
            allowed = [r for r in allowed if not type_id or r in SHARE_TYPE_RESOURCES]
            values = self._share_values(body, allowed, ("id", "tenant_id", "force", "share_type"), strict=True)
            lock_project(session, target)
            scope = Scope(self.core, session, SHARE, target)
            if type_id:
                used = _share_usage(session, target).get(type_id, Counter())
            else:
                used = _total(_share_usage(session, target, user or None))
            if not force:
                for resource, limit, in_use in too_low({k: v for k, v in values.items()
                                                        if k not in PER_SIZE.values()}, used):
                    raise Invalid(f"Quota limit {limit} for {resource} is smaller than already used and "
                                  f"reserved {in_use}. Use 'force' to set it anyway.")
            if (user or type_id) and not force:  # a user's or a type's limit stays within the project's,
                for resource, limit in sorted(values.items()):  # unless forced (Manila's _validate_quota_limit)
                    top = scope.project.get(resource, -1)
                    if top != -1 and (limit == -1 or limit > top):  # unlimited is above any limit
                        raise Invalid(f"Quota limit {limit} for {resource} must be less than or equal to the "
                                      f"project's limit {top}.")
            _upsert(session, models.Quota, {"service": SHARE, "project_id": target, "user_id": user,
                                             "type_id": type_id}, values)
        return self.share_set(ctx, target, user_id, share_type)

    def delete_share_set(self, ctx: RequestContext, target: str, user_id: str | None = None,
                         share_type: str | None = None) -> None:
        _admin(ctx, "quota_set:delete")
        with self.core.db.session() as session:
            user, type_id = self._share_target(session, user_id, share_type)
            forget_limits(session)
            query = delete(models.Quota).where(models.Quota.service == SHARE, models.Quota.project_id == target)
            if user:
                query = query.where(models.Quota.user_id == user)
            elif type_id:
                query = query.where(models.Quota.type_id == type_id)
            session.execute(query)  # the project's own set goes with every user and type set, as upstream

    def share_class(self, ctx: RequestContext, name: str) -> Limits:
        with self.core.db.session() as session:
            rows = _rows(session, models.QuotaClass, service=SHARE, class_name=name)
            if name != DEFAULT_CLASS:
                rows = {**_rows(session, models.QuotaClass, service=SHARE, class_name=DEFAULT_CLASS), **rows}
            return layered(_defaults(self.core, SHARE), _untyped(rows))

    def update_share_class(self, ctx: RequestContext, name: str, body: Any, allowed: Iterable[str]) -> Limits:
        _admin(ctx, "quota_class_set:update")
        with self.core.db.session() as session:
            values = self._share_values(body, allowed, ("id", "class_name"), strict=True)
            _upsert(session, models.QuotaClass, {"service": SHARE, "class_name": name, "type_id": ""}, values)
        return self.share_class(ctx, name)

    def delete_share_class(self, ctx: RequestContext, name: str) -> None:
        self._delete_class(ctx, SHARE, name, "quota_class_set:update")

    def share_limits(self, ctx: RequestContext) -> tuple[Limits, Counter]:
        with self.core.db.session() as session:
            scope = Scope(self.core, session, SHARE, ctx.project_id)
            return scope.project, _total(_share_usage(session, ctx.project_id))
