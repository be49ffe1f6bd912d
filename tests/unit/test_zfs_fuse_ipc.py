"""FuseSocket's side of zfs-fuse's ioctl protocol, against a scripted peer: the
cases a healthy daemon never shows (another layout, an unknown request, a
daemon that dies mid-request). The real exchange with the real zfs-fuse is
tests/integration/test_zfs_fuse_socket.py; this peer is a fake only for those
failures, which cannot be provoked in the real daemon."""

from __future__ import annotations

import errno
import socket
import struct
import threading

import pytest

from shoal.drivers.zfs.fuse_ipc import (
    COPYIN_REQ, COPYINSTR_ANS, COPYINSTR_REQ, COPYOUT_REQ, EMPTY_NVLIST, IOCTL_ANS, IOCTL_REQ, ZFS_CMD_SIZE,
    ZFS_IOC_SNAPSHOT, FuseSocket, error_text, snapshot_request,
)
from shoal.hosts import CommandError
from shoal.hosts.runner import first_spawn

MSG = struct.Struct("<i4xQQII")


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class Peer:
    """A listening socket that plays `script(conn)` for one connection."""

    def __init__(self, tmp_path, script):
        self.path = str(tmp_path / "zfs_socket")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.seen: dict = {}
        self.thread = threading.Thread(target=self._serve, args=(script,), daemon=True)
        self.thread.start()

    def _serve(self, script):
        conn, _ = self.server.accept()
        with conn:
            try:
                script(conn, self.seen)
            except EOFError:
                self.seen["closed early"] = True

    def close(self):
        self.thread.join(5)
        self.server.close()


def healthy(code: int = 0, zc_size: int = ZFS_CMD_SIZE):
    """What zfs-fuse does for a snapshot: copy in the command and the property
    list, copy out the command, copy in the history string, answer."""

    def script(conn, seen):
        kind, number, address, uid, gid = MSG.unpack(recv_exact(conn, MSG.size))
        seen["request"] = (kind, number & 0xFFFFFFFF, uid, gid)
        conn.sendall(MSG.pack(COPYIN_REQ, address, zc_size, 0, 0))
        seen["command"] = command = recv_exact(conn, zc_size)
        src, src_size = struct.unpack_from("<QQ", command, 16664)
        conn.sendall(MSG.pack(COPYIN_REQ, src, src_size, 0, 0))
        seen["nvlist"] = recv_exact(conn, src_size)
        conn.sendall(MSG.pack(COPYOUT_REQ, address, zc_size, 0, 0) + command)
        (history,) = struct.unpack_from("<Q", command, 16720)
        conn.sendall(MSG.pack(COPYINSTR_REQ, history, 8193, 0, 0))
        kind, ret, length, _, _ = MSG.unpack(recv_exact(conn, MSG.size))
        seen["history"] = (kind, ret, recv_exact(conn, length))
        conn.sendall(MSG.pack(IOCTL_ANS, code, 0, 0, 0))

    return script


@pytest.fixture
def peer(tmp_path):
    made = []

    def make(script):
        made.append(Peer(tmp_path, script))
        return made[-1]

    yield make
    for p in made:
        p.close()


def test_the_request_is_the_commands_own(peer):
    p = peer(healthy())
    result = FuseSocket(p.path).snapshot("tank/shares/a@snap-1")
    p.close()
    assert result is not None and result.returncode == 0
    assert p.seen["request"][:2] == (IOCTL_REQ, ZFS_IOC_SNAPSHOT)
    command = p.seen["command"]
    assert command[:14] == b"tank/shares/a\0"
    assert command[4096:4096 + 7] == b"snap-1\0"
    assert struct.unpack_from("<Q", command, 16704) == (2,)  # DMU_OST_ZFS, as the command sets it
    assert p.seen["nvlist"] == EMPTY_NVLIST
    assert p.seen["history"] == (COPYINSTR_ANS, 0, b"zfs snapshot tank/shares/a@snap-1")


def test_an_errno_becomes_the_commands_refusal(peer):
    p = peer(healthy(code=errno.EEXIST))
    with pytest.raises(CommandError) as caught:
        FuseSocket(p.path).snapshot("tank/a@s")
    assert (caught.value.returncode, caught.value.stderr) == (
        1, "cannot create snapshot 'tank/a@s': dataset already exists\n")


def test_another_layout_gets_nothing_and_the_command_takes_over(peer):
    p = peer(healthy(zc_size=ZFS_CMD_SIZE - 8))
    fuse = FuseSocket(p.path)
    assert fuse.snapshot("tank/a@s") is None
    p.close()
    assert p.seen.get("closed early") and "command" not in p.seen
    assert fuse.usable is False and fuse.snapshot("tank/a@s") is None  # for good: no second connection


def test_an_unknown_request_is_not_answered(peer):
    def script(conn, seen):
        recv_exact(conn, MSG.size)
        conn.sendall(MSG.pack(7, 3, 0, 0, 0))  # GETF_REQ: hand over a file descriptor
        recv_exact(conn, 1)

    p = peer(script)
    fuse = FuseSocket(p.path)
    assert fuse.snapshot("tank/a@s") is None and fuse.usable is False
    p.close()
    assert p.seen.get("closed early")


def test_a_daemon_that_goes_away_mid_request_is_a_failure_not_a_retry(peer):
    def script(conn, seen):
        recv_exact(conn, MSG.size)  # then hang up

    p = peer(script)
    fuse = FuseSocket(p.path)
    with pytest.raises(CommandError, match="zfs-fuse did not answer"):
        fuse.snapshot("tank/a@s")
    assert fuse.usable  # the next one tries the socket again


def test_the_request_counts_as_the_tasks_first_command(peer):
    p = peer(healthy())
    began = threading.Event()
    with first_spawn(began):
        assert not began.is_set()
        FuseSocket(p.path).snapshot("tank/a@s")
        assert began.is_set()


@pytest.mark.parametrize("name", ["tank/a", "tank/a@", "@s", "tank/a@b@c", "x" * 250 + "@s123456", "tank/a\0@s"])
def test_names_that_are_not_snapshots_are_refused_before_any_request(name):
    with pytest.raises(ValueError):
        snapshot_request(name)


def test_error_words():
    assert error_text("p/a@s", errno.ENOENT) == "cannot open 'p/a': dataset does not exist\n"
    assert error_text("p/a@s", errno.EBUSY) == "cannot create snapshot 'p/a@s': dataset is busy\n"
    assert error_text("p/a@s", errno.EIO).startswith("cannot create snapshot 'p/a@s': ")


def test_a_name_the_layout_cannot_carry_is_left_to_the_command(peer):
    p = peer(healthy())
    assert FuseSocket(p.path).snapshot("tank/a@b@c") is None
    FuseSocket(p.path).snapshot("tank/a@s")  # the peer's one connection: the healthy one
    p.close()
    assert p.seen["history"][2] == b"zfs snapshot tank/a@s"
