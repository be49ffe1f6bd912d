"""How the ZFSSA emulator reads the values in request bodies: names, sizes,
block sizes, booleans and the enumerated share properties."""

from __future__ import annotations

import re
from typing import Any

from tests.emulators.zfssa.faults import invalid

# Appliance share, project and snapshot names: letters, digits and - _ . : (as ZFS itself).
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
UNITS = {"": 0, "b": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?)b?\s*$", re.IGNORECASE)
COMPRESSION = ("off", "lzjb", "gzip-2", "gzip", "gzip-9", "lz4")
LOGBIAS = ("latency", "throughput")
BLOCK_SIZES = tuple(512 * 2**n for n in range(9))  # 512 .. 128K: what ZFS takes as a block size
MASK_ALL = "com.sun.ms.vss.hg.maskAll"


def name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise invalid(f"invalid {what} name {value!r}: letters, digits, '-', '_', '.', ':' (at most 64)")
    return value


def size(value: Any, what: str = "volsize") -> int:
    """Bytes from a number or a string such as '2g', '512m', '1073741824'."""
    if isinstance(value, bool):
        raise invalid(f"{what}: expected a size, got {value!r}")
    if isinstance(value, (int, float)):
        n = int(value)
    elif isinstance(value, str) and (m := SIZE.match(value)):
        n = int(float(m.group(1)) * 1024 ** UNITS[m.group(2).lower()])
    else:
        raise invalid(f"{what}: expected a size such as 1073741824 or '1g', got {value!r}")
    if n <= 0:
        raise invalid(f"{what} must be positive, got {value!r}")
    return n


def block_size(value: Any) -> int:
    n = size(value, "volblocksize")
    if n not in BLOCK_SIZES:
        raise invalid(f"volblocksize {value!r} is not a power of two from 512 to 128K")
    return n


def boolean(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(f"{what}: expected true or false, got {value!r}")


def choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise invalid(f"{what}: {value!r} is not one of {', '.join(allowed)}")
    return value


def zfs_compression(value: str) -> str:
    """The ZFS value behind an appliance compression setting (zfs-fuse has no lz4)."""
    return "lzjb" if value == "lz4" else value


def groups(value: Any, what: str) -> list[str]:
    """An initiator group value: a string or a list of strings; the mask-all
    group (or an empty list) means none."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise invalid(f"{what}: expected a group name or a list of them, got {value!r}")
    return [] if items in ([], [MASK_ALL]) else list(dict.fromkeys(items))
