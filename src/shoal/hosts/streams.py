"""A long command whose output is read as it comes (e.g. `qemu-img convert -p`,
whose progress lines feed a resource's progress), on this machine or over SSH.

The process is started as one end of a transfer (`transfer._start`): it dies with
Shoal (PR_SET_PDEATHSIG) or with the SSH connection, so after a crash no orphan
keeps writing into a volume that recovery is about to mark `error`. Started
inside `transfer.owned_by(owner)` (a flow), it belongs to that owner:
`transfer.stop(owner)` ends it (cancel).
"""

from __future__ import annotations

import os
import select
import time
from typing import Callable, Sequence

from .runner import STATS, CommandError, CommandResult, CommandTimeout, log_result
from . import transfer
from .transfer import CHUNK, _LocalEnd, _register, _start, _unregister

DEFAULT_TIMEOUT = 24 * 3600.0


def run_reporting(host, argv: Sequence[str], on_output: Callable[[bytes], None], *,
                  timeout: float | None = None) -> CommandResult:
    """Run `argv` on `host`, handing each piece of its stdout to `on_output` as it
    arrives; raise CommandError (CommandTimeout past `timeout` seconds, the process
    killed) unless it exits 0. The result's stdout is empty: it went to `on_output`."""
    timeout = timeout or DEFAULT_TIMEOUT
    start = time.monotonic()
    deadline = start + timeout
    token = STATS.started(argv)

    def finish(rc: int, err: str, kind=None, reason: str = "") -> CommandResult:
        result = CommandResult(tuple(argv), rc, "", err, time.monotonic() - start)
        STATS.finished(token, result.duration, rc == 0)
        log_result(host.name, result)
        if kind is not None:
            raise kind(result, reason)
        return result

    owner = getattr(transfer._current, "owner", None)
    try:
        end = _start(host, argv, reads=True)
    except Exception as exc:
        finish(127, f"could not start: {exc}", CommandError)
    try:
        _register(owner, end)  # Stopped (the process killed) when the owner was stopped already
    except transfer.Stopped:
        end.wait(1)
        finish(-9, end.stderr())
        raise
    try:
        while True:
            data = _read(end, deadline)
            if not data:
                break
            on_output(data)
    except TimeoutError:
        end.kill()
        end.wait(1)
        finish(-1, end.stderr(), CommandTimeout, f"timed out after {timeout}s")
    except BaseException:
        end.kill()
        end.wait(1)
        raise
    finally:
        _unregister(owner, end)
    rc = end.wait(deadline - time.monotonic())
    return finish(rc, end.stderr(), CommandError if rc else None)


def _read(end, deadline: float) -> bytes:
    if not isinstance(end, _LocalEnd):
        return end.read(deadline)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if select.select([end.fileno()], [], [], min(left, 1.0))[0]:
            return os.read(end.fileno(), CHUNK)
