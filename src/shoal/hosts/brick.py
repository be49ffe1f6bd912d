"""os-brick's connectors run their commands through an `execute` callable of
oslo.concurrency's `processutils.execute` shape; this one runs them on a Shoal
host, so a connector starts no process (nor privsep daemon) of its own."""

from __future__ import annotations

from collections.abc import Callable

from oslo_concurrency.processutils import ProcessExecutionError

from .runner import Host

BRICK_TIMEOUT = 120.0  # seconds; a connector's commands (blockdev, ...) are quick


def _accepted(check_exit_code) -> tuple[int, ...] | None:
    """processutils' check_exit_code: True (0 only), False (anything), an int or a list."""
    if check_exit_code is True:
        return (0,)
    if check_exit_code is False:
        return None
    if isinstance(check_exit_code, int):
        return (check_exit_code,)
    return tuple(check_exit_code)


def brick_execute(host: Host, timeout: float = BRICK_TIMEOUT) -> Callable[..., tuple[str, str]]:
    """An `execute` for os-brick running on `host`: (stdout, stderr), or
    ProcessExecutionError for an exit code not accepted. Root comes from the
    host (its `sudo`), so os-brick's run_as_root and root_helper are ignored."""

    def execute(*cmd, process_input=None, check_exit_code=True, run_as_root=False, root_helper=None,
                **_ignored) -> tuple[str, str]:
        argv = [str(part) for part in cmd]
        result = host.run(argv, input=process_input, timeout=timeout, check=False)
        accepted = _accepted(check_exit_code)
        if accepted is not None and result.returncode not in accepted:
            raise ProcessExecutionError(stdout=result.stdout, stderr=result.stderr, exit_code=result.returncode,
                                        cmd=" ".join(argv))
        return result.stdout, result.stderr

    return execute
