"""The contract every volume driver fulfils (Cinder's VolumeDriver, made Pythonic).

Plain data in, plain data out; errors from the taxonomy in `drivers.base`.
Each method states what it guarantees; services rely on nothing else. In
particular, for every driver:

- Names on the backend come from ids (`VolumeRef.id`), never from user text;
  `provider_location` is whatever the driver needs to find the volume again,
  opaque to services.
- Every call may be repeated after a crash with the same arguments: creating
  what exists already either reuses it or raises, deleting what is gone succeeds.
- A failed call leaves nothing behind that a later call trips over (undo as
  you go), and raises a DriverError whose message a user may read.
- Secrets a target needs (CHAP) are made by the driver (`new_target_auth`),
  stored by services as the volume's `provider_auth`, and handed back in
  `ExportSpec.auth`; a driver whose targets need none returns None.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from shoal.hosts import Host
from shoal.targets import ConnectionInfo, Connector

from .base import InvalidRequest, ManageableItem, PoolStats, failures_of

__all__ = [  # Connector and ConnectionInfo are the targets layer's; drivers take them from here too
    "ConnectionInfo", "Connector", "ExportSpec", "ImageFill", "ImageRef", "ManageableSnapshot", "VolumeData", "VolumeDriver", "VolumeRef",
    "VolumeResult", "VolumeSnapshotRef", "VolumeSnapshotResult",
]


@dataclass(frozen=True)
class VolumeRef:
    id: str
    pool: str
    size_gb: int
    provider_location: str | None = None  # e.g. the volume's dataset
    extra_specs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeSnapshotRef:
    id: str
    volume: VolumeRef
    provider_location: str | None = None  # e.g. dataset@tag


@dataclass(frozen=True)
class VolumeResult:
    provider_location: str
    size_gb: int


@dataclass(frozen=True)
class VolumeSnapshotResult:
    provider_location: str
    size_gb: int


@dataclass(frozen=True)
class ExportSpec:
    """Who may reach a volume: every connector attached now (all attachments,
    not only the new one), and the target secret the driver made for it
    (`VolumeDriver.new_target_auth`; None for drivers whose targets need none)."""

    auth: str | None = None
    connectors: tuple[Connector, ...] = ()


@dataclass(frozen=True)
class VolumeData:
    """Where a volume's bytes can be read or written for a copy (an image to or
    from a volume): `path` on `host` -- a file, or a block device -- in qemu-img's
    `format` ("raw", "qcow2"). A qcow2 path may have a backing chain the driver
    checked; qemu-img reads through it."""

    host: Host
    path: str
    format: str


@dataclass(frozen=True)
class ExportsHeld:
    """What a volume backend's export daemon holds, from one read of it."""
    volume_ids: set[str] | frozenset[str]  # every volume with an export there
    unserved: set[str] | frozenset[str]  # those of them whose export serves no data


@dataclass(frozen=True)
class ImageRef:
    """An image as a backend's own image cache keys it: a cached copy made when
    the image had another `updated_at` or `checksum` is stale. `virtual_size`
    (bytes) is what services checked with qemu-img: no need to read the image."""

    id: str
    updated_at: str  # ISO 8601
    checksum: str | None
    virtual_size: int


# Writes the whole image into the data given (services' copy, the one any volume
# from an image gets); raises DriverError when the copy fails.
ImageFill = Callable[[VolumeData], None]


@dataclass(frozen=True)
class ManageableSnapshot(ManageableItem):
    source_reference: str = ""


class VolumeDriver(ABC):
    """One storage backend that holds block volumes."""

    backend_name: str
    availability_zone: str
    storage_protocol: str  # "iSCSI" | "NFS" | a vendor's own, e.g. "storpool"

    @abstractmethod
    def start(self) -> None:
        """Prepare the backend (target daemon up, pools present). Idempotent."""

    def collect_garbage(self, full: bool = False) -> list[str]:
        """Remove what earlier deletes had to leave for later (e.g. data the
        backend kept busy past the delete's retries); returns what went. Called
        by the periodic check; cheap when nothing waits. `full`: look at the
        whole backend for what such deletes left before a crash (asked once
        after each start, in the background: serving does not wait for it).
        Default: nothing waits."""
        return []

    @abstractmethod
    def problems(self) -> list[str]: ...

    @abstractmethod
    def pools(self) -> list[PoolStats]: ...

    @abstractmethod
    def validate_extra_specs(self, extra_specs: dict[str, str]) -> None: ...

    # ---- data ----------------------------------------------------------------

    @abstractmethod
    def create_volume(self, volume: VolumeRef) -> VolumeResult:
        """An empty volume of size_gb GiB: thin, unless the type asks for thick."""

    @abstractmethod
    def create_volume_from_snapshot(self, volume: VolumeRef, snapshot: VolumeSnapshotRef) -> VolumeResult:
        """The snapshot's data, at volume.size_gb (which may be larger than the snapshot)."""

    @abstractmethod
    def create_cloned_volume(self, volume: VolumeRef, source: VolumeRef) -> VolumeResult: ...

    @abstractmethod
    def delete_volume(self, volume: VolumeRef) -> None:
        """Succeeds if already gone, and even when clones depend on the volume's
        data: that data is then kept hidden and removed with its last dependant."""

    @abstractmethod
    def extend_volume(self, volume: VolumeRef, new_size_gb: int) -> None:
        """Grow the volume; an exported volume shows the new size to initiators."""

    @abstractmethod
    def create_snapshot(self, snapshot: VolumeSnapshotRef) -> VolumeSnapshotResult: ...

    @abstractmethod
    def delete_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        """Succeeds if already gone, and even when volumes were created from it."""

    @abstractmethod
    def revert_to_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        """The volume's data as of the snapshot; its size does not change."""

    def check_revert(self, snapshot: VolumeSnapshotRef) -> None:
        """Raise InvalidRequest when the backend would refuse to revert the volume
        to the snapshot, so the request is refused before anything changes; what
        it cannot tell is left to revert_to_snapshot. Default: nothing to check."""

    # ---- export and attach ----------------------------------------------------------

    @abstractmethod
    def validate_connector(self, connector: Connector) -> None:
        """Raise InvalidRequest when this backend cannot attach `connector`."""

    @abstractmethod
    def export(self, volume: VolumeRef, spec: ExportSpec) -> ConnectionInfo:
        """Make the volume reachable by exactly spec.connectors (none: reachable by
        nobody) and return how to connect. Idempotent: used for attach, detach,
        and to re-export after a restart."""

    @abstractmethod
    def unexport(self, volume: VolumeRef) -> None:
        """Remove the volume's export entirely. Succeeds if there is none."""

    # ---- manage ----------------------------------------------------------------------

    @abstractmethod
    def manage_existing(self, volume: VolumeRef, reference: dict) -> VolumeResult:
        """Take over an existing backend object ({'source-name': ...}); size is
        rounded up to GiB. UnsafeToManage, changing nothing, when unsafe."""

    @abstractmethod
    def manageable_volumes(self, managed: list[VolumeRef]) -> list[ManageableItem]:
        """Backend objects that could be managed. Those that `managed` (the
        volumes Shoal holds on this backend) already own are listed as not safe,
        with that volume's id as `managed_id`."""

    def reference_owner(self, reference: dict, managed: list[VolumeRef]) -> str | None:
        """The id of the volume in `managed` whose data `reference` names, or
        None (so a second manage of the same data is refused before it starts)."""
        name = str((reference or {}).get("source-name") or "").strip()
        return next((v.id for v in managed if name and v.provider_location == name), None)

    @abstractmethod
    def unmanage(self, volume: VolumeRef) -> None: ...

    @abstractmethod
    def manage_existing_snapshot(self, snapshot: VolumeSnapshotRef, reference: dict) -> VolumeSnapshotResult: ...

    @abstractmethod
    def manageable_snapshots(self, managed: list[VolumeSnapshotRef]) -> list[ManageableSnapshot]:
        """As manageable_volumes, for snapshots; `managed` are the snapshots Shoal holds here."""

    @abstractmethod
    def unmanage_snapshot(self, snapshot: VolumeSnapshotRef) -> None: ...

    # ---- data access for copies (images) ---------------------------------------------

    @contextmanager
    def open_data(self, volume: VolumeRef, writable: bool) -> Iterator[VolumeData]:
        """The volume's data, reachable on a host for the length of the block
        (attached, or its file opened), then released. `writable`: the caller
        writes the whole volume (a new volume from an image); the driver refuses
        (InvalidRequest, nothing changed) where a write would corrupt something,
        e.g. a file with snapshots layered on it. Read-only data may change under
        the reader when the volume is in use (a forced upload, as Cinder's).

        The generic path services use for image copies; a driver that cannot give
        one raises InvalidRequest saying so."""
        raise InvalidRequest(f"backend {self.backend_name} ({type(self).__name__}) cannot copy images to or from "
                             "volumes yet: it offers no way to reach a volume's data")
        yield  # pragma: no cover - makes this a generator for contextmanager

    def data_hosts(self) -> list[Host]:
        """The hosts `open_data` may name: image copies stage files there, and a start
        sweeps what a crashed copy left. By default the driver's one `host`, if it has one."""
        host = getattr(self, "host", None)
        return [host] if host is not None else []

    def clone_image(self, volume: VolumeRef, image: ImageRef, fill: ImageFill) -> VolumeResult | None:
        """The new volume made from the backend's own cache of the image (Cinder's
        clone_image): the cache filled first through `fill` when it holds no copy of
        the image as it is now. None when this backend keeps no such cache (the
        default) or does not serve this request (e.g. the image is larger than the
        volume): services then make the volume the generic way. On failure it
        raises, having removed what it made for this volume; services fall back too."""
        return None

    def new_target_auth(self) -> str | None:
        """A fresh secret for a volume's target in Cinder's `provider_auth` form
        ("CHAP user secret"), or None when this backend's targets need none.
        Services store it with the volume and pass it back in ExportSpec.auth."""
        return None

    def recover(self, volumes: list[VolumeRef]) -> dict[str, str]:
        """After a restart, with the volumes services hold on this backend:
        finish or undo what a crash interrupted (e.g. a half-done snapshot
        delete). Returns {volume_id: reason} for each volume left damaged."""
        return {}

    def ensure_exports(self, volumes: list[tuple[VolumeRef, ExportSpec]]) -> dict[str, str]:
        """After a restart of Shoal or of the export daemon: export each volume
        again as its spec says. One that fails stops none of the others; returns
        {volume_id: reason} for those that failed. Drivers whose daemon can take
        them all in one pass override this."""
        return failures_of(volumes, lambda item: self.export(*item), lambda item: item[0].id)

    def exported_volume_ids(self) -> set[str] | None:
        """Ids of the volumes this backend's export daemon holds an export for,
        read from the daemon (not from memory). Services compare them with the
        attachments: they drop the exports no attachment needs (a crash between
        a detach's record and its unexport leaves one) and export again the
        attached volumes the daemon lost (a kernel target cleared or restarted
        says so to no health check). None where exports are not kept apart from
        the volume's own state: nothing to compare."""
        return None

    def exports_held(self) -> ExportsHeld | None:
        """exported_volume_ids() and, from the same read of the daemon, those
        whose export serves no data (a LUN left without its backing file by a
        re-open that failed while the file system was not mounted again yet):
        services export those again. Drivers that can tell override this."""
        held = self.exported_volume_ids()
        return None if held is None else ExportsHeld(held, frozenset())

    def drop_export(self, volume_id: str) -> None:
        """Remove the export of a volume that no attachment needs (its row may
        be gone). Succeeds if there is none."""

    def exports_alive(self) -> bool:
        """The cheap part of exports_healthy(), asked every second or so (no
        process where the host can avoid one): False when the target daemon died."""
        return True

    def exports_healthy(self) -> bool:
        """False when the export daemon lost its state (e.g. tgtd restarted), so
        the periodic check restarts it and re-exports the attached volumes."""
        return True

    def retype(self, volume: VolumeRef, new_extra_specs: dict[str, str]) -> bool:
        """Apply a new type in place when no data has to move; False when it cannot."""
        return False

    # ---- migration (services/volume/migrations.py drives it) ----------------------------------

    def migrate_volume(self, volume: VolumeRef, backend: str, pool: str | None,
                       capabilities: dict) -> tuple[bool, str | None]:
        """Move `volume` to pool `pool` of backend `backend` (whose pool reports
        `capabilities`) by this backend's own means, Cinder's driver-assisted
        migration: (True, the data's provider_location there) when moved, the
        volume keeping its id; (False, None) when this driver cannot, and
        services copy the data themselves (the default)."""
        return False, None

    def can_receive_volume(self, source: VolumeDriver, origin: VolumeRef | None = None,
                           extra_specs: Mapping[str, str] | None = None) -> bool:
        """True when this backend can take volumes of `source` by its own means
        (receive_volume), snapshots included; services then use it instead of the
        generic copy. With `origin` (the volume about to move) and `extra_specs`
        (those of the type it will have here): whether this one can go that way;
        a volume that cannot is copied the generic way. False (the default):
        services copy through open_data."""
        return False

    def receive_volume(self, volume: VolumeRef, source: VolumeDriver, origin: VolumeRef,
                       snapshots: list[VolumeSnapshotRef],
                       progress: Callable[[int], None] | None = None) -> VolumeResult:
        """Make `volume` (new, on this backend) a copy of `origin` (on `source`,
        which this backend can_receive_volume from) holding `snapshots` of it
        (oldest first) as its own. `progress(percent)` as the copy goes. What an
        earlier attempt of the same copy left (on either side) is removed first,
        so it may be called again after a crash; on failure it raises, and what
        it made here goes with delete_volume(volume), on the source with
        release_sent(origin)."""
        raise InvalidRequest(f"backend {self.backend_name} cannot receive volumes from another backend")

    def release_sent(self, volume: VolumeRef) -> None:
        """Remove what a receive_volume from this backend left on `volume` (e.g.
        the point it was sent from). Succeeds if nothing is left."""

    def migrated_snapshot_location(self, volume: VolumeRef, snapshot: VolumeSnapshotRef) -> str | None:
        """Where a snapshot received with its volume (receive_volume) is found
        once the volume is `volume` (its id and final provider_location here);
        the default: the snapshot's own provider_location."""
        return snapshot.provider_location

    def update_migrated_volume(self, volume: VolumeRef, new_volume: VolumeRef) -> str | None:
        """After a migration copied `volume`'s data into `new_volume` on this
        backend, where names come from ids: give the data `volume`'s own name
        (`volume` as it is to be here: its id, new_volume's pool). Returns the id
        whose name still holds the data when that could not be done (Cinder's
        `_name_id`), None when the data is found under `volume` now (see
        migrated_location). The default renames nothing: a driver that finds
        volumes by provider_location needs no rename. Must be safe to repeat."""
        return None

    def migrated_location(self, volume: VolumeRef, new_volume: VolumeRef) -> str | None:
        """The provider_location of the data once update_migrated_volume gave it
        `volume`'s name (it answered None): new_volume's unless the name is part
        of the location."""
        return new_volume.provider_location
