"""Run commands on a storage host over SSH (paramiko), one reused connection per host.

The argv list is quoted item by item with `shlex.join` at this boundary only:
the remote sshd hands a single string to a shell, and quoting every item keeps
it an argv list in effect. No caller ever builds a command string.

Same contract as `LocalHost`: one deadline per command, retries only for the
failures the caller names, `STATS` counting, secrets masked. A connection that
cannot be made or is lost counts as a failed command (exit 255, like `ssh`).
On a timeout the channel is closed and the connection stays up for the next
command. sshd is asked to kill the command's process group first; it does so
for a non-root login only (OpenSSH signals only privilege-separated sessions,
and a root login is not one), so as root a timed-out command runs on, as it
would after `ssh` itself gave up.
"""

from __future__ import annotations

import errno
import io
import posixpath
import select
import shlex
import socket
import tarfile
import threading
import time
from contextlib import contextmanager, suppress
from typing import Sequence

from .runner import (
    DEFAULT_TIMEOUT,
    STATS,
    CommandError,
    CommandResult,
    CommandTimeout,
    NoSocketAccess,
    Retry,
    Secret,
    log_result,
    run_with_retry,
    started_command,
)
from .ssh_streamlocal import open_unix_stream
from .watch import Sleeping

CHUNK = 1 << 20  # most bytes taken from or given to a channel at once
POLL = 0.1  # longest wait between looks at the channels (send windows have no fd)
LOST = 255  # exit code of a command whose connection failed, as ssh(1) reports it
_PATHS_PER_COMMAND = 500  # far below any host's argument limit
NO_STATUS = "ssh: the command ended without an exit status (killed by a signal, or the connection was lost)"


class _Remote:
    """One command on its own channel: what it printed so far, what is left to send it."""

    def __init__(self, chan, stdin: bool = True):
        self.chan = chan
        self.stdin = stdin  # False: it reads /dev/null, no EOF to send
        self.out = bytearray()
        self.err = bytearray()
        self.pending = b""  # input not sent yet
        self.source: _Remote | None = None  # a command whose stdout is this one's stdin
        self.keep_stdout = True  # False: `out` stays empty, the stdout is someone's input

    @property
    def done(self) -> bool:
        """Exited (or the channel is gone) and everything it printed has been read."""
        c = self.chan
        return c.exit_status_ready() and bool(c.eof_received or c.closed) and not (c.recv_ready() or c.recv_stderr_ready())

    @property
    def stdout_ended(self) -> bool:
        return bool(self.chan.eof_received or self.chan.closed) and not self.chan.recv_ready()

    def returncode(self) -> int:
        return self.chan.recv_exit_status()  # -1: no exit status (killed by a signal, or connection lost)

    def step(self) -> bool:
        """Move what can be moved now; False if there was nothing to do."""
        c, src, moved = self.chan, self.source, False
        if src is not None:
            if c.exit_status_ready() and not src.done:
                src.chan.close()  # the consumer is gone: stop the producer, as a closed pipe would,
                src.keep_stdout = True  # and drop what it had sent
            elif not self.pending and src.chan.recv_ready():
                self.pending, moved = src.chan.recv(CHUNK), True
        if self.pending and c.exit_status_ready():
            self.pending = b""  # nobody left to read it
        if self.pending:
            moved |= self._send()
        elif self.stdin and not c.eof_sent and (src is None or src.stdout_ended):
            _send_eof(c)
        if c.recv_stderr_ready():
            self.err += c.recv_stderr(CHUNK)
            moved = True
        if self.keep_stdout and c.recv_ready():
            self.out += c.recv(CHUNK)
            moved = True
        return moved

    def kill(self, sudo: bool) -> None:
        """Have sshd signal the command (the "signal" request of RFC 4254, OpenSSH 7.9+),
        then close the channel. KILL, as LocalHost does; TERM through sudo, which
        relays TERM to its command but dies of KILL alone."""
        from paramiko.common import cMSG_CHANNEL_REQUEST
        from paramiko.message import Message

        c = self.chan
        if not c.exit_status_ready():
            m = Message()
            m.add_byte(cMSG_CHANNEL_REQUEST)
            m.add_int(c.remote_chanid)
            m.add_string("signal")
            m.add_boolean(False)
            m.add_string("TERM" if sudo else "KILL")
            try:
                c.transport._send_user_message(m)
            except Exception:  # the connection is gone, and the command with it
                pass
        c.close()

    def _send(self) -> bool:
        """Send some pending input, waiting at most POLL for the remote side to take it."""
        self.chan.settimeout(POLL)
        try:
            sent = self.chan.send(self.pending)
        except socket.timeout:
            return True  # waited: the loop looks at the other streams, then tries again
        except OSError:
            sent = len(self.pending)  # the channel closed: the command has exited
        self.pending = self.pending[sent:]
        return True


def _ascii_tar(files: dict[str, str], mode: int) -> str:
    """A tar archive of ASCII files, as text (every byte of it is ASCII then)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, text in files.items():
            data = text.encode("ascii")
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue().decode("ascii")


def _send_eof(chan) -> None:
    """EOF on the channel's input, unless the channel is closed already. sshd frees a
    channel once both sides sent CLOSE (paramiko answers the server's at once), and an
    EOF arriving after that makes it drop the whole connection ("ieof packet referred
    to nonexistent channel"), every other command's too: a quick command that ended
    before its EOF went out did that under load. paramiko's shutdown_write() looks and
    sends in two steps; here both happen under the channel's lock, which paramiko's
    handling of a CLOSE takes too. Not while keys are exchanged again: the send would
    wait for the exchange under that lock while the transport thread, which ends the
    exchange, may wait for the lock (paramiko's own sends let go of it first)."""
    with chan.lock:
        if chan.closed or chan.eof_sent:
            return
        if chan.transport.clear_to_send.is_set():
            chan.transport._send_user_message(chan._send_eof())
            return
    chan.shutdown_write()


def _pump(commands: list[_Remote], deadline: float) -> None:
    """Move bytes until every command has exited and been read; TimeoutError at the deadline."""
    while waiting := [cmd for cmd in commands if not cmd.done]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if any([cmd.step() for cmd in commands]):
            continue
        # Data and EOF on a channel wake select; after EOF a channel's fd stays
        # readable, so only the exit status is left to wait for.
        open_ = [cmd.chan for cmd in waiting if not (cmd.chan.eof_received or cmd.chan.closed)]
        if open_:
            select.select(open_, [], [], min(left, POLL))
        else:
            waiting[0].chan.status_event.wait(min(left, POLL))


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode(errors="replace")


def _failure(exc: Exception) -> str:
    return f"ssh: {type(exc).__name__}: {exc}"


class _Timeout(Exception):
    """The deadline passed; what the command(s) had printed by then."""

    def __init__(self, out: str = "", err: str = ""):
        self.out, self.err = out, err


QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only; elsewhere ACKs keep the kernel's timing


class _PromptAckSocket(socket.socket):
    """A TCP socket that acknowledges what it has read at once.

    sshd sets TCP_NODELAY only on a connection with a terminal, so an answer that
    reaches it in two writes (tgtd writes a reply's header and its body apart)
    leaves as two packets, the second held back by Nagle until the first is
    ACKed; and Linux delays the ACK (40 ms and more) on a connection where each
    request follows an answer. Asking for a quick ACK after each read sends any
    ACK still pending at once (the kernel falls back to delaying as requests go
    out, hence after every read)."""

    __slots__ = ()

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if data and QUICKACK is not None:
            with suppress(OSError):  # closed meanwhile: what was read still counts
                self.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        return data


def _dial(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to sshd, tried on each address the name resolves to (as
    paramiko would), made for small requests answered one at a time (a command,
    a control socket's request): no Nagle on our side, prompt ACKs (see
    _PromptAckSocket)."""
    failure: OSError | None = None
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(address, port, socket.AF_UNSPEC, socket.SOCK_STREAM):
        sock = _PromptAckSocket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            sock.close()
            failure = exc
    raise failure or OSError(errno.EHOSTUNREACH, f"{address}: no address to connect to")


class SSHHost:
    def __init__(
        self,
        address: str,
        user: str = "root",
        port: int = 22,
        key_file: str | None = None,
        password: str | None = None,
        sudo: bool = False,
        connect_timeout: float = 15.0,
        max_sessions: int = 10,
    ):
        self.name = f"{user}@{address}"
        self.address = address
        self.user = user
        self.port = port
        self.key_file = key_file
        self.password = Secret(password) if password else None
        self.sudo = sudo
        self.connect_timeout = connect_timeout
        self._client = None
        self._lock = threading.Lock()
        # sshd refuses more than MaxSessions (default 10) channels at once on a
        # connection: commands beyond that wait here for a free one.
        self._free = max(max_sessions, 2)  # a pipe needs two
        self._freed = threading.Condition()

    def _transport(self):
        """The live connection, made (again) if there is none."""
        import paramiko

        with self._lock:
            transport = self._client.get_transport() if self._client else None
            if transport is not None and transport.is_active():
                return transport
            if self._client is not None:
                self._client.close()
                self._client = None
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(
                    self.address,
                    port=self.port,
                    sock=_dial(self.address, self.port, self.connect_timeout),
                    username=self.user,
                    key_filename=self.key_file,
                    password=self.password,
                    timeout=self.connect_timeout,
                    banner_timeout=self.connect_timeout,
                    auth_timeout=self.connect_timeout,
                    allow_agent=False,
                    look_for_keys=self.key_file is None and self.password is None,
                )
            except BaseException:
                client.close()
                raise
            self._client = client
            return client.get_transport()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _command(self, argv: Sequence[str], stdin: bool) -> str:
        """The command line sshd hands to the login shell. A command given no input
        reads /dev/null: no EOF has to be sent on its channel (see _send_eof). `exec`
        keeps the command the session's process, as a plain command line is (the
        signal that kill() asks sshd for must reach it, not a shell above it)."""
        line = shlex.join((["sudo", "-n"] if self.sudo else []) + list(argv))
        return line if stdin else f"exec {line} </dev/null"

    @contextmanager
    def _sessions(self, count: int, deadline: float):
        """Hold `count` of the connection's sessions, waiting until `deadline` at most."""
        with self._freed:
            if not self._freed.wait_for(lambda: self._free >= count, max(deadline - time.monotonic(), 0)):
                raise _Timeout(err="ssh: no free session on the connection before the deadline")
            self._free -= count
        try:
            yield
        finally:
            with self._freed:
                self._free += count
                self._freed.notify_all()

    def _open(self, argv: Sequence[str], stdin: bool):
        """A channel running `argv`. Nothing runs until a channel opens, so opening
        is tried again: on a new connection once if the reused one is found dead,
        and for a while if sshd refuses the channel (a session closed just now
        may not be freed yet)."""
        import paramiko

        give_up = time.monotonic() + self.connect_timeout
        reconnected = False
        while True:
            transport = self._transport()
            try:
                chan = transport.open_session(timeout=self.connect_timeout)
                break
            except paramiko.ChannelException:
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.05)
            except (paramiko.SSHException, EOFError, OSError):
                if reconnected or transport.is_active():
                    raise
                reconnected = True
        chan.exec_command(self._command(argv, stdin))
        started_command()
        return chan

    def _start(self, *commands: tuple[Sequence[str], bool]) -> list[_Remote]:
        """The commands started, each (argv, whether it is given input) on its own
        channel; or raises why not."""
        started: list[_Remote] = []
        try:
            for argv, stdin in commands:
                started.append(_Remote(self._open(argv, stdin), stdin))
        except BaseException:
            for cmd in started:
                cmd.chan.close()
            raise
        return started

    def _complete(self, commands: list[_Remote], deadline: float) -> None:
        """Run `commands` to their end; at the deadline kill them and raise _Timeout."""
        try:
            _pump(commands, deadline)
        except TimeoutError:
            for cmd in commands:
                cmd.kill(self.sudo)
            raise _Timeout("".join(_text(c.out) for c in commands), "".join(_text(c.err) for c in commands)) from None
        finally:
            for cmd in commands:
                cmd.chan.close()

    def _run_once(self, argv: tuple[str, ...], input: str | None, deadline: float) -> tuple[int, str, str]:
        try:
            (cmd,) = self._start((argv, input is not None))
        except Exception as exc:  # connection failures become command failures
            return LOST, "", _failure(exc)
        cmd.pending = input.encode() if input is not None else b""
        try:
            self._complete([cmd], deadline)
        except _Timeout:
            raise
        except Exception as exc:  # the connection broke under the command
            return LOST, _text(cmd.out), _text(cmd.err) + _failure(exc)
        rc = cmd.returncode()
        return (LOST, _text(cmd.out), _text(cmd.err) + NO_STATUS) if rc == -1 else (rc, _text(cmd.out), _text(cmd.err))

    def run(self, argv, *, input=None, timeout=None, check=True, retry: Retry | None = None):
        timeout = timeout or DEFAULT_TIMEOUT

        def execute(args) -> CommandResult:
            args = tuple(args)
            token = STATS.started(args)
            start = time.monotonic()
            try:
                with self._sessions(1, start + timeout):
                    rc, out, err = self._run_once(args, input, start + timeout)
            except _Timeout as late:
                result = CommandResult(args, -1, late.out, late.err, time.monotonic() - start)
                STATS.finished(token, result.duration, False)
                log_result(self.name, result)
                raise CommandTimeout(result, f"timed out after {timeout}s") from None
            result = CommandResult(args, rc, out, err, time.monotonic() - start)
            STATS.finished(token, result.duration, rc == 0)
            log_result(self.name, result, expected_failure=not check)
            return result

        return run_with_retry(execute, argv, check, retry)

    def _pipe_once(self, producer, consumer, deadline: float) -> tuple[int, str, str, str]:
        """(returncode, consumer's stdout, both stderrs, which end failed how)."""
        try:
            src, dst = self._start((producer, False), (consumer, True))
        except Exception as exc:
            return LOST, "", _failure(exc), ""
        src.keep_stdout = False
        dst.source = src
        try:
            self._complete([src, dst], deadline)
        except _Timeout:
            raise
        except Exception as exc:  # the connection broke under the commands
            return LOST, "", _text(src.err) + _text(dst.err) + _failure(exc), ""
        src_rc, dst_rc = src.returncode(), dst.returncode()
        out, err = _text(dst.out), _text(src.err) + _text(dst.err)
        if src_rc > 0:
            return src_rc, out, err, f"producer exit {src_rc}"
        if dst_rc > 0:
            return dst_rc, out, err, f"consumer exit {dst_rc}"
        if dst_rc:
            return LOST, out, err + NO_STATUS, "consumer killed"
        if src_rc:
            return LOST, out, err, "producer stopped: the consumer exited before reading all its output"
        return 0, out, err, ""

    def pipe(self, producer, consumer, *, timeout=None) -> CommandResult:
        """`producer | consumer`, both on this host; the bytes flow through here
        between two channels. One deadline covers both ends, and a failure of
        either end fails the pipe (saying which)."""
        timeout = timeout or DEFAULT_TIMEOUT * 10
        start = time.monotonic()
        argv = (*producer, "|", *consumer)
        token = STATS.started(argv)
        kind, reason = CommandError, ""
        try:
            with self._sessions(2, start + timeout):
                rc, out, err, reason = self._pipe_once(producer, consumer, start + timeout)
        except _Timeout as late:
            rc, out, err, kind, reason = -1, "", late.err, CommandTimeout, f"timed out after {timeout}s"
        result = CommandResult(argv, rc, out, err, time.monotonic() - start)
        STATS.finished(token, result.duration, rc == 0)
        log_result(self.name, result)
        if rc:
            raise kind(result, reason)
        return result

    def write_file(self, path: str, content: str, mode: int = 0o644) -> None:
        """Atomic: the content goes to a new private temporary file that is renamed over `path`."""
        directory, base = posixpath.split(path)
        directory = directory or "."
        self.run(["mkdir", "-p", directory])
        tmp = self.run(["mktemp", posixpath.join(directory, f".{base}.XXXXXX")]).stdout.strip()
        try:
            self.run(["dd", f"of={tmp}", "status=none"], input=content)
            self.run(["chmod", format(mode, "o"), tmp])
            self.run(["mv", "-f", tmp, path])
        except BaseException:
            self.run(["rm", "-f", tmp], check=False)
            raise

    def write_files(self, directory: str, files: dict[str, str], mode: int = 0o644) -> None:
        """Four commands for any number of files: a tar archive unpacked into a new
        private directory beside them, whose files are then renamed into place (each
        atomically, as write_file). Files whose text is not ASCII (the archive goes as
        the command's text input) are written one by one."""
        for name in files:
            if "/" in name or name in ("", ".", ".."):
                raise ValueError(f"{name!r} is not a file name")
        plain = {name: text for name, text in files.items() if text.isascii() and name.isascii()}
        for name in files.keys() - plain.keys():
            self.write_file(posixpath.join(directory, name), files[name], mode)
        if not plain:
            return
        self.run(["mkdir", "-p", directory])
        staging = self.run(["mktemp", "-d", posixpath.join(directory, ".batch.XXXXXX")]).stdout.strip()
        try:
            self.run(["tar", "-x", "--no-same-owner", "-C", staging, "-f", "-"], input=_ascii_tar(plain, mode))
            self.run(["find", staging, "-mindepth", "1", "-maxdepth", "1", "-type", "f",
                      "-exec", "mv", "-f", "-t", directory, "--", "{}", "+"])
        finally:
            self.run(["rm", "-rf", "--", staging], check=False)

    def remove_files(self, paths: list[str]) -> None:
        for start in range(0, len(paths), _PATHS_PER_COMMAND):
            self.run(["rm", "-f", "--", *paths[start:start + _PATHS_PER_COMMAND]])

    def _missing(self, path: str) -> bool:
        return self.run(["test", "-e", path], check=False).returncode == 1

    def read_file(self, path: str) -> str | None:
        """The file's text, None if it does not exist; other failures raise."""
        result = self.run(["cat", path], check=False)
        if result.returncode == 0:
            return result.stdout
        if self._missing(path):
            return None
        raise CommandError(result)

    def remove_file(self, path: str) -> None:
        self.run(["rm", "-f", path])

    def file_size(self, path: str) -> int:
        """Size of a file in bytes, 0 if it does not exist."""
        result = self.run(["stat", "-c", "%s", path], check=False)
        if result.returncode == 0:
            return int(result.stdout.strip())
        if self._missing(path):
            return 0
        raise CommandError(result)

    def mount_identity(self, path: str) -> str | None:
        """The device number only (`stat` has no unique mount id to print): a
        mount made again with the number of the one before goes unseen here."""
        result = self.run(["stat", "-c", "%d", path], check=False)
        return f"dev:{result.stdout.strip()}" if result.returncode == 0 and result.stdout.strip().isdigit() else None

    def set_mode(self, path: str, mode: int) -> None:
        self.run(["chmod", format(mode, "o"), "--", path])

    def set_file_size(self, path: str, size: int) -> None:
        self.run(["truncate", "-s", str(size), path])

    def read_from(self, path: str, offset: int) -> str:
        """A file's text from byte `offset` on ('' if it does not exist)."""
        result = self.run(["tail", "-c", f"+{int(offset) + 1}", path], check=False)
        if result.returncode == 0:
            return result.stdout
        if self._missing(path):
            return ""
        raise CommandError(result)

    def signal(self, pid: int, signum: int) -> None:
        self.run(["kill", f"-{int(signum)}", str(int(pid))])

    def connect_unix(self, path: str, timeout: float):
        """A stream to the unix socket `path` on the host through this connection (see
        ssh_streamlocal: no process on the host). Through sudo there is none: the
        login's own rights would apply there, not root's."""
        import paramiko

        if self.sudo:
            raise NoSocketAccess(f"{path}: commands on {self.name} go through sudo")
        reconnected = False
        while True:
            try:
                transport = self._transport()
            except Exception as exc:  # as a command would: the connection cannot be made
                raise ConnectionAbortedError(errno.ECONNABORTED, f"{self.name}: {_failure(exc)}") from None
            try:
                return open_unix_stream(transport, path, timeout)
            except (paramiko.SSHException, EOFError) as exc:  # the channel's own refusals are mapped inside
                if reconnected or transport.is_active():
                    raise ConnectionAbortedError(errno.ECONNABORTED, f"{self.name}: {_failure(exc)}") from None
                reconnected = True  # a reused connection found dead: once more on a new one

    def watch(self, path: str) -> Sleeping:
        """Nothing tells this side of the connection of a remote write: the caller's interval stands."""
        return Sleeping()
