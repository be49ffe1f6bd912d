"""The contract every share driver fulfils (Manila's ShareDriver, made Pythonic).

Drivers receive plain data and return plain data; they know nothing of HTTP or
the database. Each method states what it guarantees, and services rely on
nothing else: names on the backend come from ids, `provider_location` is the
driver's own (opaque to services), a repeated call after a crash is safe, a
failed call leaves nothing behind. Errors come from the small taxonomy below,
and their messages are fit to show to a user. Drivers are built by the
registry (`drivers.registry`), one `Backend` per configured backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable


class DriverError(Exception):
    """The backend could not do what was asked; the message says why."""


def failures_of(items, call, key) -> dict[str, str]:
    """`call(item)` for each item; {key(item): reason} for those that raised a
    DriverError (the others are done whatever befell those)."""
    failed = {}
    for item in items:
        try:
            call(item)
        except DriverError as exc:
            failed[key(item)] = str(exc)
    return failed


class NotFoundOnBackend(DriverError):
    pass


class InvalidRequest(DriverError):
    """The request cannot be done on this backend as asked (nothing was changed)."""


class ShrinkWouldLoseData(InvalidRequest):
    pass


class UnsafeToManage(InvalidRequest):
    pass


@dataclass(frozen=True)
class ExportLocation:
    path: str
    is_admin_only: bool = False
    preferred: bool = False


@dataclass(frozen=True)
class AccessRule:
    id: str
    access_type: str
    access_to: str
    access_level: str


@dataclass(frozen=True)
class ShareRef:
    """A share as the driver needs to find it again."""

    id: str
    pool: str
    size_gb: int
    provider_location: str | None = None  # e.g. the dataset name
    extra_specs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SnapshotRef:
    id: str
    share: ShareRef
    provider_location: str | None = None


@dataclass(frozen=True)
class ShareResult:
    provider_location: str
    export_locations: list[ExportLocation]
    size_gb: int | None = None


@dataclass(frozen=True)
class SnapshotResult:
    provider_location: str
    size_gb: int


@dataclass(frozen=True)
class PoolStats:
    name: str
    total_gb: float
    free_gb: float
    allocated_gb: float
    capabilities: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ManageableItem:
    reference: str
    size_gb: int
    safe_to_manage: bool
    reason_not_safe: str | None = None
    managed_id: str | None = None  # the id of the Shoal resource that already holds it (Cinder's cinder_id)


class ShareDriver(ABC):
    """One storage backend that holds file shares."""

    backend_name: str
    availability_zone: str

    @abstractmethod
    def start(self) -> None:
        """Prepare the backend for use (export daemon up, pools present). Idempotent."""

    @abstractmethod
    def problems(self) -> list[str]:
        """What stops this backend from working, each with the command that fixes it."""

    @abstractmethod
    def pools(self) -> list[PoolStats]:
        """Capacity and capabilities of each pool, as of now."""

    @abstractmethod
    def validate_extra_specs(self, extra_specs: dict[str, str]) -> None:
        """Raise InvalidRequest when a share type's specs cannot be honoured here."""

    @abstractmethod
    def create_share(self, share: ShareRef) -> ShareResult:
        """Create an empty share of `share.size_gb` GiB in `share.pool`, exported with no rules."""

    @abstractmethod
    def create_share_from_snapshot(self, share: ShareRef, snapshot: SnapshotRef) -> ShareResult:
        """A new share holding the snapshot's data. It does not inherit the parent's
        access rules, and deleting the parent afterwards still works."""

    @abstractmethod
    def delete_share(self, share: ShareRef) -> None:
        """Remove the share, its snapshots and its export. Succeeds if already gone."""

    @abstractmethod
    def extend_share(self, share: ShareRef, new_size_gb: int) -> None: ...

    @abstractmethod
    def shrink_share(self, share: ShareRef, new_size_gb: int) -> None:
        """Raise ShrinkWouldLoseData (changing nothing) when the data would not fit."""

    @abstractmethod
    def create_snapshot(self, snapshot: SnapshotRef) -> SnapshotResult: ...

    @abstractmethod
    def delete_snapshot(self, snapshot: SnapshotRef) -> None:
        """Succeeds if already gone."""

    @abstractmethod
    def revert_to_snapshot(self, snapshot: SnapshotRef, rules: list[AccessRule]) -> None:
        """Bring the share back to the snapshot's data; only the latest snapshot may
        be used. The share is exported with `rules` afterwards, whatever happened."""

    @abstractmethod
    def update_access(self, share: ShareRef, rules: list[AccessRule]) -> dict[str, str]:
        """Make exactly `rules` hold for the share (a bulk resync every time).

        Returns {rule_id: reason} for rules that failed; the others are in force.
        Denying a rule that was never applied is simply its absence here.
        """

    @abstractmethod
    def ensure_share(self, share: ShareRef, rules: list[AccessRule]) -> list[ExportLocation]:
        """After a restart: export the share again with its rules. Raises
        NotFoundOnBackend when its data is gone."""

    def exports_healthy(self) -> bool:
        """False when the export daemon lost its state (e.g. ganesha died), so the
        periodic check starts the backend again and re-exports every share."""
        return True

    def exports_alive(self) -> bool:
        """The cheap part of exports_healthy(), asked every second or so (no
        process where the host can avoid one): False when the export daemon died."""
        return True

    def exports_stale(self) -> bool:
        """True when the file systems under this backend's exports were mounted
        anew (zfs-fuse came back) since exports_renewed(): what the export daemon
        holds of them is stale, so every export of the backend -- shares,
        replicas, migrating shares -- is made anew (`fresh`), not only checked."""
        return False

    def exports_renewed(self) -> None:
        """Every export of this backend was made anew on the mounts there are now."""

    def ensure_shares(self, shares: list[tuple[ShareRef, list[AccessRule]]], fresh: bool = False) -> dict[str, str]:
        """Ensure many at once; returns {share_id: reason} for those that failed.
        One that fails stops none of the others. `fresh`: exports_stale() said
        so; each export is dropped and made anew."""
        return failures_of(shares, lambda item: self.ensure_share(*item), lambda item: item[0].id)

    @abstractmethod
    def manage_existing(self, share: ShareRef, reference: str) -> ShareResult:
        """Take over existing data named by `reference` (an export path; size
        derived from it). Raises UnsafeToManage with the reason, changing
        nothing, when unsafe."""

    def reference_owner(self, reference: str, managed: list[ShareRef]) -> str | None:
        """The id of the share in `managed` (those Shoal holds on this backend)
        whose data `reference` names, or None. The driver, not services, knows
        how a reference maps to its objects."""
        return next((s.id for s in managed if s.provider_location == reference.strip()), None)

    @abstractmethod
    def unmanage(self, share: ShareRef) -> None:
        """Forget the share; its data stays and is no longer exported."""

    @abstractmethod
    def manage_existing_snapshot(self, snapshot: SnapshotRef, reference: str) -> SnapshotResult: ...

    @abstractmethod
    def unmanage_snapshot(self, snapshot: SnapshotRef) -> None: ...

    # ---- readable replicas (optional: a backend with a replication_domain) ----------
    #
    # A replicated share has one writable active copy and read-only secondaries on
    # backends of the same replication domain. Services hold the replicas' rows and
    # drive the flows; a driver moves data and sets roles. Replica refs are ShareRefs
    # whose id is the replica's. Every call is safe to repeat after a crash.

    replication_domain: str | None = None

    def check_replication_spec(self, extra_specs: dict[str, str]) -> None:
        """Raise InvalidRequest when a type's `replication_type` cannot be honoured here."""
        if extra_specs.get("replication_type") is not None:
            raise InvalidRequest(f"backend {self.backend_name} does not replicate shares")

    def take_replication_snapshot(self, share: ShareRef, tag: str) -> None:
        """A point-in-time `tag` of the active copy that replicas are brought to."""
        raise InvalidRequest(f"backend {self.backend_name} does not replicate shares")

    def replication_tags(self, share: ShareRef) -> list[str]:
        """The replication points a copy holds, oldest first."""
        return []

    def drop_replication_snapshots(self, share: ShareRef, keep: set[str]) -> None:
        """Remove the copy's replication points not in `keep`."""

    def replication_estimate(self, share: ShareRef, tag: str) -> int:
        """Bytes a full copy of `share` at `tag` is expected to carry (0: unknown)."""
        return 0

    def replicate(self, replica: ShareRef, source: "ShareDriver", active: ShareRef, tag: str, since: str | None,
                  progress: Callable[[int], None] | None = None, rules: list[AccessRule] | None = None) -> int:
        """Bring `replica` (here) to `active@tag` (on `source`, same domain): in full
        when `since` is None, else the changes since `since`, the last point both
        hold; changes on the replica since then are discarded. The replica stays
        read-only on the backend; if exported (`rules`), it is exported read-only
        with them afterwards. Returns bytes sent."""
        raise InvalidRequest(f"backend {self.backend_name} does not replicate shares")

    def export_replica(self, replica: ShareRef, rules: list[AccessRule], writable: bool,
                       fresh: bool = False) -> ShareResult:
        """Export a copy as the active (`writable`) or as a secondary: read-only on
        the backend first, then every rule cast to read-only. `fresh`: the
        export is dropped and made anew (see exports_stale)."""
        raise InvalidRequest(f"backend {self.backend_name} does not replicate shares")

    def delete_replica(self, replica: ShareRef) -> None:
        """Remove a copy, its export and its replication points. Succeeds if gone."""
        self.delete_share(replica)

    # A replicated share's snapshots are on every copy: taken on the active with
    # create_snapshot, they reach a secondary with its next replicate(); a
    # secondary holding one has it under `SnapshotRef(id, <the copy's ref>)`,
    # which delete_snapshot removes from that copy alone.

    def snapshot_locations(self, copy: ShareRef, snapshot_ids: list[str]) -> dict[str, str]:
        """Which of the share's snapshots (by id) this copy holds, with each one's
        provider location here."""
        return {}

    # ---- driver-assisted share migration (optional) ---------------------------------
    #
    # Manila's two-phase migration, driven by services: points (snapshots) of the
    # source copied to the destination while the share stays in use, a last short
    # copy with the source frozen, then the destination exported in its place and
    # the source removed. The destination driver is asked, given the source's.
    # Points share the replication calls above (take_replication_snapshot,
    # replication_estimate, drop_replication_snapshots). A driver that offers
    # none of this is refused up front with the reason.

    def migration_check(self, source: "ShareDriver") -> None:
        """Raise InvalidRequest unless shares of `source` can move here by the
        driver's own means (nothing is changed)."""
        raise InvalidRequest(f"backend {self.backend_name} does not migrate shares by itself")

    def migration_copy(self, dest: ShareRef, source: "ShareDriver", share: ShareRef, tag: str, since: str | None,
                       progress: Callable[[int], None] | None = None) -> int:
        """Bring `dest` (here, not exported, read-only) to `share@tag` on `source`:
        in full when `since` is None, else the changes since `since`. Safe to
        repeat; a half-made full copy is made again. Returns bytes sent."""
        raise InvalidRequest(f"backend {self.backend_name} does not migrate shares by itself")

    def migration_freeze(self, share: ShareRef, rules: list[AccessRule], frozen: bool, fresh: bool = False) -> None:
        """The source read-only (`frozen`: at the backend, then every rule read-only)
        or writable again with `rules`. `fresh`: as export_replica's."""
        raise InvalidRequest(f"backend {self.backend_name} does not migrate shares by itself")

    def migration_activate(self, dest: ShareRef, key: str, rules: list[AccessRule]) -> ShareResult:
        """The destination becomes the share: writable, sized and with the
        properties of `dest.extra_specs`, exported under `key` (the share's id)
        with `rules`. The result's provider_location is the share's from now on."""
        raise InvalidRequest(f"backend {self.backend_name} does not migrate shares by itself")

    def migration_deactivate(self, dest: ShareRef, key: str) -> None:
        """Undo migration_activate's export under `key` (the data stays)."""
        raise InvalidRequest(f"backend {self.backend_name} does not migrate shares by itself")

    def migration_remove(self, copy: ShareRef) -> None:
        """Remove a copy's data and points without touching any export (the
        destination of a cancelled migration, or the source once switched).
        Succeeds if already gone."""
        raise InvalidRequest(f"backend {self.backend_name} does not migrate shares by itself")
