"""Migration on ZFS volumes. Part of ZfsVolumeDriver.

Driver-assisted between ZFS backends or pools (receive_volume): the volume's
snapshots, then a migration point `migrate-<new id>` taken on the source, go
to the new dataset as one full stream and a chain of incrementals -- the copy
of share replicas and migrations (resumable.send_stream: two processes
joined by Shoal, counted, stopped by their flow's cancel, dying with Shoal).
Sparse: ZFS sends only the blocks written. Only the snapshots the caller names
travel (no internal `clone-` or hidden ones); the migration point goes on both
sides once received. A repeat after a cut stream resumes it where ZFS has
resume tokens (kernel OpenZFS: the point and what was received stay, the
streams already whole are skipped); elsewhere it starts again from a clean
slate.

After the copy, the migrated data takes the original volume's name
(`<root>/<volume_prefix><id>`), so a dataset never carries the id of a volume
that no longer exists (the garbage collector and manage lists go by names).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from shoal.drivers.base import DriverError, NotFoundOnBackend
from shoal.drivers.volume import (
    VolumeDriver,
    VolumeRef,
    VolumeResult,
    VolumeSnapshotRef,
)

from . import resumable
from .volume_layout import GiB, backend_errors
from .zfs import ZfsError, ZfsNotFound

POINT_PREFIX = "migrate-"  # the migration point's tag; user snapshots carry the snapshot prefix


class MigrationMixin:
    # ---- driver-assisted: zfs send | zfs receive ------------------------------------------

    def can_receive_volume(self, source: VolumeDriver, origin: VolumeRef | None = None,
                           extra_specs: Mapping[str, str] | None = None) -> bool:
        """Any ZFS backend whose volumes are laid out as here (a zvol stream
        makes a zvol, a file dataset's a dataset): Shoal reaches every storage
        host it drives and joins the two ends itself."""
        return isinstance(source, MigrationMixin) and source.layout.kind == self.layout.kind

    @backend_errors
    def receive_volume(self, volume: VolumeRef, source: VolumeDriver, origin: VolumeRef,
                       snapshots: list[VolumeSnapshotRef],
                       progress: Callable[[int], None] | None = None) -> VolumeResult:
        if not self.can_receive_volume(source):
            raise DriverError(f"backend {self.backend_name} cannot receive volumes of {source.backend_name}")
        assert isinstance(source, MigrationMixin)
        target = self._new_name(volume)
        dataset = source.dataset_name(origin)
        point = f"{POINT_PREFIX}{volume.id}"
        # a cut stream to resume needs the point it was cut on, and what came before
        resuming = resumable.pending(self.zfs, target) is not None and source.zfs.exists(f"{dataset}@{point}")
        if not resuming:
            source.release_sent(origin)  # an earlier attempt's point
            self._clear(target)  # and what it received
            source.zfs.snapshot(f"{dataset}@{point}")
        chain = [*source._send_chain(dataset, snapshots), point]
        whole = {row["name"].split("@", 1)[1] for row in self.zfs.snapshots(target)} if resuming else set()
        total = max(1, source._stream_estimate(dataset, point))
        sent = self._received_estimate(target, chain, whole)  # the streams skipped below are done
        stream = [0]  # what the running stream carried, the part a cut attempt sent included

        def counted(done: int) -> None:
            stream[0] = done
            if progress is not None:
                progress(min(99, (sent + done) * 100 // total))

        if sent:
            counted(0)  # a resumed copy shows at once what it holds
        since = None
        for tag in chain:
            if tag not in whole:
                stream[0] = 0
                moved = resumable.send_stream(source.zfs, f"{dataset}@{tag}", f"{dataset}@{since}" if since else None,
                                              self.zfs, target, counted,
                                              what=f"migration of volume {origin.id} to {self.backend_name}")
                sent += max(moved, stream[0])  # a resumed stream returns only what this attempt sent
            since = tag
        self.zfs.destroy(f"{target}@{point}")
        source.zfs.destroy(f"{dataset}@{point}")
        if len(chain) > 1:  # zfs-fuse: incremental receives leave the mount stale
            self.zfs.remount(target)
        self._settle_received(target, volume)
        return VolumeResult(target, volume.size_gb)

    def release_sent(self, volume: VolumeRef) -> None:
        dataset = self.dataset_name(volume)
        try:
            found = self.zfs.snapshots(dataset)
        except ZfsNotFound:  # no dataset: nothing left on it
            return
        for row in found:
            if row["name"].split("@", 1)[1].startswith(POINT_PREFIX):
                self.zfs.destroy(row["name"])

    def migrated_snapshot_location(self, volume: VolumeRef, snapshot: VolumeSnapshotRef) -> str | None:
        return f"{self.dataset_name(volume)}@{self._tag(snapshot)}"

    def _tag(self, snapshot: VolumeSnapshotRef) -> str:
        location = snapshot.provider_location or ""
        return location.split("@", 1)[1] if "@" in location else f"{self.config.snapshot_prefix}{snapshot.id}"

    def _send_chain(self, dataset: str, snapshots: list[VolumeSnapshotRef]) -> list[str]:
        """The tags of `snapshots` in the order ZFS made them (a chain of incrementals)."""
        wanted = {self._tag(s) for s in snapshots}
        order = [row["name"].split("@", 1)[1] for row in self.zfs.snapshots(dataset)]
        missing = wanted - set(order)
        if missing:
            raise NotFoundOnBackend(f"{dataset} lacks the snapshots {', '.join(sorted(missing))}")
        return [tag for tag in order if tag in wanted]

    def _stream_estimate(self, dataset: str, point: str) -> int:
        """About what the streams carry: the data now plus what only snapshots hold."""
        try:
            props = self.zfs.get(dataset, ["usedbysnapshots"])
            props |= self.zfs.get(f"{dataset}@{point}", ["referenced"])
            return sum(int(props.get(k) or 0) for k in ("usedbysnapshots", "referenced"))
        except (ZfsError, ValueError):
            return 0

    def _received_estimate(self, target: str, chain: list[str], whole: set[str]) -> int:
        """About what the streams of a cut attempt that arrived whole carried
        (resumed, they are not sent again), reckoned on the target as the total
        is on the source: its data at the last whole snapshot plus what only its
        snapshots hold. A partial stream is not in it (send_stream counts that)."""
        done = [tag for tag in chain if tag in whole]
        return self._stream_estimate(target, done[-1]) if done else 0

    def _clear(self, target: str) -> None:
        with self._lock(self._root_of(target)):
            self.layout.forget(target)
            self.zfs.destroy(target, recursive=True)  # False when there was nothing

    def _settle_received(self, target: str, volume: VolumeRef) -> None:
        """What the stream does not carry: the type's properties and reservation."""
        props, thick = self._props(volume)
        if props:
            self.zfs.set(target, props)
        self.layout.made(target, props)
        self.layout.reserve(target, volume.size_gb * GiB, thick)

    # ---- after the copy (either kind): the data takes the volume's name -----------------

    @backend_errors
    def update_migrated_volume(self, volume: VolumeRef, new_volume: VolumeRef) -> str | None:
        """Rename the new dataset to the original's name in the new pool. When that
        name is taken (a migration within one pool, whose source still holds it),
        the data keeps its name and the answer is new_volume's id (`_name_id`).
        Repeated after the rename, it finds the work done."""
        current, wanted = self.dataset_name(new_volume), self._new_name(volume)
        root = self._root_of(current)
        with self._lock(root):
            have_current, have_wanted = self.zfs.exists(current), self.zfs.exists(wanted)
            if have_wanted:
                return new_volume.id if have_current else None
            if not have_current:
                raise NotFoundOnBackend(f"volume {new_volume.id} has no data on the backend ({current})")
            self.layout.forget(current)
            self._rename(current, wanted)
            self.layout.forget(wanted)
        return None

    def migrated_location(self, volume: VolumeRef, new_volume: VolumeRef) -> str | None:
        return self._new_name(volume)
