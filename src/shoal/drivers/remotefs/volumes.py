"""Block volumes as raw or qcow2 files on NAS shares, with qcow2 snapshot chains
(Cinder's RemoteFS/NFS driver, reference §2).

Each configured share is one pool, named by its address. A volume is the file
`<volume_prefix><id>` in its share's directory, plus, once it has snapshots,
its overlays and `.info` file (`chain`); its provider location is the share's
address, as Cinder's. Nothing is exported on the server side: the share is
already an NFS export, and a compute host mounts it and opens the volume's
active file, which `export` names in Cinder's `nfs` connection info.

Changes to a volume's chain hold that volume's lock (a clone takes the
source's lock before the new volume's, Cinder #1851512), and are refused while
the volume is attached: with a guest writing to the active image, only the
hypervisor may change the chain (Cinder asks Nova; Shoal cannot).

A snapshot delete is journalled (`journal`); `start` finishes any it finds,
and `recover` does so for the volumes services name, also dropping clone
temporaries a crash left behind.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from contextlib import ExitStack, contextmanager

from shoal.drivers.base import DriverError, InvalidRequest, NotFoundOnBackend, PoolStats
from shoal.drivers.volume import (
    ConnectionInfo,
    Connector,
    ExportSpec,
    VolumeData,
    VolumeDriver,
    VolumeRef,
    VolumeResult,
    VolumeSnapshotRef,
    VolumeSnapshotResult,
)
from shoal.hosts import CommandError, Host
from shoal.targets.nfs import NfsFileInfo

from . import files as plain
from . import info_file, nas, qemu_img, secure, specs
from .chain import Chain
from .config import RemoteFsBackendConfig
from .files import TMP_SNAP, VolumeFiles, checked_id
from .manage import ManageMixin
from .migration import MigrationMixin
from .qemu_img import GiB, ImageInfo, QemuImg, gib_up

log = logging.getLogger(__name__)

DRIVER_VERSION = "1.0"


def backend_errors(method):
    """Command failures leave a driver method as the contract's DriverError."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except CommandError as exc:
            raise DriverError(str(exc)) from None

    return wrapper


class RemoteFsVolumeDriver(ManageMixin, MigrationMixin, VolumeDriver):
    storage_protocol = "NFS"

    def __init__(self, name: str, config: RemoteFsBackendConfig, host: Host, state_dir: str):
        self.backend_name = name
        self.availability_zone = config.availability_zone
        self.config = config
        self.host = host
        self.mount_point_base = config.mount_point_base or f"{state_dir.rstrip('/')}/mnt"
        self.shares = nas.shares_of(config.shares, self.mount_point_base)
        self.qemu = QemuImg(host, config.qemu_img_timeout)
        # A volume's lock lives while someone holds or waits for it: ids of deleted
        # volumes do not pile up.
        self._locks: weakref.WeakValueDictionary[str, threading.RLock] = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()
        self._attached: set[str] = set()  # volume ids exported to at least one connector
        self._mounted: set[str] = set()  # addresses of the shares Shoal mounted (or found mounted)
        # Until start() looks for the indicator file, `auto` counts as not secure.
        self.secure_permissions = config.secure_file_permissions == "true"
        self.secure_operations = config.secure_file_operations == "true"

    # ---- names and places ----------------------------------------------------------------------

    def _files(self, share: nas.Share, volume_id: str) -> VolumeFiles:
        return VolumeFiles(share.directory, f"{self.config.volume_prefix}{checked_id(volume_id, 'volume')}")

    def _chain(self, files: VolumeFiles) -> Chain:
        pattern = qemu_img.chain_member(files.name, (files.directory,), self.mount_point_base)
        return Chain(self.host, self.qemu, files, pattern, self._file_mode)

    @property
    def _file_mode(self) -> int:
        return secure.file_mode(self.secure_permissions)

    def _exists(self, path: str) -> bool:
        return self.host.run(plain.exists(path), check=False).returncode == 0

    def _share_named(self, address: str | None) -> nas.Share | None:
        return self.shares.get(address) if address else None

    def _find(self, volume: VolumeRef) -> nas.Share:
        """The share holding an existing volume: its provider location, else its
        pool, else (a create that died before it returned) wherever its file is."""
        share = self._share_named(volume.provider_location) or self._share_named(volume.pool)
        if share is not None:
            return self._ready(share)
        for candidate in self._available():
            files = self._files(candidate, volume.id)
            if self._exists(files.base) or self._exists(files.info):
                return candidate
        raise NotFoundOnBackend(f"volume {volume.id} has no file on any share of backend {self.backend_name}")

    def _place(self, volume: VolumeRef) -> nas.Share:
        """The share for a new volume: the pool the scheduler chose, else Cinder's pick."""
        share = self._share_named(volume.pool)
        if share is not None:
            return self._ready(share)
        size = volume.size_gb * GiB
        spaces = self._spaces()
        address = nas.choose(spaces, size, self.config.reserved_percentage, self.config.max_over_subscription_ratio)
        if address is None:
            raise DriverError(f"no share of backend {self.backend_name} has room for {volume.size_gb} GiB")
        return self.shares[address]

    @contextmanager
    def _locked(self, *volume_ids: str):
        """The volumes' locks, in the order given (a clone: source first)."""
        with ExitStack() as stack:
            for volume_id in dict.fromkeys(volume_ids):
                with self._locks_guard:
                    lock = self._locks.get(volume_id)
                    if lock is None:
                        lock = self._locks[volume_id] = threading.RLock()
                stack.enter_context(lock)
            yield

    def _detached(self, volume: VolumeRef, what: str) -> None:
        if volume.id in self._attached:
            raise InvalidRequest(f"cannot {what} volume {volume.id} while it is attached: detach it first")

    @contextmanager
    def _changing(self, volume: VolumeRef, what: str):
        """The volume's chain, locked, detached, with any interrupted change finished."""
        chain = self._chain(self._files(self._find(volume), volume.id))
        with self._locked(volume.id):
            self._detached(volume, what)
            chain.settle()
            yield chain

    # ---- setup and stats ---------------------------------------------------------------------------

    def start(self) -> None:
        available = self._available()  # mounts what Shoal mounts
        if available:
            self._resolve_security(available[0])
        self._finish_interrupted(available)

    def _ready(self, share: nas.Share) -> nas.Share:
        """The share, mounted: never a file in the empty directory under a share
        that failed to mount. A failed mount is tried again on the next use."""
        if share.mounted_by_us and share.address not in self._mounted:
            try:
                if self.host.run(nas.is_mounted(share.directory), check=False).returncode != 0:
                    self.host.run(nas.make_dir(share.directory))
                    self.host.run(nas.mount(share), timeout=nas.MOUNT_TIMEOUT)
            except CommandError as exc:
                raise DriverError(f"share {share.address} is not mounted at {share.directory}: {exc}") from None
            self._mounted.add(share.address)
        return share

    def _spaces(self) -> dict[str, nas.Space]:
        """Capacity of each share that is mounted and answers (Cinder's pools)."""
        spaces = {}
        for share in self._available():
            try:
                spaces[share.address] = nas.read_space(self.host, share.directory)
            except CommandError as exc:
                log.warning("backend %s: share %s does not answer: %s", self.backend_name, share.address, exc)
        return spaces

    def _available(self) -> list[nas.Share]:
        available = []
        for share in self.shares.values():
            try:
                available.append(self._ready(share))
            except DriverError as exc:
                log.warning("backend %s: %s", self.backend_name, exc)
        return available

    def _resolve_security(self, first: nas.Share) -> None:
        indicator = f"{first.directory}/{secure.INDICATOR}"
        present = self._exists(indicator)
        listing = self.host.run(["find", first.directory, "-maxdepth", "1", "-name", f"{self.config.volume_prefix}*",
                                 "-print", "-quit"], check=False)
        new_install = listing.returncode == 0 and not listing.stdout.strip()
        results = []
        for setting in (self.config.secure_file_operations, self.config.secure_file_permissions):
            is_secure, write = secure.decide(setting, present, new_install)
            if write:
                try:
                    self.host.write_file(indicator, secure.INDICATOR_TEXT, mode=secure.INDICATOR_MODE)
                    present = True
                except (OSError, CommandError) as exc:  # Cinder's EACCES fallback
                    log.warning("backend %s: cannot write %s (%s): secure file operations off", self.backend_name,
                                indicator, exc)
                    is_secure = False
            results.append(is_secure)
        self.secure_operations, self.secure_permissions = results

    def _finish_interrupted(self, shares: list[nas.Share]) -> None:
        """Snapshot deletes and reverts a crash interrupted, found by their files."""
        for share in shares:
            found = self.host.run(plain.list_interrupted(share.directory, self.config.volume_prefix), check=False)
            for name in plain.parse_names(found.stdout):
                volume_id = name[len(self.config.volume_prefix):].rsplit(".", 1)[0]
                try:
                    with self._locked(volume_id):
                        self._chain(self._files(share, volume_id)).settle()
                except DriverError as exc:
                    log.error("backend %s: %s", self.backend_name, exc)

    def recover(self, volumes: list[VolumeRef]) -> dict[str, str]:
        failed: dict[str, str] = {}
        for volume in volumes:
            try:
                self._recover_one(volume)
            except (DriverError, CommandError) as exc:
                failed[volume.id] = str(exc)
        return failed

    def _recover_one(self, volume: VolumeRef) -> None:
        try:
            share = self._find(volume)
        except NotFoundOnBackend:
            return
        chain = self._chain(self._files(share, volume.id))
        with self._locked(volume.id):
            chain.settle()
            for snapshot_id in info_file.snapshots(chain.info()):
                if snapshot_id.startswith(TMP_SNAP):  # a clone's temporary: the clone died with it
                    chain.delete_snapshot(snapshot_id)
            # A chain damaged while Shoal was down (a file lost, a backing name changed)
            # is reported now, not at the volume's next use.
            chain.walk()

    def problems(self) -> list[str]:
        found = []
        if self.host.run(["qemu-img", "--version"], check=False).returncode != 0:
            found.append(f"qemu-img is not installed on host {self.host.name}; fix: apt-get install qemu-utils")
        for share in self.shares.values():
            if share.mounted_by_us:
                if self.host.run(nas.is_mounted(share.directory), check=False).returncode != 0:
                    found.append(f"share {share.address} is not mounted at {share.directory}; fix: "
                                 f"{' '.join(nas.mount(share))} (after mkdir -p {share.directory}), or restart Shoal")
                    continue
            elif not self._exists(share.directory):
                found.append(f"share directory {share.directory} ({share.address}) is missing; "
                             f"fix: mkdir -p {share.directory}")
                continue
            if self.host.run(nas.writable(share.directory), check=False).returncode != 0:
                found.append(f"share directory {share.directory} ({share.address}) is not writable by Shoal; "
                             f"fix: chown or chmod it for the user Shoal runs commands as")
        if self.config.snapshot_support and self.config.secure_file_operations == "true":
            found.append("snapshots are not supported with secure_file_operations = 'true' (as in Cinder); "
                         "fix: set secure_file_operations = 'false' or snapshot_support = false")
        return found

    @backend_errors
    def pools(self) -> list[PoolStats]:
        stats = []
        for address, space in self._spaces().items():  # a share that is not mounted is no pool (Cinder's way)
            thin = self.config.sparsed_volumes or self.config.qcow2_volumes
            provisioned = space.allocated if thin else space.total - space.free
            stats.append(PoolStats(
                name=address,
                total_gb=round(space.total / GiB, 2),
                free_gb=round(space.free / GiB, 2),
                allocated_gb=round(provisioned / GiB, 2),
                capabilities={
                    "storage_protocol": self.storage_protocol,
                    "vendor_name": "Open Source",
                    "driver_version": DRIVER_VERSION,
                    # provisioning:type picks either per volume; the default is the config's
                    "thin_provisioning_support": True,
                    "thick_provisioning_support": True,
                    "provisioned_capacity_gb": round(provisioned / GiB, 2),
                    "max_over_subscription_ratio": self.config.max_over_subscription_ratio,
                    "reserved_percentage": self.config.reserved_percentage,
                    "snapshot_support": self._snapshots_allowed(),
                    "multiattach": False,
                    "QoS_support": False,
                    "sparse_copy_volume": True,
                    "online_extend_support": False,
                },
            ))
        return stats

    def _snapshots_allowed(self) -> bool:
        return self.config.snapshot_support and self.config.secure_file_operations != "true"

    def validate_extra_specs(self, extra_specs: dict[str, str]) -> None:
        specs.thick(extra_specs, self.config.sparsed_volumes)

    # ---- creating images -------------------------------------------------------------------------------

    def _format(self) -> str:
        return "qcow2" if self.config.qcow2_volumes else "raw"

    def _make_image(self, files: VolumeFiles, size: int, thick: bool) -> str:
        """A new base image of `size` bytes in the configured format; its format."""
        fmt = self._format()
        self.host.remove_file(files.base)  # a repeated create starts afresh
        if fmt == "raw" and not thick:
            self.host.set_file_size(files.base, size)
        else:
            # falloc reserves the blocks without writing them (glibc writes them where
            # the NFS server cannot allocate); qcow2's metadata preallocation is thin.
            prealloc = "falloc" if thick else "metadata"
            self.qemu.run(qemu_img.create(files.base, fmt, size, preallocation=prealloc))
        self.host.set_mode(files.base, self._file_mode)
        plain.write_base_format(self.host, files, fmt, self._file_mode)
        return fmt

    def _new_volume(self, volume: VolumeRef, undo: ExitStack) -> VolumeFiles:
        share = self._place(volume)
        files = self._files(share, volume.id)
        if self._exists(files.info):
            raise DriverError(f"volume {volume.id} already has snapshot files in {share.directory}")
        undo.callback(self._remove_files, files)
        return files

    def _remove_files(self, files: VolumeFiles) -> None:
        names = plain.parse_names(self.host.run(plain.list_volume_files(files.directory, files.name)).stdout)
        if names:
            self.host.run(plain.remove([files.path(n) for n in names]))

    @backend_errors
    def create_volume(self, volume: VolumeRef) -> VolumeResult:
        thick = specs.thick(volume.extra_specs, self.config.sparsed_volumes)
        with self._locked(volume.id), ExitStack() as undo:
            files = self._new_volume(volume, undo)
            self._make_image(files, volume.size_gb * GiB, thick)
            undo.pop_all()
        return VolumeResult(self._address_of(files), volume.size_gb)

    def _address_of(self, files: VolumeFiles) -> str:
        return next(s.address for s in self.shares.values() if s.directory == files.directory)

    def _copy_into(self, volume: VolumeRef, source: str, image: ImageInfo) -> VolumeResult:
        """A new volume holding `source`'s data (its whole backing chain, read
        through), at volume.size_gb, which may be larger than the source."""
        if volume.size_gb * GiB < image.virtual_size:
            raise InvalidRequest(f"volume {volume.id} of {volume.size_gb} GiB is smaller than its source "
                                 f"({image.virtual_size / GiB:.2f} GiB)")
        thick = specs.thick(volume.extra_specs, self.config.sparsed_volumes)
        with ExitStack() as undo:
            files = self._new_volume(volume, undo)
            fmt = self._make_image(files, volume.size_gb * GiB, thick)
            self.qemu.run(qemu_img.convert_into(source, image.format, files.base, fmt))
            undo.pop_all()
        return VolumeResult(self._address_of(files), volume.size_gb)

    @backend_errors
    def create_volume_from_snapshot(self, volume: VolumeRef, snapshot: VolumeSnapshotRef) -> VolumeResult:
        checked_id(snapshot.id, "snapshot")
        chain = self._chain(self._files(self._find(snapshot.volume), snapshot.volume.id))
        with self._locked(snapshot.volume.id, volume.id):
            chain.settle()
            level = chain.snapshot_image(snapshot.id)
            return self._copy_into(volume, chain.files.path(level.name), level.image)

    @backend_errors
    def create_cloned_volume(self, volume: VolumeRef, source: VolumeRef) -> VolumeResult:
        """Through a temporary snapshot of the source, so the copy reads a chain
        that does not move (Cinder's way); the snapshot is always removed."""
        temporary = f"{TMP_SNAP}{checked_id(volume.id, 'volume')}"
        chain = self._chain(self._files(self._find(source), source.id))
        with self._locked(source.id, volume.id), ExitStack() as undo:
            self._detached(source, "clone")
            chain.settle()
            level = chain.create_snapshot(temporary)
            undo.callback(chain.delete_snapshot, temporary)
            return self._copy_into(volume, chain.files.path(level.name), level.image)

    @backend_errors
    def delete_volume(self, volume: VolumeRef) -> None:
        """Every file of the volume: its images (the active one and any snapshot
        overlays still there -- Cinder leaves those), the .info file and Shoal's
        sidecars."""
        try:
            share = self._find(volume)
        except NotFoundOnBackend:
            return
        with self._locked(volume.id):
            self._remove_files(self._files(share, volume.id))
            self._attached.discard(volume.id)

    @backend_errors
    def extend_volume(self, volume: VolumeRef, new_size_gb: int) -> None:
        """Grows the active image (the overlay on top, when there are snapshots:
        they keep their own size)."""
        with self._changing(volume, "extend") as chain:
            levels = chain.walk()
            top, want = levels[0], new_size_gb * GiB
            if want < top.image.virtual_size:
                raise InvalidRequest(f"cannot shrink volume {volume.id} from {top.image.virtual_size / GiB:.2f} GiB "
                                     f"to {new_size_gb} GiB")
            if want == top.image.virtual_size:
                return
            space = nas.read_space(self.host, chain.files.directory)
            if not nas.eligible(space, want - top.image.virtual_size, self.config.reserved_percentage,
                                self.config.max_over_subscription_ratio):
                raise DriverError(f"share {self._address_of(chain.files)} has no room to grow volume {volume.id} "
                                  f"to {new_size_gb} GiB")
            thick = len(levels) == 1 and specs.thick(volume.extra_specs, self.config.sparsed_volumes)
            path = chain.files.path(top.name)
            self.qemu.run(qemu_img.resize(path, top.image.format, want, "falloc" if thick else None))
            grown = self.qemu.info(path, top.image.format).virtual_size
            if grown != want:
                raise DriverError(f"volume {volume.id}: {top.name} is {grown} bytes after the resize, not {want}")

    # ---- snapshots ------------------------------------------------------------------------------------

    @backend_errors
    def create_snapshot(self, snapshot: VolumeSnapshotRef) -> VolumeSnapshotResult:
        checked_id(snapshot.id, "snapshot")
        if not self._snapshots_allowed():
            raise InvalidRequest(f"backend {self.backend_name} does not take snapshots (snapshot_support is off, "
                                 "or secure_file_operations is 'true')")
        with self._changing(snapshot.volume, "snapshot") as chain:
            chain.create_snapshot(snapshot.id)
        return VolumeSnapshotResult(chain.files.overlay(snapshot.id), snapshot.volume.size_gb)

    @backend_errors
    def delete_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        checked_id(snapshot.id, "snapshot")
        try:
            with self._changing(snapshot.volume, "delete a snapshot of") as chain:
                chain.delete_snapshot(snapshot.id)
        except NotFoundOnBackend:  # no file of the volume on any share (only _find says so here)
            return

    @backend_errors
    def revert_to_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        checked_id(snapshot.id, "snapshot")
        with self._changing(snapshot.volume, "revert") as chain:
            chain.revert(snapshot.id)

    # ---- data access for image copies ---------------------------------------------------------------------

    @contextmanager
    def open_data(self, volume: VolumeRef, writable: bool):
        """The active image, its chain checked, under the volume's lock (no
        snapshot or delete changes the chain meanwhile). A reader gets the top
        of the chain (qemu-img reads through it, as Cinder uploads it); a writer
        only a volume without snapshots: writing a whole image into the top
        overlay would leave the snapshots' data showing through wherever the
        image is sparse (Cinder writes images only to new volumes, too)."""
        chain = self._chain(self._files(self._find(volume), volume.id))
        with self._locked(volume.id):
            try:
                chain.settle()
                levels = chain.walk()
            except CommandError as exc:
                raise DriverError(str(exc)) from None
            if writable and len(levels) > 1:
                raise InvalidRequest(f"cannot write an image into volume {volume.id}: it has snapshots")
            top = levels[0]
            yield VolumeData(self.host, chain.files.path(top.name), top.image.format)

    # ---- export and attach ------------------------------------------------------------------------------

    def validate_connector(self, connector: Connector) -> None:
        """Any host that can mount the share can attach: NFS clients mount it themselves."""

    @backend_errors
    def export(self, volume: VolumeRef, spec: ExportSpec) -> ConnectionInfo:
        """Nothing to set up on the server (the share is exported already): the
        connection info names the share and the active file. Refused when the
        image grew past the volume's size (a guest can write a qcow2 header into
        a raw volume; Cinder's anti-exploit check)."""
        share = self._find(volume)
        chain = self._chain(self._files(share, volume.id))
        with self._locked(volume.id):
            chain.settle()
            top = chain.walk()[0]
            if gib_up(top.image.virtual_size) > volume.size_gb:
                raise InvalidRequest(f"volume {volume.id}: its image {top.name} is {top.image.virtual_size} bytes, "
                                     f"more than the volume's {volume.size_gb} GiB; it is not attached")
            if spec.connectors:
                self._attached.add(volume.id)
            else:
                self._attached.discard(volume.id)
        return NfsFileInfo(share.address, top.name, top.image.format, share.config.mount_options).connection()

    def unexport(self, volume: VolumeRef) -> None:
        """Nothing to remove on the server; the volume is no longer attached."""
        self._attached.discard(volume.id)
