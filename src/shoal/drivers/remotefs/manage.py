"""Manage and unmanage for `RemoteFsVolumeDriver` (a mixin, kept apart for size;
reference §2.5).

A reference is `{'source-name': '<share address>/<path in the share>'}`. Any
regular file under a share may be managed if qemu-img reads it as raw or qcow2
with no backing file (and no external data file): it is chmodded and renamed
to `<volume_prefix><id>` in the share's top directory, the rename last; its
size is its virtual size rounded up to GiB. Symbolic links and files with
other hard links are refused: after the rename, a guest would write through
them to whatever they name.

The listing leaves out what belongs to the volumes Shoal holds (their overlays,
`.info` files and sidecars), instead of listing each as one more "already
managed" entry as Cinder does. Unmanage leaves the files as they are (Cinder's
way): a file named like a volume Shoal no longer holds may be managed again.
Snapshots cannot be managed: a snapshot's data is a layer inside a chain.
"""

from __future__ import annotations

import posixpath
from contextlib import ExitStack

from shoal.drivers.base import InvalidRequest, ManageableItem, UnsafeToManage
from shoal.drivers.volume import ManageableSnapshot, VolumeRef, VolumeResult, VolumeSnapshotRef, VolumeSnapshotResult
from shoal.hosts import CommandError

from . import files as plain
from . import nas
from .qemu_img import FORMATS, ImageInfo, gib_up


def is_sidecar(name: str) -> bool:
    """A volume's own non-image file (never a volume to manage)."""
    return name.endswith(".info") or ".shoal-" in name


def file_kind(path: str) -> list[str]:
    """Hard link count and type, without following a symbolic link."""
    return ["stat", "-c", "%h %F", "--", path]


def unsafe_kind(stat_output: str) -> str | None:
    links, _, kind = stat_output.strip().partition(" ")
    if kind not in ("regular file", "regular empty file"):
        return f"it is a {kind}, not a regular file"
    if links != "1":
        return f"it has {int(links) - 1} other hard link(s)"
    return None


def unsafe_image(image: ImageInfo) -> str | None:
    """Cinder's table of reasons, with an external data file added."""
    if image.backing_file:
        return "Backing file present."
    if image.data_file:
        return "External data file present."
    if image.format not in FORMATS:
        return f"Unsupported image format: '{image.format}'."
    return None


class ManageMixin:
    # ---- references ---------------------------------------------------------------------------

    def _reference(self, reference: dict) -> tuple[nas.Share, str]:
        """The share and the normalised path in it that a reference names."""
        name = str((reference or {}).get("source-name") or "").strip()
        if not name:
            raise UnsafeToManage("the reference needs a 'source-name': <share address>/<path of the file in the share>")
        for share in sorted(self.shares.values(), key=lambda s: -len(s.address)):
            prefix = share.address.rstrip("/") + "/"
            if name.startswith(prefix):
                rel = posixpath.normpath(name[len(prefix):])
                if rel in (".", "..") or rel.startswith(("../", "/")):
                    raise UnsafeToManage(f"{name!r} does not name a file inside share {share.address}")
                return share, rel
        raise UnsafeToManage(f"{name!r} is not on a share of backend {self.backend_name} "
                             f"({', '.join(self.shares)})")

    def _owners(self, managed: list[VolumeRef]) -> dict[tuple[str, str], VolumeRef]:
        """(share address, base file name) -> the volume Shoal holds there."""
        owners = {}
        for volume in managed:
            share = self._share_named(volume.provider_location) or self._share_named(volume.pool)
            if share is not None:
                owners[(share.address, f"{self.config.volume_prefix}{volume.id}")] = volume
        return owners

    def reference_owner(self, reference: dict, managed: list[VolumeRef]) -> str | None:
        try:
            share, rel = self._reference(reference)
        except UnsafeToManage:
            return None
        owner = self._owners(managed).get((share.address, rel))
        return owner.id if owner else None

    # ---- checks ------------------------------------------------------------------------------

    def _why_unsafe(self, path: str) -> tuple[str | None, ImageInfo | None]:
        kind = self.host.run(file_kind(path), check=False)
        if kind.returncode != 0:
            return "Volume not found.", None
        reason = unsafe_kind(kind.stdout)
        if reason:
            return reason, None
        try:
            image = self.qemu.info(path)  # origin unknown: the one place qemu-img probes the format
        except (CommandError, ValueError):
            return "Failed to open image.", None
        return unsafe_image(image), image

    # ---- the contract ------------------------------------------------------------------------------

    def manage_existing(self, volume: VolumeRef, reference: dict) -> VolumeResult:
        share, rel = self._reference(reference)
        path = f"{share.directory}/{rel}"
        files = self._files(share, volume.id)
        with self._locked(volume.id), ExitStack() as undo:
            reason, image = self._why_unsafe(path)
            if reason:
                raise UnsafeToManage(f"{reference['source-name']!r} cannot be managed: {reason}")
            if path != files.base and (self._exists(files.base) or self._exists(files.info)):
                raise UnsafeToManage(f"{files.name} already exists in share {share.address}")
            try:
                self.host.set_mode(path, self._file_mode)
                undo.callback(self.host.remove_file, files.meta)
                plain.write_base_format(self.host, files, image.format, self._file_mode)
                if path != files.base:
                    self.host.run(plain.move(path, files.base))  # last: until here the file is as it was
            except CommandError as exc:
                raise UnsafeToManage(f"{reference['source-name']!r} could not be taken over: {exc}") from None
            undo.pop_all()
            if path != files.base and "/" not in rel and rel.startswith(self.config.volume_prefix):
                # an unmanaged Shoal volume: its format record went with it
                self.host.remove_file(plain.VolumeFiles(share.directory, rel).meta)
        return VolumeResult(share.address, gib_up(image.virtual_size))

    def manageable_volumes(self, managed: list[VolumeRef]) -> list[ManageableItem]:
        owners = self._owners(managed)
        owned_ids = {v.id for v in owners.values()}
        items = []
        for share in self.shares.values():
            listing = self.host.run(plain.list_tree(share.directory), check=False)
            for rel in plain.parse_names(listing.stdout):
                name = posixpath.basename(rel)
                reference = f"{share.address.rstrip('/')}/{rel}"
                if name.startswith(".") or ("/" not in rel and is_sidecar(name)):
                    continue
                owner = owners.get((share.address, rel))
                if owner is not None:
                    items.append(ManageableItem(reference, owner.size_gb, False, "Volume already managed.", owner.id))
                    continue
                stem = name[len(self.config.volume_prefix):].split(".", 1)[0]
                if "/" not in rel and name.startswith(self.config.volume_prefix) and stem in owned_ids:
                    continue  # a snapshot overlay of a volume Shoal holds
                reason, image = self._why_unsafe(f"{share.directory}/{rel}")
                size = gib_up(image.virtual_size) if image else 0
                items.append(ManageableItem(reference, size, reason is None, reason))
        return items

    def unmanage(self, volume: VolumeRef) -> None:
        """The files stay as they are (Cinder's way); Shoal forgets them."""
        self._attached.discard(volume.id)

    def manage_existing_snapshot(self, snapshot: VolumeSnapshotRef, reference: dict) -> VolumeSnapshotResult:
        raise InvalidRequest("managing snapshots is not supported by the remotefs driver: "
                             "a snapshot is a layer of its volume's qcow2 chain")

    def manageable_snapshots(self, managed: list[VolumeSnapshotRef]) -> list[ManageableSnapshot]:
        return []

    def unmanage_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        """Its overlay stays in the volume's chain, which still needs it."""
