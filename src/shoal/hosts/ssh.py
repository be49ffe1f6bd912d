"""Run commands on a storage host over SSH (paramiko), one reused connection per host.

The argv list is quoted item by item with `shlex.join` at this boundary only:
the remote sshd hands a single string to a shell, and quoting every item keeps
it an argv list in effect. No caller ever builds a command string.
"""

from __future__ import annotations

import shlex
import threading
import time
from typing import Sequence

from .runner import (
    DEFAULT_TIMEOUT,
    STATS,
    CommandError,
    CommandResult,
    CommandTimeout,
    Retry,
    Secret,
    log_result,
    run_with_retry,
)


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

    def _connect(self):
        import paramiko

        with self._lock:
            transport = self._client.get_transport() if self._client else None
            if transport is not None and transport.is_active():
                return self._client
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            client.connect(
                self.address,
                port=self.port,
                username=self.user,
                key_filename=self.key_file,
                password=self.password,
                timeout=self.connect_timeout,
                allow_agent=False,
                look_for_keys=self.key_file is None and self.password is None,
            )
            self._client = client
            return client

    def _command(self, argv: Sequence[str]) -> str:
        return shlex.join((["sudo", "-n"] if self.sudo else []) + list(argv))

    def run(self, argv, *, input=None, timeout=None, check=True, retry: Retry | None = None):
        timeout = timeout or DEFAULT_TIMEOUT

        def execute(args) -> CommandResult:
            token = STATS.started(args)
            start = time.monotonic()
            try:
                client = self._connect()
                stdin, stdout, stderr = client.exec_command(self._command(args), timeout=timeout)
                if input is not None:
                    stdin.write(input)
                stdin.channel.shutdown_write()
                out = stdout.read().decode(errors="replace")
                err = stderr.read().decode(errors="replace")
                rc = stdout.channel.recv_exit_status()
            except TimeoutError:
                result = CommandResult(tuple(args), -1, "", "timeout", time.monotonic() - start)
                STATS.finished(token, result.duration, False)
                raise CommandTimeout(result, f"timed out after {timeout}s") from None
            except Exception as exc:  # connection failures become command failures
                with self._lock:
                    self._client = None
                rc, out, err = 255, "", f"ssh: {exc}"
            result = CommandResult(tuple(args), rc, out, err, time.monotonic() - start)
            STATS.finished(token, result.duration, rc == 0)
            log_result(self.name, result, expected_failure=not check)
            return result

        return run_with_retry(execute, argv, check, retry)

    def pipe(self, producer, consumer, *, timeout=None) -> CommandResult:
        """Both ends run on this host; the bytes flow through here between two channels."""
        timeout = timeout or DEFAULT_TIMEOUT * 10
        client = self._connect()
        start = time.monotonic()
        argv = (*producer, "|", *consumer)
        src_in, src_out, src_err = client.exec_command(self._command(producer), timeout=timeout)
        dst_in, dst_out, dst_err = client.exec_command(self._command(consumer), timeout=timeout)
        src_in.channel.shutdown_write()
        while True:
            chunk = src_out.read(1 << 20)
            if not chunk:
                break
            dst_in.write(chunk)
        dst_in.channel.shutdown_write()
        src_rc = src_out.channel.recv_exit_status()
        dst_rc = dst_out.channel.recv_exit_status()
        err = src_err.read().decode(errors="replace") + dst_err.read().decode(errors="replace")
        result = CommandResult(argv, src_rc or dst_rc, dst_out.read().decode(errors="replace"), err, time.monotonic() - start)
        log_result(self.name, result)
        if result.returncode:
            raise CommandError(result)
        return result

    def write_file(self, path: str, content: str, mode: int = 0o644) -> None:
        tmp = f"{path}.shoal-tmp"
        self.run(["mkdir", "-p", path.rsplit("/", 1)[0] or "/"])
        self.run(["tee", tmp], input=content)
        self.run(["chmod", oct(mode)[2:], tmp])
        self.run(["mv", "-f", tmp, path])

    def read_file(self, path: str) -> str | None:
        result = self.run(["cat", path], check=False)
        return result.stdout if result.returncode == 0 else None

    def file_size(self, path: str) -> int:
        out = self.run(["stat", "-c", "%s", path], check=False).stdout.strip()
        return int(out) if out.isdigit() else 0

    def read_from(self, path: str, offset: int) -> str:
        return self.run(["tail", "-c", f"+{offset + 1}", path], check=False).stdout

    def signal(self, pid: int, signum: int) -> None:
        self.run(["kill", f"-{int(signum)}", str(int(pid))])
