"""Is image data what its `disk_format` says, and safe to give to qemu-img?

The checks Glance, Nova and Cinder share since the format-inspector advisories
(OSSA-2024-001/-002/-003), through the same library (oslo.utils' format_inspector):

- the data's actual format must be the declared one (a "raw" image that is really a
  qcow2 would make qemu-img follow a backing file of the uploader's choosing);
- no qcow2 backing file or external data file, no vmdk extents outside the image
  (the inspector's safety checks);
- then `qemu-img info -f <format>` on the data (never probed) must agree: no backing
  file, no data file, and it gives the virtual size.

`InspectedStream` checks data while it streams (an upload); `inspect_file` checks data
that is already in a file (a staged import, an image used for a volume)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from oslo_utils.imageutils import format_inspector as fi

from shoal.hosts import CommandError, Host

from .errors import Invalid

# qemu-img's name for each disk_format it reads; formats it has no driver for are data only.
QEMU_FORMATS = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc", "vhdx": "vhdx",
                "iso": "raw", "ami": "raw", "ari": "raw", "aki": "raw"}
# What the inspectors may also see in data of a format: a disk image with a partition table
# is raw to qemu; a bootable ISO carries a GPT too.
ALSO_SEEN = {"raw": {"gpt"}, "iso": {"gpt"}, "ami": {"gpt"}, "ari": set(), "aki": set()}
CHUNK = 1 << 20


class ImageRejected(Invalid):
    """The data is not what it says it is, or not safe to use (400, the reason in words)."""


@dataclass(frozen=True)
class Inspection:
    format: str  # what the inspector found ("raw" when nothing more specific)
    virtual_size: int | None


def _expected(disk_format: str) -> str | None:
    """The inspector that must match, or None for formats read as plain data."""
    name = "raw" if disk_format in ("ami", "ari", "aki") else disk_format
    return name if name in fi.ALL_FORMATS else None


def _verdict(formats: list | None, disk_format: str) -> Inspection:
    if formats is None:
        raise ImageRejected("Image format could not be determined.")
    names = {str(i) for i in formats}
    expected = _expected(disk_format)
    if expected is None:  # ploop: no inspector; refuse anything that is a known disk format
        if names - {"raw"}:
            raise ImageRejected(f"Image data is {', '.join(sorted(names))}, not {disk_format}.")
        return Inspection("raw", None)
    if expected not in names and not (expected == "raw" and names <= ALSO_SEEN["raw"]):
        raise ImageRejected(f"Image data does not match disk_format {disk_format}: it is "
                            f"{', '.join(sorted(names))}.")
    if names - {expected} - ALSO_SEEN.get(disk_format, set()):
        raise ImageRejected(f"Image data matches several formats ({', '.join(sorted(names))}); refused as unsafe.")
    inspector = next(i for i in formats if str(i) == expected) if expected in names else formats[0]
    try:
        inspector.safety_check()
    except fi.SafetyCheckFailed as exc:
        reasons = "; ".join(f"{k}: {v}" for k, v in sorted(getattr(exc, "failures", {}).items())) or str(exc)
        raise ImageRejected(f"Image is not safe to use ({reasons}).") from None
    return Inspection(str(inspector), inspector.virtual_size or None)


class InspectedStream:
    """Iterate over this instead of `chunks`; when the iteration ends, `verdict()`
    says what the data was (or raises ImageRejected). A mismatch of the declared
    format stops the stream as soon as the inspector can tell."""

    def __init__(self, chunks: Iterable[bytes], disk_format: str):
        self.disk_format = disk_format
        self._wrapper = fi.InspectWrapper(iter(chunks), expected_format=_expected(disk_format))

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._wrapper
        except fi.ImageFormatError as exc:
            raise ImageRejected(f"Image data does not match disk_format {self.disk_format}: {exc}") from None

    def verdict(self) -> Inspection:
        self._wrapper.close()
        try:
            return _verdict(self._wrapper.formats, self.disk_format)
        except fi.ImageFormatError as exc:
            raise ImageRejected(str(exc)) from None


def inspect_file(read, disk_format: str) -> Inspection:
    """As InspectedStream, over a readable binary file (`read(n)` until b"")."""
    def chunks():
        while chunk := read(CHUNK):
            yield chunk

    stream = InspectedStream(chunks(), disk_format)
    for _ in stream:
        pass
    return stream.verdict()


def inspect_stored(path: str, disk_format: str) -> Inspection:
    """As inspect_file, for data already checked once (a stored image about to be
    used): reads only as far as the inspectors need to decide, often a few hundred KiB."""
    with open(path, "rb") as fh:
        wrapper = fi.InspectWrapper(fh, expected_format=_expected(disk_format))
        try:
            while wrapper.read(CHUNK) and wrapper.formats is None:
                pass
            wrapper.close()
            return _verdict(wrapper.formats, disk_format)
        except fi.ImageFormatError as exc:
            raise ImageRejected(f"Image data does not match disk_format {disk_format}: {exc}") from None


def qemu_info(host: Host, path: str, disk_format: str) -> dict:
    """`qemu-img info` of the data as its declared format (never probed), refused when
    qemu-img reads a backing file or an external data file into it."""
    fmt = QEMU_FORMATS.get(disk_format)
    if fmt is None:
        raise ImageRejected(f"Images of disk_format {disk_format} cannot be read by qemu-img.")
    try:
        result = host.run(["qemu-img", "info", "--output=json", "-f", fmt, path], timeout=120)
    except CommandError as exc:
        raise ImageRejected(f"qemu-img cannot read the image as {disk_format}: {exc.stderr.strip()[-300:]}") from None
    info = json.loads(result.stdout)
    data = (info.get("format-specific") or {}).get("data") or {}
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise ImageRejected("Image is not safe to use: it has a backing file.")
    if data.get("data-file"):
        raise ImageRejected("Image is not safe to use: it has an external data file.")
    if fmt == "vmdk" and any(e.get("filename") != path for e in data.get("extents") or []):
        raise ImageRejected("Image is not safe to use: it names extents outside the image.")
    return info
