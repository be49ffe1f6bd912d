"""Commands on a storage host over SSH feed the same /metrics series by verb as
local ones: counted, timed, failures and timeouts as errors, a pipe under both
its verbs, and no argument or secret in a label (a real OpenSSH server, the
``sshd`` fixture)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest

from shoal.hosts import CommandTimeout, Secret, SSHHost

pytestmark = pytest.mark.integration


def sample(name: str, verb: str) -> float:
    return REGISTRY.get_sample_value(name, {"verb": verb}) or 0.0


def test_ssh_commands_feed_their_verb_series(sshd, tmp_path):
    host = SSHHost(sshd.address, port=sshd.port, key_file=sshd.key_file)
    marker = f"{tmp_path}/volume-4d9b0f9e-2c51-4e7a-8f0e-3b6a1c2d5e7f"
    names = ("shoal_commands_total", "shoal_command_errors_total", "shoal_command_duration_seconds_count")
    before = {(n, v): sample(n, v) for n in names for v in ("touch", "sleep", "cat | wc")}
    try:
        host.run(["touch", marker])
        host.run(["touch", "--password-is", Secret("hunter2-secret")], check=False)  # fails: no such option
        with pytest.raises(CommandTimeout):
            host.run(["sleep", "5"], timeout=0.3)
        host.pipe(["cat", marker], ["wc", "-c"])
    finally:
        host.close()

    def moved(name: str, verb: str) -> float:
        return sample(name, verb) - before[(name, verb)]

    assert moved("shoal_commands_total", "touch") == 2 and moved("shoal_command_errors_total", "touch") == 1
    assert moved("shoal_command_duration_seconds_count", "touch") == 2
    assert moved("shoal_commands_total", "sleep") == 1 and moved("shoal_command_errors_total", "sleep") == 1
    assert moved("shoal_commands_total", "cat | wc") == 1 and moved("shoal_command_errors_total", "cat | wc") == 0
    assert sample("shoal_commands_running", "sleep") == 0
    page = generate_latest(REGISTRY).decode()
    assert "4d9b0f9e" not in page and "hunter2" not in page and str(tmp_path) not in page
