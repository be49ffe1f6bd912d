"""`zfs snapshot` sent straight to zfs-fuse's control socket.

zfs-fuse has no /dev/zfs. Its `zfs` command sends each ioctl over the daemon's
unix socket, and the daemon then reads and writes the caller's memory through
requests on the same socket: copy in N bytes at address A, copy in a string,
copy out N bytes to A, and at the end the ioctl's return value (an errno).
Before it gets there, the `zfs` binary spends about 2 ms loading its libraries
and locale. A snapshot is the one command on a hot path (share and volume
snapshots, volume clones) that needs nothing but that exchange, so Shoal
speaks it itself there and keeps the command for everything else.

The layout is zfs-fuse 0.7's on x86-64 (Debian's package), read from the
bytes its own `zfs snapshot` sends. The daemon names the size of the command
structure it expects in its first copy-in request; a daemon that asks for a
size other than this layout's gets nothing (the exchange is abandoned before
any bytes are sent, so the ioctl fails with EFAULT and changes nothing) and
Shoal goes back to the command for good. What is sent mirrors the command's
own request: the same fields, the same empty property list, and the same
history line, so `zpool history` reads as if `zfs snapshot` had run.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import time

from shoal.hosts import STATS, CommandError, CommandResult
from shoal.hosts.runner import log_result, started_command

log = logging.getLogger("shoal.drivers.zfs")

SOCKET_PATH = "/var/run/zfs/zfs_socket"

# zfsfuse_cmd_t: int32 type, a 16-byte union (two 8-byte words here), uid, gid.
_MESSAGE = struct.Struct("<i4xQQII")
IOCTL_REQ, IOCTL_ANS, COPYIN_REQ, COPYINSTR_REQ, COPYINSTR_ANS, COPYOUT_REQ = range(6)

ZFS_IOC_SNAPSHOT = 0x5A24
DMU_OST_ZFS = 2

# zfs_cmd_t of zfs-fuse 0.7 (OpenSolaris of 2010: zc_name, zc_value, zc_string, zc_top_ds, then words).
ZFS_CMD_SIZE = 17728
_NAME, _VALUE = 0, 4096
_NVLIST_SRC, _NVLIST_SRC_SIZE = 16664, 16672
_OBJSET_TYPE, _HISTORY = 16704, 16720
MAXNAMELEN = 256

# The empty property list the command sends: native encoding, little-endian, NV_UNIQUE_NAME.
EMPTY_NVLIST = bytes([0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])

# Where the daemon believes our buffers are: any distinct non-zero numbers do.
_CMD_ADDRESS, _NVLIST_ADDRESS, _HISTORY_ADDRESS = 0x10000, 0x20000, 0x30000

# The command's words for the errors a snapshot meets (libzfs's zfs_standard_error).
_REASONS = {
    errno.EEXIST: "dataset already exists",
    errno.EBUSY: "dataset is busy",
    errno.ENOSPC: "out of space",
    errno.EDQUOT: "out of space",
    errno.EINVAL: "invalid property value",
    errno.EPERM: "permission denied",
    errno.EROFS: "snapshot permission denied",
    errno.ENAMETOOLONG: "dataset name is too long",
}


class LayoutMismatch(Exception):
    """The daemon expects another zfs_cmd_t than zfs-fuse 0.7's."""


class ProtocolError(Exception):
    """The daemon asked for something this client does not hold."""


def snapshot_request(name: str) -> tuple[bytes, dict[int, bytes], bytes]:
    """The zfs_cmd_t for `zfs snapshot <name>`, the buffers it points at, and its history line."""
    dataset, _, short = name.partition("@")
    if not dataset or not short or "@" in short or len(name) >= MAXNAMELEN or "\0" in name:
        raise ValueError(f"{name!r} is not a snapshot name")
    history = f"zfs snapshot {name}".encode()
    command = bytearray(ZFS_CMD_SIZE)
    for offset, text in ((_NAME, dataset.encode()), (_VALUE, short.encode())):
        command[offset:offset + len(text)] = text
    struct.pack_into("<QQ", command, _NVLIST_SRC, _NVLIST_ADDRESS, len(EMPTY_NVLIST))
    struct.pack_into("<Q", command, _OBJSET_TYPE, DMU_OST_ZFS)
    struct.pack_into("<Q", command, _HISTORY, _HISTORY_ADDRESS)
    return bytes(command), {_CMD_ADDRESS: bytes(command), _NVLIST_ADDRESS: EMPTY_NVLIST}, history


def error_text(name: str, code: int) -> str:
    """What `zfs snapshot <name>` prints for the ioctl's errno."""
    if code == errno.ENOENT:
        return f"cannot open '{name.split('@', 1)[0]}': dataset does not exist\n"
    return f"cannot create snapshot '{name}': {_REASONS.get(code) or os.strerror(code)}\n"


class FuseSocket:
    """Snapshots through zfs-fuse's socket on this machine; None from `snapshot`
    means "use the command" (no daemon socket, or a daemon of another layout)."""

    def __init__(self, path: str = SOCKET_PATH, host_name: str = "local"):
        self.path = path
        self.host_name = host_name
        self.usable = True

    def snapshot(self, name: str, timeout: float = 120.0) -> CommandResult | None:
        if not self.usable or not os.path.exists(self.path):
            return None
        argv = ("zfs", "snapshot", name)  # for logs and errors: what this stands for
        try:
            request, buffers, history = snapshot_request(name)
        except ValueError:
            return None  # the command judges a name this layout cannot carry, in its own words
        token = STATS.started(argv)
        start = time.monotonic()
        try:
            code = self._ioctl(ZFS_IOC_SNAPSHOT, request, buffers, history, timeout)
        except (LayoutMismatch, ProtocolError) as exc:
            self.usable = False
            STATS.finished(token, time.monotonic() - start, False)
            log.warning("zfs-fuse at %s: %s; snapshots go through the zfs command from now on", self.path, exc)
            return None
        except (FileNotFoundError, ConnectionRefusedError):
            STATS.finished(token, time.monotonic() - start, False)
            return None  # no daemon behind the socket file: the command says what is wrong
        except OSError as exc:  # the daemon went away or stalled mid-request: the outcome is unknown
            code, reason = errno.EIO, f"cannot create snapshot '{name}': zfs-fuse did not answer ({exc})\n"
        else:
            reason = error_text(name, code) if code else ""
        result = CommandResult(argv, 1 if code else 0, "", reason, time.monotonic() - start)
        STATS.finished(token, result.duration, code == 0)
        log_result(self.host_name, result)
        if code:
            raise CommandError(result)
        return result

    def _ioctl(self, number: int, request: bytes, buffers: dict[int, bytes], history: bytes, timeout: float) -> int:
        uid, gid = os.getuid(), os.getgid()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(self.path)
            started_command()
            sock.sendall(_MESSAGE.pack(IOCTL_REQ, number, _CMD_ADDRESS, uid, gid))
            while True:
                kind, word, size, _, _ = _MESSAGE.unpack(_receive(sock, _MESSAGE.size))
                if kind == IOCTL_ANS:
                    return struct.unpack("<i", struct.pack("<I", word & 0xFFFFFFFF))[0]
                if kind == COPYIN_REQ:
                    if word == _CMD_ADDRESS and size != len(request):
                        raise LayoutMismatch(f"it expects a {size}-byte zfs_cmd_t, not {len(request)}")
                    data = buffers.get(word)
                    if data is None or size > len(data):
                        raise ProtocolError(f"copy-in of {size} bytes at {word:#x}")
                    sock.sendall(data[:size])
                elif kind == COPYINSTR_REQ:
                    if word != _HISTORY_ADDRESS or len(history) >= size:
                        raise ProtocolError(f"string copy-in of at most {size} bytes at {word:#x}")
                    sock.sendall(_MESSAGE.pack(COPYINSTR_ANS, 0, len(history), 0, 0) + history)
                elif kind == COPYOUT_REQ:
                    _receive(sock, size)  # the command structure, written back: nothing in it is needed
                else:
                    raise ProtocolError(f"request type {kind}")


def _receive(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 16))
        if not chunk:
            raise ConnectionResetError("zfs-fuse closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
