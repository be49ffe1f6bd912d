"""qemu-img for the RemoteFS driver: one argv builder per verb (pure, unit-tested),
the parsing of `info --output=json`, the backing-file check, and `QemuImg`,
which runs them on the storage host with the configured timeout.

Every builder names the input format (`-f`) whenever the caller knows it: a
raw volume's first bytes belong to its guest, which could write a qcow2 header
there, and qemu-img would then read the file as qcow2 with a backing file of
the guest's choosing (Cinder #2073146). Only images of unknown origin (manage)
are probed.

qemu-img info opens one image without its backing file; the driver walks a
chain level by level and checks each backing name before it opens it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from shoal.hosts import Host

GiB = 1024**3
FORMATS = ("raw", "qcow2")


def gib_up(nbytes: int) -> int:
    return max(1, math.ceil(nbytes / GiB))


# ---- argv builders --------------------------------------------------------------------------


def _options(options: dict[str, str]) -> list[str]:
    # qemu-img reads ',' as the separator; values here come from ids and formats.
    for key, value in options.items():
        if "," in key or "," in value:
            raise ValueError(f"qemu-img option {key}={value!r} may not hold ','")
    return ["-o", ",".join(f"{k}={v}" for k, v in options.items())] if options else []


def info(path: str, fmt: str | None = None) -> list[str]:
    """One image, without opening its backing file. -U: the image may be in use
    by a running guest (read-only look, no lock taken)."""
    return ["qemu-img", "info", "--output=json", "-U", *(["-f", fmt] if fmt else []), path]


def create(path: str, fmt: str, size: int, *, backing: str | None = None, backing_fmt: str | None = None,
           preallocation: str | None = None) -> list[str]:
    """A new image of `size` bytes. A relative `backing` name is resolved by
    qemu against the new image's own directory, and stored as given."""
    argv = ["qemu-img", "create", "-f", fmt]
    if backing is not None:
        if backing_fmt is None:
            raise ValueError("a backing file needs its format")
        argv += ["-b", backing, "-F", backing_fmt]
    argv += _options({"preallocation": preallocation} if preallocation else {})
    return argv + [path, str(size)]


def rebase_unsafe(path: str, backing: str, backing_fmt: str) -> list[str]:
    """Point a qcow2 overlay at another backing file without copying data: only
    right when the new backing reads the same as the old one."""
    return ["qemu-img", "rebase", "-u", "-f", "qcow2", "-b", backing, "-F", backing_fmt, path]


def commit(path: str) -> list[str]:
    """Write a qcow2 overlay's data into its backing file. -d: leave the overlay
    as it was, so that a commit interrupted and run again writes the same data."""
    return ["qemu-img", "commit", "-q", "-f", "qcow2", "-d", path]


def resize(path: str, fmt: str, size: int, preallocation: str | None = None) -> list[str]:
    extra = [f"--preallocation={preallocation}"] if preallocation else []
    return ["qemu-img", "resize", "-q", "-f", fmt, *extra, path, str(size)]


def convert_into(src: str, src_fmt: str, dst: str, dst_fmt: str) -> list[str]:
    """Copy `src` into the existing, freshly made `dst` (-n: keep its format,
    size and preallocation; it may be larger). --target-is-zero: it is new, so
    zeros need not be written."""
    return ["qemu-img", "convert", "-n", "--target-is-zero", "-f", src_fmt, "-O", dst_fmt, src, dst]


# ---- info ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    filename: str
    format: str
    virtual_size: int
    actual_size: int = 0
    backing_file: str | None = None  # as stored in the image, relative or absolute
    backing_format: str | None = None
    data_file: str | None = None  # qcow2's external data file: its data lives there, wherever that is


def parse_info(text: str) -> ImageInfo:
    """`qemu-img info --output=json` of one image; ValueError when it is not that."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"qemu-img info printed no JSON: {exc}") from None
    if not isinstance(data, dict) or "format" not in data or "virtual-size" not in data:
        raise ValueError("qemu-img info printed JSON without 'format' and 'virtual-size'")
    return ImageInfo(
        filename=str(data.get("filename", "")),
        format=str(data["format"]),
        virtual_size=int(data["virtual-size"]),
        actual_size=int(data.get("actual-size") or 0),
        backing_file=data.get("backing-filename") or None,
        backing_format=data.get("backing-filename-format") or None,
        data_file=((data.get("format-specific") or {}).get("data") or {}).get("data-file") or None,
    )


# ---- the backing-file check -----------------------------------------------------------------


class InvalidBackingFile(ValueError):
    pass


def chain_member(volume_name: str, directories: tuple[str, ...], mount_point_base: str | None) -> re.Pattern:
    """The names a file in `volume_name`'s chain may give as its backing file
    (Cinder's rule, reference §2.3): the volume's own file, or one of its
    snapshot overlays `<volume>.<snapshot id>` / `<volume>.tmp-snap-<id>`;
    bare, or under the volume's directory, or under a mount point
    `<mount_point_base>/<hex>/`. Anything else -- another volume, /etc/shadow,
    a `json:` or `nbd:` spec -- is refused."""
    prefixes = [re.escape(d.rstrip("/")) + "/" for d in directories]
    if mount_point_base:
        prefixes.append(re.escape(mount_point_base.rstrip("/")) + "/[0-9a-f]+/")
    prefix = f"(?:{'|'.join(prefixes)})?" if prefixes else ""
    return re.compile(rf"{prefix}{re.escape(volume_name)}(?:\.(?:tmp-snap-)?[0-9a-f-]+)?", re.IGNORECASE)


def check_backing(backing: str, pattern: re.Pattern) -> str:
    """The basename of an allowed backing file; InvalidBackingFile otherwise."""
    if not pattern.fullmatch(backing):
        raise InvalidBackingFile(f"backing file {backing!r} is not part of this volume's chain")
    return backing.rsplit("/", 1)[-1]


# ---- running them ------------------------------------------------------------------------------


class QemuImg:
    """The verbs above, run on a host, each bounded by `timeout` seconds."""

    def __init__(self, host: Host, timeout: float):
        self.host = host
        self.timeout = timeout

    def run(self, argv: list[str]) -> str:
        return self.host.run(argv, timeout=self.timeout).stdout

    def info(self, path: str, fmt: str | None = None) -> ImageInfo:
        return parse_info(self.run(info(path, fmt)))
