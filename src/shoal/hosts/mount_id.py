"""Which mount a local path is on, by an id no later mount gets again.

A file system mounted anew (zfs-fuse came back, a pool imported again) must be
told from the one before it. Its device number does not tell: the kernel hands
out the lowest free one, so the new mount often gets the old number back. Linux
6.8+ gives every mount a 64-bit id it never reuses (statx STATX_MNT_ID_UNIQUE);
Python's os.stat does not ask for it, so statx is called through the C library.
On older kernels the device number is all there is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

AT_FDCWD = -100
STATX_MNT_ID_UNIQUE = 0x4000


class _Timestamp(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_uint32), ("reserved", ctypes.c_int32)]


class _Statx(ctypes.Structure):  # struct statx, <linux/stat.h>: 256 bytes
    _fields_ = [
        ("stx_mask", ctypes.c_uint32), ("stx_blksize", ctypes.c_uint32), ("stx_attributes", ctypes.c_uint64),
        ("stx_nlink", ctypes.c_uint32), ("stx_uid", ctypes.c_uint32), ("stx_gid", ctypes.c_uint32),
        ("stx_mode", ctypes.c_uint16), ("spare0", ctypes.c_uint16), ("stx_ino", ctypes.c_uint64),
        ("stx_size", ctypes.c_uint64), ("stx_blocks", ctypes.c_uint64), ("stx_attributes_mask", ctypes.c_uint64),
        ("stx_atime", _Timestamp), ("stx_btime", _Timestamp), ("stx_ctime", _Timestamp), ("stx_mtime", _Timestamp),
        ("stx_rdev_major", ctypes.c_uint32), ("stx_rdev_minor", ctypes.c_uint32),
        ("stx_dev_major", ctypes.c_uint32), ("stx_dev_minor", ctypes.c_uint32),
        ("stx_mnt_id", ctypes.c_uint64), ("spare2", ctypes.c_uint64 * 13),
    ]


def _statx():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    call = getattr(libc, "statx", None)
    if call is not None:
        call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_Statx)]
        call.restype = ctypes.c_int
    return call


_STATX = _statx()


def _statx_of(path: str) -> _Statx | None:
    """statx of `path` asking for the unique mount id (the device number comes
    with every answer); None where it fails or there is no statx."""
    if _STATX is None:
        return None
    buf = _Statx()
    if _STATX(AT_FDCWD, os.fsencode(path), 0, STATX_MNT_ID_UNIQUE, ctypes.byref(buf)) != 0:
        return None
    return buf


def unique_mount_id(path: str) -> int | None:
    """The kernel's never-reused id of the mount `path` is on; None where the
    kernel (before 6.8) or the C library cannot say, or `path` cannot be reached."""
    buf = _statx_of(path)
    return buf.stx_mnt_id if buf is not None and buf.stx_mask & STATX_MNT_ID_UNIQUE else None


def mount_identity(path: str) -> str | None:
    """What tells this mount of `path` from any later one: `mnt:<unique id>`, or
    `dev:<device number>` where there is no unique id; None when `path` cannot be
    reached (missing, or a FUSE mount whose daemon died)."""
    buf = _statx_of(path)
    if buf is None:
        try:
            return f"dev:{os.stat(path).st_dev}"
        except OSError:
            return None
    if buf.stx_mask & STATX_MNT_ID_UNIQUE:
        return f"mnt:{buf.stx_mnt_id}"
    return f"dev:{os.makedev(buf.stx_dev_major, buf.stx_dev_minor)}"
