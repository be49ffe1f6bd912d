"""One volume's qcow2 snapshot chain, offline (reference §2.3): read and check it,
take a snapshot, delete one in any position, revert to the latest.

Taking snapshot S adds an empty qcow2 overlay `<volume>.<S>` on top of the
active image (backing name relative, so the chain resolves wherever the share
is mounted) and makes it active; S's data is the overlay's backing file.
Deleting S merges its overlay into that backing file (`qemu-img commit`):

- S's overlay is the active image: commit it; its backing becomes active.
- S's overlay is below the active image: commit it, then point the overlay
  above it at its backing (`rebase -u`: that file now reads the same).

The chain is read level by level (`walk`) before any change, and every backing
name is checked against the volume's own names before qemu-img opens it (the
images the .info file names are looked at side by side first, to save the
waiting; the walk still decides level by level). A
chain that does not add up -- a file the .info names is missing, a backing
file outside the chain, an image qemu-img cannot read -- raises DamagedChain
with the reason and is left as found: guessing could lose data.

Callers hold the volume's lock. Changes are made only while no guest has the
volume open (Cinder's online snapshots need Nova's help, which Shoal lacks).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

from shoal.drivers.base import DriverError, InvalidRequest, NotFoundOnBackend
from shoal.hosts import CommandError, Host

from . import files as plain
from . import info_file, journal, qemu_img
from .files import VolumeFiles
from .info_file import ACTIVE, BadInfoFile
from .journal import BadJournal, DeletePlan
from .qemu_img import FORMATS, ImageInfo, InvalidBackingFile, QemuImg


# `qemu-img info` calls a walk runs side by side: each is mostly process start-up.
PREFETCH_WORKERS = 4


class DamagedChain(DriverError):
    def __init__(self, files: VolumeFiles, reason: str):
        super().__init__(f"volume file {files.name} in {files.directory}: the snapshot chain is damaged: {reason}; "
                         "it was left as found, for an administrator to repair")


@dataclass(frozen=True)
class Level:
    name: str  # basename in the volume's directory
    image: ImageInfo


class Chain:
    def __init__(self, host: Host, qemu: QemuImg, files: VolumeFiles, pattern: re.Pattern, file_mode: int):
        self.host = host
        self.qemu = qemu
        self.files = files
        self.pattern = pattern  # qemu_img.chain_member for this volume
        self.file_mode = file_mode

    # ---- reading ------------------------------------------------------------------------------

    def damaged(self, reason: str) -> DamagedChain:
        return DamagedChain(self.files, reason)

    def info(self) -> dict[str, str]:
        try:
            return info_file.read(self.host, self.files.info)
        except BadInfoFile as exc:
            raise self.damaged(f"{self.files.name}.info: {exc}") from None

    def inspect(self, name: str, fmt: str | None) -> ImageInfo:
        if fmt == "raw":
            # A raw image is read as raw and nothing else (its format is Shoal's record, never
            # a probe): its length is its size, and it has no header that could name a backing
            # or data file. An empty or missing file is left to qemu-img to describe.
            size = self.host.file_size(self.files.path(name))
            if size > 0:
                return ImageInfo(self.files.path(name), "raw", size)
        try:
            image = self.qemu.info(self.files.path(name), fmt)
        except CommandError as exc:
            raise self.damaged(f"qemu-img cannot read {name}: {exc.stderr.strip()[-300:]}") from None
        except ValueError as exc:
            raise self.damaged(f"{name}: {exc}") from None
        if image.format not in FORMATS:
            raise self.damaged(f"{name} is a {image.format!r} image, not raw or qcow2")
        if image.data_file:
            raise self.damaged(f"{name} keeps its data in an external file ({image.data_file!r})")
        return image

    def exists(self) -> bool:
        """Whether the volume has any image at all (its base, or an active overlay)."""
        top = self.info().get(ACTIVE, self.files.name)
        return self.host.run(plain.exists(self.files.path(top)), check=False).returncode == 0

    def _prefetch(self, info: dict[str, str], base_format: str | None) -> dict[tuple[str, str], ImageInfo | DriverError]:
        """`qemu-img info` of every image a healthy chain holds, side by side:
        the overlays the .info file names (as qcow2) and the base (in its
        recorded format; never probed, so a base with no record is left to the
        walk). Keyed by (name, format): the walk takes an answer only for the
        format it would have asked for itself, so the result and every check
        are those of reading the chain level by level; only the waiting
        overlaps. `qemu-img info` opens no backing file, and only names of this
        volume's own chain are opened."""
        wanted = {name: "qcow2" for name in info.values() if name != self.files.name}
        if base_format is not None:
            wanted[self.files.name] = base_format
        wanted = {n: f for n, f in wanted.items() if n == self.files.name or self.pattern.fullmatch(n)}
        if len(wanted) < 2:
            return {}  # nothing to overlap

        def look(name: str, fmt: str) -> ImageInfo | DriverError:
            try:
                return self.inspect(name, fmt)
            except DriverError as exc:  # raised by the walk if, and when, it reaches this level
                return exc

        with ThreadPoolExecutor(max_workers=min(PREFETCH_WORKERS, len(wanted))) as pool:
            answers = {key: pool.submit(look, *key) for key in wanted.items()}
        return {key: future.result() for key, future in answers.items()}

    def walk(self, info: dict[str, str] | None = None) -> list[Level]:
        """The chain from the active image down to the base, checked."""
        info = self.info() if info is None else info
        base_format = plain.read_base_format(self.host, self.files)
        prefetched = self._prefetch(info, base_format)
        name = info.get(ACTIVE, self.files.name)
        fmt = base_format if name == self.files.name else "qcow2"
        levels: list[Level] = []
        while True:
            if any(level.name == name for level in levels):
                raise self.damaged(f"the chain loops back to {name}")
            image = prefetched.get((name, fmt)) if fmt is not None else None
            if isinstance(image, DriverError):
                raise image
            image = image or self.inspect(name, fmt)
            if name != self.files.name and image.format != "qcow2":
                raise self.damaged(f"overlay {name} is {image.format}, not qcow2")
            levels.append(Level(name, image))
            if image.backing_file is None:
                break
            try:
                name = qemu_img.check_backing(image.backing_file, self.pattern)
            except InvalidBackingFile as exc:
                raise self.damaged(f"{levels[-1].name}: {exc}") from None
            fmt = image.backing_format or (base_format if name == self.files.name else "qcow2")
        if levels[-1].name != self.files.name:
            raise self.damaged(f"the chain from {levels[0].name} ends at {levels[-1].name}, not at {self.files.name}")
        names = {level.name for level in levels}
        for snapshot_id, overlay in info_file.snapshots(info).items():
            if overlay not in names:
                raise self.damaged(f"the .info file gives snapshot {snapshot_id} the file {overlay}, "
                                   f"which is not in the chain below {levels[0].name}")
        return levels

    def snapshot_image(self, snapshot_id: str) -> Level:
        """The image holding a snapshot's data (its overlay's backing file)."""
        info = self.info()
        if snapshot_id not in info or snapshot_id == ACTIVE:
            raise NotFoundOnBackend(f"snapshot {snapshot_id} is not in the chain of {self.files.name}")
        levels = self.walk(info)
        position = [level.name for level in levels].index(info[snapshot_id])
        if position + 1 >= len(levels):
            raise self.damaged(f"snapshot {snapshot_id}'s file {info[snapshot_id]} has no backing file")
        return levels[position + 1]

    # ---- changing ------------------------------------------------------------------------------

    def _write_info(self, info: dict[str, str]) -> None:
        if info == {ACTIVE: self.files.name}:
            # No snapshot left: no file (Cinder reads that the same way), so a
            # clone's temporary snapshot leaves its source as it found it.
            self.host.remove_file(self.files.info)
        else:
            info_file.write(self.host, self.files.info, info, self.file_mode)

    def _new_overlay(self, path: str, below: Level, size: int) -> None:
        self.qemu.run(qemu_img.create(path, "qcow2", size, backing=below.name, backing_fmt=below.image.format))
        self.host.set_mode(path, self.file_mode)

    def settle(self) -> None:
        """Finish what a crash interrupted on this volume, before anything else."""
        try:
            plan = journal.read(self.host, self.files)
        except BadJournal as exc:
            raise self.damaged(f"{self.files.name}.{plain.PENDING}: {exc}") from None
        if plan is not None:
            self.finish(plan)
        self.host.remove_file(self.files.revert_tmp)

    def create_snapshot(self, snapshot_id: str) -> Level:
        """Take the snapshot; the image that now holds its data (as `snapshot_image`
        would read it, known here without reading the chain again)."""
        info = self.info()
        if snapshot_id in info:
            return self.snapshot_image(snapshot_id)  # taken already (a repeated call)
        levels = self.walk(info)
        top = levels[0]
        new = self.files.overlay(snapshot_id)
        with ExitStack() as undo:
            undo.callback(self.host.remove_file, self.files.path(new))
            self._new_overlay(self.files.path(new), top, top.image.virtual_size)
            if plain.read_base_format(self.host, self.files) is None:
                # Cinder's base_format: once overlays hide it, the base's format must not be guessed.
                plain.write_base_format(self.host, self.files, levels[-1].image.format, self.file_mode)
            self._write_info({**(info or {ACTIVE: top.name}), ACTIVE: new, snapshot_id: new})
            undo.pop_all()
        return top

    def delete_snapshot(self, snapshot_id: str) -> None:
        info = self.info()
        if snapshot_id not in info or snapshot_id == ACTIVE:
            stray = self.files.overlay(snapshot_id)
            if stray not in info.values():  # left by a create that died before writing the .info
                self.host.remove_file(self.files.path(stray))
            return
        levels = self.walk(info)
        names = [level.name for level in levels]
        position = names.index(info[snapshot_id])
        if position + 1 >= len(levels):
            raise self.damaged(f"snapshot {snapshot_id}'s file {info[snapshot_id]} has no backing file")
        higher = names[position - 1] if position > 0 else None
        if higher is not None and higher not in info_file.snapshots(info).values():
            raise self.damaged(f"{higher}, above {names[position]}, belongs to no snapshot in the .info file")
        below = levels[position + 1]
        plan = DeletePlan(snapshot_id, names[position], below.name, below.image.format, higher)
        journal.write(self.host, self.files, plan, self.file_mode)
        self.finish(plan, info)

    def finish(self, plan: DeletePlan, walked: dict[str, str] | None = None) -> None:
        """Run a delete's steps from wherever they stopped. Each step checks the
        state first, so none is done twice where doing it twice would harm:
        the commit only while the overlay still has the file above it (or is
        still active), never once the merged file may have taken new writes.
        `walked`: the .info of a delete that has just checked the whole chain
        against it (`walk`, under the same lock), so that nothing has run yet
        and the files are stacked as the plan says: they are not read again."""
        replay = walked is None
        info = self.info() if replay else dict(walked)
        snapshot_path = self.files.path(plan.snapshot_file)
        if info.get(plan.snapshot_id) == plan.snapshot_file:
            if plan.higher_file is None:
                if info[ACTIVE] != plan.snapshot_file:
                    raise self.damaged(f"a delete of snapshot {plan.snapshot_id} was under way with "
                                       f"{plan.snapshot_file} active, but the .info file says {info[ACTIVE]}")
                self._merge(plan, replay)
                info[ACTIVE] = plan.base_file
            else:
                backing = self._backing_of(plan.higher_file) if replay else plan.snapshot_file
                if backing == plan.snapshot_file:
                    self._merge(plan, replay)
                    higher = self.files.path(plan.higher_file)
                    self.qemu.run(qemu_img.rebase_unsafe(higher, plan.base_file, plan.base_format))
                elif backing != plan.base_file:
                    raise self.damaged(f"{plan.higher_file} is backed by {backing}, neither {plan.snapshot_file} "
                                       f"nor {plan.base_file}, in the middle of deleting snapshot {plan.snapshot_id}")
            del info[plan.snapshot_id]
            self._write_info(info)
        self.host.remove_file(snapshot_path)
        journal.remove(self.host, self.files)

    def _backing_of(self, name: str) -> str | None:
        image = self.inspect(name, "qcow2")
        if image.backing_file is None:
            return None
        try:
            return qemu_img.check_backing(image.backing_file, self.pattern)
        except InvalidBackingFile as exc:
            raise self.damaged(f"{name}: {exc}") from None

    def _merge(self, plan: DeletePlan, check: bool) -> None:
        """Commit the snapshot's overlay into its backing file; with `check` (again,
        after a crash), only once both files are seen there, still one on top of the other."""
        if check:
            if self._backing_of(plan.snapshot_file) != plan.base_file:
                raise self.damaged(f"{plan.snapshot_file} is no longer backed by {plan.base_file}, in the middle of "
                                   f"deleting snapshot {plan.snapshot_id}")
            self.inspect(plan.base_file, plan.base_format)
        self.qemu.run(qemu_img.commit(self.files.path(plan.snapshot_file)))

    def revert(self, snapshot_id: str) -> None:
        """Back to the latest snapshot: the active overlay is replaced by an empty
        one over the same backing file, at the same virtual size. The new one is
        made aside and renamed over the old, so a crash leaves one or the other."""
        info = self.info()
        if snapshot_id not in info or snapshot_id == ACTIVE:
            raise NotFoundOnBackend(f"snapshot {snapshot_id} is not in the chain of {self.files.name}")
        if info[snapshot_id] != info[ACTIVE]:
            raise InvalidRequest(f"only the latest snapshot of a volume can be reverted to; {snapshot_id} is not")
        levels = self.walk(info)
        tmp = self.files.revert_tmp
        with ExitStack() as undo:
            undo.callback(self.host.remove_file, tmp)
            self._new_overlay(tmp, levels[1], levels[0].image.virtual_size)
            self.host.run(plain.move(tmp, self.files.path(levels[0].name)))
            undo.pop_all()
