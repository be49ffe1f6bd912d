"""The contract every volume driver fulfils (Cinder's VolumeDriver, made Pythonic).

Plain data in, plain data out; errors from the taxonomy in `drivers.base`.
Each method states what it guarantees.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from .base import ManageableItem, PoolStats


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
class Connector:
    """What os-brick reports about the attaching host (only what Shoal uses)."""

    initiator: str | None = None  # iSCSI IQN
    ip: str | None = None
    host: str | None = None
    multipath: bool = False


@dataclass(frozen=True)
class ExportSpec:
    """Who may reach a volume: its CHAP credentials (iSCSI) and every connector
    attached now (all attachments, not only the new one)."""

    chap_user: str
    chap_secret: str
    connectors: tuple[Connector, ...] = ()


@dataclass(frozen=True)
class ConnectionInfo:
    driver_volume_type: str  # "iscsi" | "nfs"
    data: dict


@dataclass(frozen=True)
class ManageableSnapshot(ManageableItem):
    source_reference: str = ""


class VolumeDriver(ABC):
    """One storage backend that holds block volumes."""

    backend_name: str
    availability_zone: str
    storage_protocol: str  # "iSCSI" | "NFS"

    @abstractmethod
    def start(self) -> None:
        """Prepare the backend (target daemon up, pools present). Idempotent."""

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
    def manageable_volumes(self, managed: set[str]) -> list[ManageableItem]:
        """Backend objects that could be managed; `managed` are provider locations
        Shoal already owns (reported as not safe)."""

    @abstractmethod
    def unmanage(self, volume: VolumeRef) -> None: ...

    @abstractmethod
    def manage_existing_snapshot(self, snapshot: VolumeSnapshotRef, reference: dict) -> VolumeSnapshotResult: ...

    @abstractmethod
    def manageable_snapshots(self, managed: set[str]) -> list[ManageableSnapshot]: ...

    @abstractmethod
    def unmanage_snapshot(self, snapshot: VolumeSnapshotRef) -> None: ...

    def exports_healthy(self) -> bool:
        """False when the export daemon lost its state (e.g. tgtd restarted), so
        the periodic check restarts it and re-exports the attached volumes."""
        return True

    def retype(self, volume: VolumeRef, new_extra_specs: dict[str, str]) -> bool:
        """Apply a new type in place when no data has to move; False when it cannot."""
        return False
