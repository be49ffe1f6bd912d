"""hosts.brick: os-brick's `execute` on a Shoal host (real commands on this machine)."""

from __future__ import annotations

import pytest
from oslo_concurrency.processutils import ProcessExecutionError

from shoal.hosts import LocalHost
from shoal.hosts.brick import brick_execute


def test_output_and_input_come_back_as_processutils_gives_them():
    execute = brick_execute(LocalHost())
    assert execute("printf", "%s", "out") == ("out", "")
    assert execute("cat", process_input="fed") == ("fed", "")


def test_an_exit_code_not_accepted_is_processutils_error():
    execute = brick_execute(LocalHost())
    with pytest.raises(ProcessExecutionError) as raised:
        execute("sh", "-c", "echo nope >&2; exit 3", run_as_root=True, root_helper="sudo")
    assert (raised.value.exit_code, raised.value.stderr.strip()) == (3, "nope")
    assert execute("sh", "-c", "exit 3", check_exit_code=[0, 3]) == ("", "")
    assert execute("false", check_exit_code=False) == ("", "")
