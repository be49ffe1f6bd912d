"""The copies behind volumes from images and images from volumes: qemu-img between
an image file and a volume's data (`VolumeData`, from the driver's `open_data`),
with its progress read as it runs. One argv builder per verb (pure, unit-tested);
every input format is named (`-f`), never probed.

qemu-img runs where the volume's data is. When that is another machine than the
image file's (a storage host over SSH), the file is staged on the storage host
(a private directory under STAGING_DIR, its free space checked first, removed
afterwards, whatever happened; what a crash left is swept at the next start,
image_staging): an image is copied there byte for byte and
converted onto the volume; a volume is converted there into the image format
and the result copied back. The storage host needs qemu-img (as Cinder's volume
host does)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from shoal.drivers.base import DriverError
from shoal.drivers.volume import VolumeData
from shoal.hosts import CommandError, Host, LocalHost
from shoal.hosts.runner import redact
from shoal.hosts.streams import run_reporting
from shoal.hosts.transfer import transfer

from ..common.image_format import QEMU_FORMATS, ImageRejected
from .image_staging import STAGING_DIR, STAGING_PREFIX, remove_tree, this_process  # noqa: F401 - the prefix for callers
from .image_staging import make_staging_dir as _make_staging_dir

COPY_TIMEOUT = 12 * 3600.0  # seconds; a copy of a large image over a slow link may be long
CHECK_TIMEOUT = 600.0
# Formats whose metadata `qemu-img check` can verify (a truncated or damaged image).
CHECKABLE = ("qcow2", "vdi", "vhdx")
_PERCENT = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


# ---- argv builders -------------------------------------------------------------------------


def convert_onto(src: str, src_fmt: str, dst: str, dst_fmt: str) -> list[str]:
    """Write an image into an existing, freshly made volume: -n keeps the target
    (its size, format and preallocation); --target-is-zero: a new volume reads as
    zeros, so zeros need not be written (a sparse image stays sparse)."""
    return ["qemu-img", "convert", "-p", "-n", "--target-is-zero", "-f", src_fmt, "-O", dst_fmt, src, dst]


def convert_out(src: str, src_fmt: str, dst: str, dst_fmt: str) -> list[str]:
    """A volume's data into a new image file of `dst_fmt`."""
    return ["qemu-img", "convert", "-p", "-f", src_fmt, "-O", dst_fmt, src, dst]


def check(path: str, fmt: str) -> list[str]:
    return ["qemu-img", "check", "--output=json", "-f", fmt, path]


def make_staging_dir() -> list[str]:
    """Named after this process (image_staging), so a later start can tell it stale."""
    return _make_staging_dir(this_process())


def free_space(path: str) -> list[str]:
    return ["df", "--output=avail", "-B1", path]


def read_file(path: str) -> list[str]:
    return ["cat", path]


def write_file(path: str) -> list[str]:
    """A stream into a new file; runs of zeros left as holes (a raw image stays sparse)."""
    return ["dd", f"of={path}", "bs=1M", "conv=sparse", "status=none"]


def qemu_format(disk_format: str) -> str:
    fmt = QEMU_FORMATS.get(disk_format)
    if fmt is None:
        raise ImageRejected(f"Images of disk_format {disk_format} cannot be converted by qemu-img.")
    return fmt


# ---- progress ---------------------------------------------------------------------------------


class Progress:
    """Reads `qemu-img convert -p` output and reports each new whole percent."""

    def __init__(self, report: Callable[[int], None]):
        self.report = report
        self.percent = -1
        self._tail = b""

    def __call__(self, data: bytes) -> None:
        text = self._tail + data
        found = _PERCENT.findall(text)
        self._tail = text[-32:]
        if found:
            percent = int(float(found[-1]))
            if percent > self.percent:
                self.percent = percent
                self.report(percent)


# ---- checks -----------------------------------------------------------------------------------


def check_integrity(host: Host, path: str, disk_format: str) -> None:
    """`qemu-img check` where the format has metadata to check: refuses an image
    whose data is cut short or whose tables point nowhere (qemu-img convert would
    read zeros there without a word)."""
    fmt = qemu_format(disk_format)
    if fmt not in CHECKABLE:
        return
    result = host.run(check(path, fmt), timeout=CHECK_TIMEOUT, check=False)
    # 0: clean, 3: leaked clusters only (harmless); 2: corrupted; 1: check failed; 63: not supported
    if result.returncode in (0, 3, 63):
        return
    try:
        found = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        found = {}
    errors = found.get("corruptions", 0) + found.get("check-errors", 0)
    detail = f"{errors} errors" if errors else (result.stderr.strip().splitlines() or ["check failed"])[-1][-200:]
    raise ImageRejected(f"Image data is damaged or truncated: qemu-img check of the {disk_format} image found {detail}.")


def same_machine(a: Host, b: Host) -> bool:
    return isinstance(a, LocalHost) and isinstance(b, LocalHost) and a.sudo == b.sudo


@contextmanager
def staged_on(host: Host, needed: int) -> Iterator[str]:
    """A private directory on `host` for the length of the `with`, with at least
    `needed` bytes free in it (DriverError when there are not: checked before use)."""
    try:
        staging = host.run(make_staging_dir(), timeout=CHECK_TIMEOUT).stdout.strip()
        free = int(host.run(free_space(staging), timeout=CHECK_TIMEOUT).stdout.split()[-1])
    except CommandError as exc:
        raise DriverError(f"no staging directory for the image on storage host {host.name}: "
                          f"{(exc.stderr or str(exc)).strip()[-200:]}") from None
    try:
        if needed > free:
            raise DriverError(f"not enough space in {STAGING_DIR} on storage host {host.name} to stage the image: "
                              f"{needed} bytes needed, {free} free")
        yield staging
    finally:
        host.run(remove_tree(staging), timeout=CHECK_TIMEOUT, check=False)


def _move(source: Host, path: str, target: Host, to: str) -> None:
    try:
        transfer(source, read_file(path), target, write_file(to), timeout=COPY_TIMEOUT)
    except CommandError as exc:
        raise DriverError(f"copying the image file from {source.name} to {target.name} failed: "
                          f"{(exc.stderr or str(exc)).strip()[-200:]}") from None


# ---- the copies ---------------------------------------------------------------------------------


def image_into_volume(store_host: Host, image_path: str, disk_format: str, data: VolumeData,
                      progress: Callable[[int], None]) -> None:
    """Convert the image onto the (new, zeroed) volume, in the volume's format."""
    fmt = qemu_format(disk_format)
    if same_machine(store_host, data.host):
        _run(data.host, convert_onto(image_path, fmt, data.path, data.format), progress)
        return
    with staged_on(data.host, store_host.file_size(image_path)) as staging:
        staged = f"{staging}/image"
        _move(store_host, image_path, data.host, staged)
        _run(data.host, convert_onto(staged, fmt, data.path, data.format), progress)


def volume_into_file(data: VolumeData, target: Path, disk_format: str, progress: Callable[[int], None],
                     room: int = 0) -> None:
    """Convert the volume's data into a new image file `target` on Shoal's machine
    (`room`: at most how large the image gets, for a storage host's staging)."""
    fmt = qemu_format(disk_format)
    here = LocalHost()
    if same_machine(here, data.host):
        _run(data.host, convert_out(data.path, data.format, str(target), fmt), progress)
        return
    with staged_on(data.host, room) as staging:
        staged = f"{staging}/image"
        _run(data.host, convert_out(data.path, data.format, staged, fmt), progress)
        _move(data.host, staged, here, str(target))


def _run(host: Host, argv: list[str], progress: Callable[[int], None]) -> None:
    """The copy; a failure as qemu-img's last words (they name the cause: "...: No space left on device"),
    with any secret of the argv (a volume's CHAP in a `json:` spec) masked."""
    try:
        run_reporting(host, argv, Progress(progress), timeout=COPY_TIMEOUT)
    except CommandError as exc:
        tail = redact(exc.stderr, exc.result.argv).strip().splitlines()
        raise DriverError(tail[-1] if tail else str(exc)) from None
