"""The one place that starts processes.

Every external command goes through a `Host`: an argv list (never a shell
string), a timeout on everything, retries only for failures the caller names
as transient, and a log line per command with its duration, exit code and a
stderr tail -- with secrets masked.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from . import metrics
from .mount_id import mount_identity
from .watch import FileWatch, InotifyWatch

log = logging.getLogger("shoal.hosts")

DEFAULT_TIMEOUT = 120.0
STDERR_TAIL = 400


class Secret(str):
    """A string that never appears in logs: argv items of this type print as ***."""

    def __repr__(self) -> str:  # pragma: no cover - trivial
        return "'***'"


def masked(argv: Sequence[str]) -> str:
    return " ".join("***" if isinstance(a, Secret) else a for a in argv)


def redact(text: str, argv: Sequence[str]) -> str:
    """`text` with every Secret of `argv` replaced, for output a command echoed back."""
    for item in argv:
        if isinstance(item, Secret) and item:
            text = text.replace(str.__str__(item), "***")
    return text


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float


class CommandError(Exception):
    """A command exited non-zero (or could not start, or timed out)."""

    def __init__(self, result: CommandResult, reason: str = ""):
        self.result = result
        self.stderr = result.stderr
        self.returncode = result.returncode
        what = reason or f"exit {result.returncode}"
        tail = redact(result.stderr.strip(), result.argv)[-STDERR_TAIL:]
        super().__init__(f"{masked(result.argv)}: {what}: {tail}")


class CommandTimeout(CommandError):
    pass


@dataclass(frozen=True)
class Retry:
    """Retry a command whose stderr contains one of `transient`, with back-off.

    Only the named failures are retried; anything else fails at once.
    """

    transient: tuple[str, ...]
    attempts: int = 8
    first_delay: float = 0.1
    max_delay: float = 2.0

    def matches(self, err: CommandError) -> bool:
        text = err.stderr + err.result.stdout
        return any(t in text for t in self.transient)

    def delays(self):
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay)


@dataclass
class CommandStats:
    """Counters for tests and the live list of running commands; each command
    also feeds the /metrics series of its verb (see hosts.metrics)."""

    count: int = 0
    failures: int = 0
    retries: int = 0
    seconds: float = 0.0
    running: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    verbs: dict[int, str] = field(default_factory=dict)  # token -> verb of a running command

    def started(self, argv: Sequence[str]) -> int:
        label = metrics.verb(argv)
        with self.lock:
            self.count += 1
            token = self.count
            self.running[token] = masked(argv)
            self.verbs[token] = label
        metrics.started(label)
        return token

    def finished(self, token: int, duration: float, ok: bool) -> None:
        with self.lock:
            self.running.pop(token, None)
            label = self.verbs.pop(token, None)
            self.seconds += duration
            if not ok:
                self.failures += 1
        if label is not None:
            metrics.finished(label, duration, ok)

    def retried(self, argv: Sequence[str]) -> None:
        with self.lock:
            self.retries += 1
        metrics.retried(metrics.verb(argv))


STATS = CommandStats()


class Host(Protocol):
    """Where commands run: this machine, or a storage host over SSH."""

    name: str

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
        check: bool = True,
        retry: Retry | None = None,
    ) -> CommandResult: ...

    def pipe(
        self, producer: Sequence[str], consumer: Sequence[str], *, timeout: float | None = None
    ) -> CommandResult: ...

    def write_file(self, path: str, content: str, mode: int = 0o644) -> None: ...

    def write_files(self, directory: str, files: dict[str, str], mode: int = 0o644) -> None:
        """Many files of one directory ({name: content}), each replaced atomically as
        write_file does; on a remote host with a few commands however many there are."""
        ...

    def read_file(self, path: str) -> str | None: ...

    def remove_file(self, path: str) -> None:
        """Remove a file; one that does not exist is fine."""
        ...

    def remove_files(self, paths: list[str]) -> None:
        """remove_file of each; on a remote host with one command per many."""
        ...

    def file_size(self, path: str) -> int:
        """Size of a file in bytes, 0 if it does not exist."""
        ...

    def set_mode(self, path: str, mode: int) -> None:
        """Set a file's permission bits, as `chmod MODE path` with an octal MODE.
        Raises CommandError (naming chmod) when that fails."""
        ...

    def set_file_size(self, path: str, size: int) -> None:
        """Make `path` `size` bytes long, as `truncate -s`: a missing file is made
        (sparse), an existing one cut or grown sparse. Raises CommandError."""
        ...

    def read_from(self, path: str, offset: int) -> str:
        """A file's text from byte `offset` on ('' if it does not exist)."""
        ...

    def signal(self, pid: int, signum: int) -> None:
        """Send `signum` to process `pid`."""
        ...

    def mount_identity(self, path: str) -> str | None:
        """What tells the mount `path` is on from any later mount there (see
        hosts/mount_id.py); None when it cannot be reached (missing, or a FUSE
        mount whose daemon died)."""
        ...

    def watch(self, path: str) -> FileWatch:
        """Something to wait on until `path` changes (see hosts.watch)."""
        ...

    def connect_unix(self, path: str, timeout: float):
        """A stream (sendall, recv, settimeout, close; a context manager) to the unix
        socket `path` on the host, no process started for it. OSError as connect()
        raises it; NoSocketAccess where the host gives no such stream."""
        ...


def run_with_retry(execute, argv: Sequence[str], check: bool, retry: Retry | None) -> CommandResult:
    """Run `execute(argv)` and retry the transient failures `retry` names."""
    delays = retry.delays() if retry else iter(())
    while True:
        result = execute(argv)
        if result.returncode == 0 or not check:
            return result
        err = CommandError(result)
        if retry is None or not retry.matches(err):
            raise err
        delay = next(delays, None)
        if delay is None:
            raise err
        STATS.retried(argv)
        log.info("transient failure, retrying in %.2fs: %s", delay, err)
        time.sleep(delay)


def log_result(host: str, result: CommandResult, expected_failure: bool = False) -> None:
    """DEBUG for success and for failures the caller asked to see (check=False)."""
    level = logging.DEBUG if result.returncode == 0 or expected_failure else logging.INFO
    if log.isEnabledFor(level):
        log.log(
            level,
            "[%s] %s -> rc=%d in %.3fs%s",
            host,
            masked(result.argv),
            result.returncode,
            result.duration,
            f" stderr: {redact(result.stderr.strip(), result.argv)[-STDERR_TAIL:]}" if result.returncode else "",
        )


_watch = threading.local()


@contextmanager
def first_spawn(event: threading.Event):
    """Set `event` as soon as the next command of this thread has started (its
    process exists), or when the block ends. A request that starts background
    work waits on it: the command's spawn then has the interpreter to itself
    (under contention, each hand-over of the GIL in Popen cost up to a switch
    interval), and the request's own work overlaps the command's run instead."""
    _watch.event = event
    try:
        yield
    finally:
        _watch.event = None
        event.set()


def started_command() -> None:
    """The current command of this thread has started: a process exists, or a
    request went to a daemon's socket in its place (see first_spawn)."""
    event = getattr(_watch, "event", None)
    if event is not None:
        _watch.event = None
        event.set()


def _command_env() -> dict[str, str]:
    """The C locale: callers match the commands' English messages ("dataset is
    busy"), and zfs starts faster without loading a locale (~0.1 ms a call)."""
    return dict(os.environ, LC_ALL="C")


def _spawn(argv: list[str], input: str | None, timeout: float) -> tuple[int, str, str]:
    """subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout),
    telling first_spawn when the process has started."""
    stdin = subprocess.PIPE if input is not None else None
    with subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=_command_env()) as proc:
        started_command()
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    return proc.returncode, stdout, stderr


class NoSocketAccess(Exception):
    """The host gives no stream to a unix socket on it (commands go through sudo,
    or sshd does not forward to sockets): reach the daemon through its command-line
    tool instead. Not an OSError: nothing is known of whatever listens there."""


def _connect_unix(path: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


class LocalHost:
    """Runs commands on this machine with subprocess, argv lists only."""

    def __init__(self, name: str = "local", sudo: bool = False):
        self.name = name
        self.sudo = sudo

    def _argv(self, argv: Sequence[str]) -> list[str]:
        return (["sudo", "-n"] if self.sudo else []) + list(argv)

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None) -> CommandResult:
        timeout = timeout or DEFAULT_TIMEOUT

        def execute(args) -> CommandResult:
            token = STATS.started(args)
            start = time.monotonic()
            try:
                returncode, stdout, stderr = _spawn(self._argv(args), input, timeout)
                result = CommandResult(tuple(args), returncode, stdout, stderr, time.monotonic() - start)
            except subprocess.TimeoutExpired as exc:
                result = CommandResult(tuple(args), -1, "", str(exc.stderr or ""), time.monotonic() - start)
                STATS.finished(token, result.duration, False)
                log_result(self.name, result)
                raise CommandTimeout(result, f"timed out after {timeout}s") from None
            except OSError as exc:
                result = CommandResult(tuple(args), 127, "", str(exc), time.monotonic() - start)
            STATS.finished(token, result.duration, result.returncode == 0)
            log_result(self.name, result, expected_failure=not check)
            return result

        return run_with_retry(execute, argv, check, retry)

    def pipe(self, producer, consumer, *, timeout=None) -> CommandResult:
        """`producer | consumer` as two processes joined here, no shell; one
        deadline covers both ends."""
        timeout = timeout or DEFAULT_TIMEOUT * 10
        start = time.monotonic()
        deadline = start + timeout
        argv = (*producer, "|", *consumer)
        token = STATS.started(argv)

        def failed(rc: int, err: str, kind=CommandError, reason: str = "") -> CommandError:
            result = CommandResult(argv, rc, "", err, time.monotonic() - start)
            STATS.finished(token, result.duration, False)
            log_result(self.name, result)
            return kind(result, reason)

        try:
            src = subprocess.Popen(self._argv(producer), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=_command_env())
        except OSError as exc:
            raise failed(127, str(exc)) from None
        started_command()
        try:
            dst = subprocess.run(
                self._argv(consumer), stdin=src.stdout, capture_output=True, text=True, timeout=timeout,
                env=_command_env(),
            )
            src.stdout.close()
            _, src_err = src.communicate(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            src.kill()
            src.communicate()
            raise failed(-1, "", CommandTimeout, f"timed out after {timeout}s") from None
        except OSError as exc:
            src.kill()
            src.communicate()
            raise failed(127, str(exc)) from None
        rc = src.returncode or dst.returncode
        err = src_err.decode(errors="replace") + dst.stderr
        result = CommandResult(argv, rc, dst.stdout, err, time.monotonic() - start)
        STATS.finished(token, result.duration, rc == 0)
        log_result(self.name, result)
        if rc:
            raise CommandError(result)
        return result

    def write_file(self, path: str, content: str, mode: int = 0o644) -> None:
        directory, name = os.path.split(path)
        # A temporary of this thread's own beside the file, then an atomic rename:
        # a reader never sees half a file. A fixed name, not mkstemp's random one,
        # costs a third less per write on ext4 (ganesha's config is written on every
        # share and access change). Never through a symlink planted under that name.
        tmp = os.path.join(directory, f".{name}.shoal-{os.getpid()}-{threading.get_ident()}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileNotFoundError:
            os.makedirs(directory or ".", exist_ok=True)
            fd = os.open(tmp, flags, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(content)
                os.fchmod(fh.fileno(), mode)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def read_file(self, path: str) -> str | None:
        try:
            with open(path) as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    # Small reads, removals and signals on this machine need no process: done in Python.

    def remove_file(self, path: str) -> None:
        import os

        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def write_files(self, directory: str, files: dict[str, str], mode: int = 0o644) -> None:
        for name, content in files.items():
            self.write_file(os.path.join(directory, name), content, mode)

    def remove_files(self, paths: list[str]) -> None:
        for path in paths:
            self.remove_file(path)

    def file_size(self, path: str) -> int:
        import os

        try:
            return os.stat(path).st_size
        except FileNotFoundError:
            return 0

    def set_mode(self, path: str, mode: int) -> None:
        if self.sudo:  # the file belongs to someone else: chmod(1) under sudo
            self.run(["chmod", format(mode, "o"), "--", path])
            return
        try:
            os.chmod(path, mode)
        except OSError as exc:  # the caller sees what chmod(1) would have said
            argv = ("chmod", format(mode, "o"), "--", path)
            raise CommandError(CommandResult(argv, 1, "", f"chmod: cannot access {path!r}: {exc.strerror}", 0.0)) from None

    def set_file_size(self, path: str, size: int) -> None:
        if self.sudo:  # the file belongs to someone else: truncate(1) under sudo
            self.run(["truncate", "-s", str(size), path])
            return
        import os

        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.ftruncate(fd, size)
            finally:
                os.close(fd)
        except OSError as exc:  # the caller sees what truncate(1) would have said
            argv = ("truncate", "-s", str(size), path)
            raise CommandError(CommandResult(argv, 1, "", f"truncate: cannot open {path!r}: {exc.strerror}", 0.0)) from None

    def read_from(self, path: str, offset: int) -> str:
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def mount_identity(self, path: str) -> str | None:
        return mount_identity(path)

    def signal(self, pid: int, signum: int) -> None:
        os.kill(pid, signum)
        started_command()  # a request to a daemon, as a command would be (see first_spawn)

    def watch(self, path: str) -> FileWatch:
        return InotifyWatch(path)

    def connect_unix(self, path: str, timeout: float) -> socket.socket:
        if self.sudo:  # this process lacks the rights its commands get from sudo
            raise NoSocketAccess(f"{path}: commands on {self.name} go through sudo")
        return _connect_unix(path, timeout)
