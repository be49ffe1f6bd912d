"""The copies behind volumes from images and images from volumes: qemu-img between
an image file and a volume's data (`VolumeData`, from the driver's `open_data`),
with its progress read as it runs. One argv builder per verb (pure, unit-tested);
every input format is named (`-f`), never probed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from shoal.drivers.base import DriverError
from shoal.drivers.volume import VolumeData
from shoal.hosts import CommandError, Host, LocalHost
from shoal.hosts.runner import redact
from shoal.hosts.streams import run_reporting

from ..common.image_format import QEMU_FORMATS, ImageRejected

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


def require_local(store_host: Host, data: VolumeData) -> None:
    """Image files are kept on Shoal's own machine: a volume whose data only a
    remote storage host reaches cannot be copied through it yet."""
    if not same_machine(store_host, data.host):
        raise DriverError(f"the volume's data is on storage host {data.host.name}, not where the image store is; "
                          "copying images to or from remote storage hosts is not implemented yet")


# ---- the copies ---------------------------------------------------------------------------------


def image_into_volume(store_host: Host, image_path: str, disk_format: str, data: VolumeData,
                      progress: Callable[[int], None]) -> None:
    """Convert the image onto the (new, zeroed) volume, in the volume's format."""
    require_local(store_host, data)
    argv = convert_onto(image_path, qemu_format(disk_format), data.path, data.format)
    _run(data.host, argv, progress)


def volume_into_file(data: VolumeData, target: Path, disk_format: str, progress: Callable[[int], None]) -> None:
    """Convert the volume's data into a new image file `target` on Shoal's machine."""
    require_local(LocalHost(), data)
    argv = convert_out(data.path, data.format, str(target), qemu_format(disk_format))
    _run(data.host, argv, progress)


def _run(host: Host, argv: list[str], progress: Callable[[int], None]) -> None:
    """The copy; a failure as qemu-img's last words (they name the cause: "...: No space left on device"),
    with any secret of the argv (a volume's CHAP in a `json:` spec) masked."""
    try:
        run_reporting(host, argv, Progress(progress), timeout=COPY_TIMEOUT)
    except CommandError as exc:
        tail = redact(exc.stderr, exc.result.argv).strip().splitlines()
        raise DriverError(tail[-1] if tail else str(exc)) from None
