"""The `zfssa_nfs` volume driver: volumes are raw files in the root of one
share of an Oracle ZFS Storage Appliance (Cinder's ZFSSANFSDriver 1.0.2,
reference §3.7). The share is set up over REST; files are copied, moved,
deleted and labelled over the appliance's WebDAV; a file is created and grown
by qemu-img over nfs:// (Shoal's host needs no NFS mount).

Snapshots are full copies: a share snapshot is taken, the volume file copied
out of `.zfs/snapshot/<it>/` to `snapshot-<id>`, and the share snapshot
dropped whatever happened. A clone is a temporary snapshot copy moved into
place; it never depends on its source. Compute hosts mount the share and
open the file (Cinder's `nfs` connection info).

Images (§3.6): a volume file's data is reached for copies by qemu-img over
nfs://, and a volume from an image is a copy of the appliance-side image
cache (`file_image_cache`) when `enable_local_cache`.
"""

from __future__ import annotations

import logging
import math
import posixpath
import threading
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

from shoal.drivers.base import (
    DriverError,
    InvalidRequest,
    ManageableItem,
    NotFoundOnBackend,
    PoolStats,
    UnsafeToManage,
)
from shoal.drivers.volume import (
    ConnectionInfo,
    Connector,
    ExportSpec,
    ImageFill,
    ImageRef,
    ManageableSnapshot,
    VolumeData,
    VolumeDriver,
    VolumeRef,
    VolumeResult,
    VolumeSnapshotRef,
    VolumeSnapshotResult,
)
from shoal.hosts import CommandError, Host
from shoal.targets.nfs import NfsFileInfo

from . import manage_rules, naming, nfs_setup, setup_checks, stats
from .appliance import Appliance
from .config import ZfssaNfsBackendConfig
from .file_image_cache import FileImageCache
from .nfs_files import ShareFiles
from .rest import ApplianceError, RestClient
from .webdav import WebDavClient, WebDavError

log = logging.getLogger(__name__)

DRIVER_VERSION = "1.0.2"
GiB = 1024**3
MANAGED = "cinder_managed"
SHARE_SNAPSHOT_PREFIX = "cinder-zfssa-nfs-snapshot-"


def gib_up(nbytes) -> int:
    return max(1, math.ceil(int(nbytes or 0) / GiB))


def flag_of(props: dict[str, str]) -> bool | None:
    value = props.get(MANAGED)
    return None if not value else value.strip().lower() == "true"


class ZfssaNfsVolumeDriver(VolumeDriver):
    storage_protocol = "NFS"

    def __init__(self, name: str, config: ZfssaNfsBackendConfig, host: Host, rest: RestClient | None = None,
                 webdav_transport=None):
        self.backend_name = name
        self.availability_zone = config.availability_zone
        self.config = config
        self.host = host
        self.api = Appliance(rest or RestClient(config.appliance))
        self._webdav_transport = webdav_transport
        self._share: tuple[str, WebDavClient, ShareFiles] | None = None
        self._asn: str | None = None
        self._lock = threading.Lock()
        self._image_cache = FileImageCache(config, host, lambda: self.dav, lambda: self.files,
                                           lambda volume, source, size_gb, origin: self._from_file(
                                               volume, source, size_gb, "COPY", origin))

    # ---- the share ---------------------------------------------------------------------------

    def _connect(self, share: dict | None = None) -> tuple[str, WebDavClient, ShareFiles]:
        """The share's mount point and its WebDAV and file clients, read once."""
        with self._lock:
            if self._share is None:
                share = share or self.api.filesystem(self.config.pool, self.config.project, self.config.share)
                mountpoint = share.get("mountpoint") or f"/export/{self.config.share}"
                dav = WebDavClient(self.config.appliance, self.config.data_ip, self.config.https_port, mountpoint,
                                   transport=self._webdav_transport)
                files = ShareFiles(self.host, self.config.data_ip, mountpoint, self.config.file_timeout)
                self._share = (mountpoint, dav, files)
            return self._share

    @property
    def dav(self) -> WebDavClient:
        return self._connect()[1]

    @property
    def files(self) -> ShareFiles:
        return self._connect()[2]

    def _name(self, volume: VolumeRef) -> str:
        return volume.provider_location or naming.volume(self.config.volume_prefix, volume.id)

    def _require(self, name: str, what: str) -> dict[str, str]:
        props = self.dav.properties(name)
        if props is None:
            raise NotFoundOnBackend(f"{what}: file {name} is gone from share {self.config.share} on the appliance")
        return props

    # ---- setup and stats -----------------------------------------------------------------------

    def start(self) -> None:
        problem = setup_checks.pool_problem(self.api, self.backend_name, self.config.pool)
        if problem:
            raise DriverError(problem)
        share = nfs_setup.ensure_share(self.api, self.config)
        for service in nfs_setup.SERVICES:
            problem = setup_checks.service_problem(self.api, service)
            if problem:
                raise DriverError(problem)
        self._connect(share)
        self._image_cache.sweep()

    def problems(self) -> list[str]:
        name, pool, project = self.backend_name, self.config.pool, self.config.project
        checks = [
            lambda: setup_checks.project_problem(self.api, name, pool, project),
            lambda: nfs_setup.share_problem(self.api, self.config, name),
        ]
        checks += [lambda service=service: setup_checks.service_problem(self.api, service)
                   for service in nfs_setup.SERVICES]
        return setup_checks.collect(self.api, name, pool, checks)

    def pools(self) -> list[PoolStats]:
        share = self.api.filesystem(self.config.pool, self.config.project, self.config.share)
        if self._asn is None:
            self._asn = str(self.api.version().get("asn") or "")
        capabilities = {
            "volume_backend_name": self.backend_name,
            "vendor_name": "Oracle",
            "driver_version": DRIVER_VERSION,
            "storage_protocol": self.storage_protocol,
            "location_info": stats.location_info(self._asn, self.config.share),
            "reserved_percentage": stats.nfs_reserved_percentage(share, self.config.reserved_percentage,
                                                                 self.config.max_over_subscription_ratio),
            "max_over_subscription_ratio": self.config.max_over_subscription_ratio,
            "QoS_support": False,
            "multiattach": True,
            "thin_provisioning_support": True,
            "thick_provisioning_support": False,
            "zfssa_compression": share.get("compression"),
            "zfssa_encryption": share.get("encryption"),
            "zfssa_logbias": share.get("logbias"),
            "zfssa_sparse": True,
        }
        return [stats.space_pool(self.config.pool, share, capabilities)]

    def validate_extra_specs(self, extra_specs: dict[str, str]) -> None:
        if (extra_specs.get("provisioning:type") or "").strip().lower() == "thick":
            raise InvalidRequest("ZFSSA NFS volumes are sparse files: provisioning:type thick cannot be honoured")

    # ---- data ------------------------------------------------------------------------------------

    def _drop_file(self, name: str) -> None:
        """Undo: a failure is logged, so the error that matters is the one raised."""
        try:
            self.dav.delete(name)
        except WebDavError as exc:
            log.error("backend %s: could not remove %s from the share: %s", self.backend_name, name, exc)

    def _label(self, name: str, **props: str) -> None:
        self.dav.set_properties(name, {MANAGED: "True", **props})

    def create_volume(self, volume: VolumeRef) -> VolumeResult:
        name = naming.volume(self.config.volume_prefix, volume.id)
        self._run(lambda: self.files.create(name, volume.size_gb), f"create {name}")
        with ExitStack() as undo:
            undo.callback(self._drop_file, name)
            self._label(name)
            undo.pop_all()
        return VolumeResult(name, volume.size_gb)

    def _run(self, step, what: str):
        try:
            return step()
        except CommandError as exc:
            raise DriverError(f"backend {self.backend_name}: {what} over NFS failed: {exc}") from None

    def _snapshot_copy(self, source: str, destination: str) -> None:
        """`destination` becomes a point-in-time copy of `source`: a share
        snapshot, a WebDAV COPY out of it, the share snapshot dropped after."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        snapshot = SHARE_SNAPSHOT_PREFIX + stamp
        where = (self.config.pool, self.config.project, self.config.share)
        self.api.create_filesystem_snapshot(*where, snapshot)
        try:
            self.dav.copy(f".zfs/snapshot/{snapshot}/{source}", destination)
        finally:
            try:
                self.api.delete_filesystem_snapshot(*where, snapshot)
            except ApplianceError as exc:
                log.error("backend %s: could not drop share snapshot %s: %s", self.backend_name, snapshot, exc)

    def create_snapshot(self, snapshot: VolumeSnapshotRef) -> VolumeSnapshotResult:
        source, name = self._name(snapshot.volume), naming.snapshot(snapshot.id)
        self._require(source, f"volume {snapshot.volume.id}")
        self._snapshot_copy(source, name)
        return VolumeSnapshotResult(name, snapshot.volume.size_gb)

    def delete_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        """A snapshot is a file no volume depends on: deleted, or already gone."""
        self.dav.delete(snapshot.provider_location or naming.snapshot(snapshot.id))

    def _from_file(self, volume: VolumeRef, source: str, source_gb: int, method: str, origin: str) -> VolumeResult:
        if volume.size_gb < source_gb:
            raise InvalidRequest(f"volume {volume.id} ({volume.size_gb} GiB) cannot be smaller than its source "
                                 f"({source_gb} GiB)")
        name = naming.volume(self.config.volume_prefix, volume.id)
        with ExitStack() as undo:
            if method == "MOVE":
                self.dav.move(source, name)
            else:
                self.dav.copy(source, name)
            undo.callback(self._drop_file, name)
            if volume.size_gb > source_gb:
                self._run(lambda: self.files.grow(name, volume.size_gb), f"extend {name}")
            self._label(name, origin=origin)
            undo.pop_all()
        return VolumeResult(name, volume.size_gb)

    def create_volume_from_snapshot(self, volume: VolumeRef, snapshot: VolumeSnapshotRef) -> VolumeResult:
        source = snapshot.provider_location or naming.snapshot(snapshot.id)
        self._require(source, f"snapshot {snapshot.id}")
        return self._from_file(volume, source, snapshot.volume.size_gb, "COPY", self._name(snapshot.volume))

    def create_cloned_volume(self, volume: VolumeRef, source: VolumeRef) -> VolumeResult:
        """A point-in-time copy named `tmp-snapshot-<new id>`, moved into place
        (one copy, nothing left behind); removed if anything fails."""
        source_name = self._name(source)
        self._require(source_name, f"volume {source.id}")
        temporary = naming.clone_snapshot(volume.id)
        with ExitStack() as undo:
            self._snapshot_copy(source_name, temporary)
            undo.callback(self._drop_file, temporary)
            result = self._from_file(volume, temporary, source.size_gb, "MOVE", source_name)
            undo.pop_all()
        return result

    def delete_volume(self, volume: VolumeRef) -> None:
        """Gone already: done. The image cache entry it was copied from goes
        with the last such volume."""
        name = self._name(volume)
        props = self.dav.properties(name)
        if props is None:
            return
        self.dav.delete(name)
        self._image_cache.made_from_gone(props.get("origin"))

    def extend_volume(self, volume: VolumeRef, new_size_gb: int) -> None:
        if new_size_gb < volume.size_gb:
            raise InvalidRequest(f"cannot shrink volume {volume.id} from {volume.size_gb} to {new_size_gb} GiB")
        name = self._name(volume)
        self._require(name, f"volume {volume.id}")
        self._run(lambda: self.files.grow(name, new_size_gb), f"extend {name}")

    def revert_to_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        """The snapshot's copy, grown to the volume's size when the volume was
        extended since, replaces the volume's file in one MOVE: until then the
        volume is as it was, and nothing is left behind on failure."""
        volume, source = snapshot.volume, snapshot.provider_location or naming.snapshot(snapshot.id)
        name, temporary = self._name(volume), f"tmp-revert-{naming.checked_id(volume.id, 'volume')}"
        size = int(self._require(source, f"snapshot {snapshot.id}").get("getcontentlength") or 0)
        self._require(name, f"volume {volume.id}")
        with ExitStack() as undo:
            self.dav.copy(source, temporary, overwrite=True)
            undo.callback(self._drop_file, temporary)
            if size < volume.size_gb * GiB:
                self._run(lambda: self.files.grow(temporary, volume.size_gb), f"extend {temporary}")
            self.dav.move(temporary, name, overwrite=True)
            undo.pop_all()
        self._label(name)

    # ---- images --------------------------------------------------------------------------------------

    @contextmanager
    def open_data(self, volume: VolumeRef, writable: bool):
        """The volume file over nfs:// for qemu-img on Shoal's host (no mount).
        Snapshots are copies of their own: a whole write changes none of them."""
        name = self._name(volume)
        self._require(name, f"volume {volume.id}")
        yield VolumeData(self.host, self.files.url(name), "raw")

    def clone_image(self, volume: VolumeRef, image: ImageRef, fill: ImageFill) -> VolumeResult | None:
        return self._image_cache.clone(volume, image, fill)

    # ---- export and attach --------------------------------------------------------------------------

    def validate_connector(self, connector: Connector) -> None:
        """Any host may mount the share (it is shared read-write over NFS)."""

    def export(self, volume: VolumeRef, spec: ExportSpec) -> ConnectionInfo:
        mountpoint = self._connect()[0]
        name = self._name(volume)
        self._require(name, f"volume {volume.id}")
        return NfsFileInfo(f"{self.config.data_ip}:{mountpoint}", name, "raw", self.config.mount_options).connection()

    def unexport(self, volume: VolumeRef) -> None:
        """Nothing on the appliance: the share stays exported (Cinder's way)."""

    # ---- manage (reference §3.5) ----------------------------------------------------------------------

    def _reference_file(self, reference: dict) -> tuple[str, dict[str, str]]:
        raw = str((reference or {}).get("source-name") or "").strip()
        path = posixpath.normpath(raw.lstrip("/")) if raw else ""
        if not path or path in (".", "..") or path.startswith("../") or path.split("/")[0] == ".zfs":
            raise UnsafeToManage(f"the reference needs a 'source-name': the path of a file in share "
                                 f"{self.config.share} (not {raw!r})")
        props = self.dav.properties(path)
        if props is None:
            raise UnsafeToManage(f"no file {path!r} in share {self.config.share}")
        if "collection" in props:
            raise UnsafeToManage(f"{path!r} in share {self.config.share} is a directory, not a volume file")
        return path, props

    def manage_existing(self, volume: VolumeRef, reference: dict) -> VolumeResult:
        path, props = self._reference_file(reference)
        refusal = manage_rules.refusal(f"file {path}", flag_of(props), self.config.manage_policy)
        if refusal:
            raise UnsafeToManage(refusal)
        name = naming.volume(self.config.volume_prefix, volume.id)
        if path != name:
            if self.dav.properties(name) is not None:
                raise UnsafeToManage(f"{name} already exists in share {self.config.share}")
            self.dav.move(path, name)
        try:
            self._label(name)
        except WebDavError:
            if path != name:
                self.dav.move(name, path)  # as it was
            raise
        return VolumeResult(name, gib_up(props.get("getcontentlength")))

    def manageable_volumes(self, managed: list[VolumeRef]) -> list[ManageableItem]:
        owners = {self._name(v): v.id for v in managed}
        items = []
        for name, props in sorted(self.dav.listing()):
            if "collection" in props or name.startswith((".", "snapshot-", "tmp-snapshot-", "tmp-revert-")):
                continue
            owner = owners.get(name)
            reason = manage_rules.listing_reason(flag_of(props), self.config.manage_policy, owner is not None)
            items.append(ManageableItem(name, gib_up(props.get("getcontentlength")), reason is None, reason, owner))
        return items

    def unmanage(self, volume: VolumeRef) -> None:
        """Moved to `unmanaged-<name>` and marked cinder_managed = False; the data stays."""
        name = self._name(volume)
        try:
            self.dav.move(name, naming.unmanaged(name))
        except NotFoundOnBackend:
            log.warning("backend %s: unmanaged volume %s had no file %s", self.backend_name, volume.id, name)
            return
        self.dav.set_properties(naming.unmanaged(name), {MANAGED: "False"})

    def manage_existing_snapshot(self, snapshot: VolumeSnapshotRef, reference: dict) -> VolumeSnapshotResult:
        raise InvalidRequest(f"backend {self.backend_name}: managing existing ZFSSA snapshots is not supported")

    def manageable_snapshots(self, managed: list[VolumeSnapshotRef]) -> list[ManageableSnapshot]:
        return []

    def unmanage_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        """Forgotten by Shoal; its file stays on the share."""
