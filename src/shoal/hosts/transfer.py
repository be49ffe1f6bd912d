"""A stream from a command on one host into a command on another (or the same).

`zfs send | zfs receive` between two storage hosts is two processes whose
bytes Shoal joins here, with no shell string: locally the kernel moves them
pipe to pipe (`os.splice`, no copy through Python), over SSH they pass through
this process between two channels. Either way the bytes are counted, so the
caller gets progress as it goes.

Every process a transfer starts is registered under its `owner` (a flow's id),
so `stop(owner)` can end exactly those, by pid or channel, and nothing else
(cancel). A transfer whose end was killed from outside, or lost its
connection, fails with `TransferCut`: its caller may send again, after a
`pause` that a stop ends at once. Local processes also die with Shoal
(PR_SET_PDEATHSIG): after a crash no orphaned `zfs receive` keeps writing
into a dataset the resumed flow is about to clean up; over SSH the lost
connection ends them.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import select
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence

from . import metrics
from .runner import STATS, CommandError, CommandResult, CommandTimeout, LocalHost, _command_env, log_result, masked
from .ssh import LOST, SSHHost, _Remote, _send_eof

log = logging.getLogger("shoal.hosts")

CHUNK = 1 << 20
# Each end's pipe holds this much (Linux's default is 64 KiB): the stream goes
# through two pipes with this process waking between them, and with small ones
# every 64 KiB waits for it -- measured on a busy 2-core host, 1 GiB of `zfs
# send | zfs receive` took 6.1 s joined here against 2.8 s by hand; 3.6 s with
# 1 MiB pipes (Linux's default pipe-max-size, so no privilege is needed).
PIPE_SIZE = 1 << 20
REPORT_EVERY = 0.5  # seconds between progress callbacks
DEFAULT_TRANSFER_TIMEOUT = 24 * 3600.0  # a deadline on everything; a transfer may be long

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# ---- processes by owner -----------------------------------------------------------

_owned: dict[str, set] = {}
_owned_lock = threading.Lock()
_stopped: set[str] = set()


class Stopped(Exception):
    """The owner's processes were stopped on purpose (cancel)."""


class TransferCut(CommandError):
    """The stream was cut on its way: an end died of a signal Shoal did not send,
    or its SSH connection was lost. Unlike a command's own failure (a full
    pool, a refused receive), sending again may well succeed. `bytes`: what
    went through before the cut."""

    bytes = 0


def _register(owner: str | None, proc) -> None:
    if owner is None:
        return
    with _owned_lock:
        if owner in _stopped:
            proc.kill()
            raise Stopped(f"{owner} was stopped")
        _owned.setdefault(owner, set()).add(proc)


def _unregister(owner: str | None, proc) -> None:
    if owner is None:
        return
    with _owned_lock:
        procs = _owned.get(owner)
        if procs is not None:
            procs.discard(proc)
            if not procs:
                del _owned[owner]


def running(owner: str) -> list[str]:
    """What the owner's processes are, as 'host pid argv' lines (for logs and tests)."""
    with _owned_lock:
        return [p.describe() for p in _owned.get(owner, ())]


def stop(owner: str) -> int:
    """Kill every process `owner` started (and any it starts from now on, until
    `release(owner)`); returns how many were running."""
    with _owned_lock:
        _stopped.add(owner)
        procs = list(_owned.get(owner, ()))
        _stopping.notify_all()  # a pause of this owner ends now
    for proc in procs:
        log.info("stopping %s for %s", proc.describe(), owner)
        proc.kill()
    return len(procs)


_current = threading.local()


@contextmanager
def owned_by(owner: str):
    """Transfers started in this block (on this thread) belong to `owner`."""
    previous = getattr(_current, "owner", None)
    _current.owner = owner
    try:
        yield
    finally:
        _current.owner = previous


def stopped() -> bool:
    """True when the owner of this thread's transfers (`owned_by`) was stopped:
    a wait that is no process of ours (an appliance's own replication, say)
    looks here between its polls, to end promptly on a cancel."""
    owner = getattr(_current, "owner", None)
    with _owned_lock:
        return owner is not None and owner in _stopped


_stopping = threading.Condition(_owned_lock)


def pause(seconds: float) -> None:
    """Wait `seconds` (a back-off between retries), or raise Stopped as soon as
    the owner of this thread's transfers is stopped: a cancel never waits."""
    owner = getattr(_current, "owner", None)
    deadline = time.monotonic() + seconds
    with _owned_lock:
        while owner is None or owner not in _stopped:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            _stopping.wait(left)
    raise Stopped(f"{owner} was stopped")


def release(owner: str) -> None:
    """Forget that `owner` was stopped (its flow has finished reverting)."""
    with _owned_lock:
        _stopped.discard(owner)


# ---- one end of a transfer ------------------------------------------------------------


class _LocalEnd:
    def __init__(self, host: LocalHost, argv: Sequence[str], reads: bool):
        self.host, self.argv = host, tuple(argv)
        full = host._argv(argv)
        self.proc = subprocess.Popen(
            full, stdin=subprocess.PIPE if not reads else subprocess.DEVNULL,
            stdout=subprocess.PIPE if reads else subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=_command_env(), preexec_fn=_die_with_parent)
        try:
            fcntl.fcntl(self.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:  # a lower pipe-max-size: the default pipe works, only slower
            pass
        self._err = bytearray()
        self.killed = False  # by this module (a stop, a timeout, the other end gone)
        self._drain = threading.Thread(target=self._read_stderr, daemon=True, name="transfer-stderr")
        self._drain.start()

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            if len(self._err) < 65536:
                self._err += line

    def describe(self) -> str:
        return f"{self.host.name} pid {self.proc.pid}: {masked(self.argv)}"

    def fileno(self) -> int:
        return (self.proc.stdout or self.proc.stdin).fileno()

    def close_input(self) -> None:
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout=max(timeout, 0.01))
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.wait()
        if self.proc.stdout is not None:
            # A writer outside the process may hold the pipe too (zfs-fuse's daemon
            # writes a `zfs send` stream itself): closed, it gets EPIPE and ends,
            # instead of blocking on a full pipe nobody reads -- holding its
            # dataset, which no destroy could then remove.
            self.proc.stdout.close()
        self._drain.join(timeout=5)
        return rc

    def stderr(self) -> str:
        return bytes(self._err).decode(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.killed = True
            self.proc.kill()

    def cut(self, rc: int) -> bool:
        """It died of a signal from someone else."""
        return rc < 0 and not self.killed


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What paramiko raises when a channel's connection is gone under a call
    (EOFError from its packetizer, no message): the other end is lost."""
    import paramiko

    return (EOFError, OSError, paramiko.SSHException)


class _SSHEnd:
    """A command on its own channel of the host's connection."""

    def __init__(self, host: SSHHost, argv: Sequence[str], reads: bool):
        self.host, self.argv, self.takes_input = host, tuple(argv), not reads
        # `reads`: we read its stdout (the producer), and it is given no input: /dev/null
        self.chan = host._open(argv, stdin=self.takes_input)
        self._err = bytearray()
        self.killed = False

    def describe(self) -> str:
        return f"{self.host.name} channel {self.chan.get_id()}: {masked(self.argv)}"

    def _drain_stderr(self) -> None:
        while self.chan.recv_stderr_ready():
            self._err += self.chan.recv_stderr(CHUNK)

    def read(self, deadline: float) -> bytes:
        """Up to CHUNK bytes of stdout; b'' at its end."""
        while True:
            self._drain_stderr()
            if self.chan.recv_ready() or self.chan.eof_received or self.chan.closed:
                return self.chan.recv(CHUNK)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            select.select([self.chan], [], [], min(left, 0.1))

    def write(self, data: bytes) -> None:
        self._drain_stderr()
        try:
            self.chan.sendall(data)
        except _connection_errors() as exc:  # the connection died under the write
            raise BrokenPipeError(f"ssh connection lost: {exc!r}") from None

    def close_input(self) -> None:
        if not self.takes_input:
            return
        try:
            _send_eof(self.chan)
        except _connection_errors():
            pass

    def wait(self, timeout: float) -> int:
        if not self.chan.status_event.wait(max(timeout, 0.01)):
            self.kill()
            return -1
        while not (self.chan.eof_received or self.chan.closed) or self.chan.recv_stderr_ready():
            if self.chan.recv_stderr_ready():
                self._err += self.chan.recv_stderr(CHUNK)
            elif not select.select([self.chan], [], [], 0.1)[0]:
                break
        rc = self.chan.recv_exit_status()
        try:
            self.chan.close()
        except _connection_errors():  # before paramiko saw the connection go
            pass
        return LOST if rc == -1 else rc

    def stderr(self) -> str:
        return bytes(self._err).decode(errors="replace")

    def kill(self) -> None:
        self.killed = True
        _Remote(self.chan).kill(self.host.sudo)

    def cut(self, rc: int) -> bool:
        """It died of a signal from someone else, or its connection was lost
        (neither leaves an exit status)."""
        return rc == LOST and not self.killed


def _start(host, argv: Sequence[str], reads: bool):
    if isinstance(host, LocalHost):
        return _LocalEnd(host, argv, reads)
    if isinstance(host, SSHHost):
        return _SSHEnd(host, argv, reads)
    raise TypeError(f"cannot stream from a {type(host).__name__}")


# ---- the transfer ------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferResult:
    bytes: int
    seconds: float


def transfer(source_host, producer: Sequence[str], target_host, consumer: Sequence[str], *,
             progress: Callable[[int], None] | None = None, owner: str | None = None,
             timeout: float | None = None) -> TransferResult:
    """Run `producer` on `source_host` into `consumer` on `target_host`; raise
    CommandError (naming the end that failed) unless both exit 0. `progress(bytes)`
    is called as bytes flow, at most every REPORT_EVERY seconds, and at the end."""
    timeout = timeout or DEFAULT_TRANSFER_TIMEOUT
    owner = owner or getattr(_current, "owner", None)
    start = time.monotonic()
    deadline = start + timeout
    argv = (*producer, "|", *consumer)
    name = source_host.name if source_host is target_host else f"{source_host.name}->{target_host.name}"
    token = STATS.started(argv)
    ends: list = []
    moved = 0

    def failed(rc: int, err: str, kind=CommandError, reason: str = "") -> CommandError:
        result = CommandResult(argv, rc, "", err, time.monotonic() - start)
        STATS.finished(token, result.duration, False)
        log_result(name, result)
        return kind(result, reason)

    try:
        try:
            dst = _start(target_host, consumer, reads=False)
            ends.append(dst)
            _register(owner, dst)
            src = _start(source_host, producer, reads=True)
            ends.append(src)
            _register(owner, src)
        except Stopped:
            raise
        except Exception as exc:
            for end in ends:
                end.kill()
            raise failed(LOST if ends else 127, f"could not start: {exc}") from None
        try:
            moved = _pump(src, dst, deadline, progress, lambda: owner is not None and owner in _stopped)
        except TimeoutError:
            for end in ends:
                end.kill()
            raise failed(-1, src.stderr() + dst.stderr(), CommandTimeout, f"timed out after {timeout}s") from None
        except BaseException:  # nothing of ours runs on behind an error
            for end in ends:
                end.kill()
            raise
        dst.close_input()
        src_rc = src.wait(deadline - time.monotonic())
        dst_rc = dst.wait(deadline - time.monotonic())
    finally:
        for end in ends:
            _unregister(owner, end)
        metrics.transferred(metrics.verb(argv), moved)
    if owner is not None and owner in _stopped:
        raise Stopped(f"{owner} was stopped")
    err = src.stderr() + dst.stderr()
    if src_rc or dst_rc:
        which = f"producer exit {src_rc}" if src_rc else f"consumer exit {dst_rc}"
        if src.cut(src_rc) or dst.cut(dst_rc):
            cut = failed(src_rc or dst_rc, err, TransferCut, f"cut: producer exit {src_rc}, consumer exit {dst_rc}")
            cut.bytes = moved
            raise cut
        raise failed(src_rc or dst_rc, err, reason=which)
    if progress is not None:
        progress(moved)
    result = CommandResult(argv, 0, "", err, time.monotonic() - start)
    STATS.finished(token, result.duration, True)
    log_result(name, result)
    return TransferResult(moved, result.duration)


def _pump(src, dst, deadline: float, progress, halted: Callable[[], bool]) -> int:
    """Move everything `src` writes into `dst`, until the owner is stopped;
    returns the byte count. (A stop kills the processes, but zfs-fuse's daemon
    writes and reads the streams itself: only our ends of the pipes closing
    cut the stream there, so the pump itself ends.)"""
    moved, reported = 0, time.monotonic()
    local = isinstance(src, _LocalEnd) and isinstance(dst, _LocalEnd)
    while not halted():
        if local:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if not select.select([src.fileno()], [], [], min(left, 1.0))[0]:
                continue
            try:
                n = os.splice(src.fileno(), dst.fileno(), CHUNK)
            except BrokenPipeError:  # the consumer exited: its exit status says why
                src.kill()
                return moved
        else:
            data = src.read(deadline) if isinstance(src, _SSHEnd) else os.read(src.fileno(), CHUNK)
            n = len(data)
            if n:
                try:
                    if isinstance(dst, _SSHEnd):
                        dst.write(data)
                    else:
                        _write_all(dst.fileno(), data)
                except (BrokenPipeError, OSError):
                    src.kill()
                    return moved
        if n == 0:
            return moved
        moved += n
        now = time.monotonic()
        if progress is not None and now - reported >= REPORT_EVERY:
            reported = now
            progress(moved)
    return moved


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
