"""`shoal doctor`, run as a user runs it, on a config whose only backend is a
`zfssa_iscsi` (or `zfssa_nfs`) backend on the ZFSSA emulator (tests/emulators/zfssa): a wrong
pool, a project that does not exist, a target group that does not exist, a
wrong password, a service the backend needs offline (replication for a
replication_ip; nfs for a `zfssa_nfs` backend) each give one line that says
what is wrong and how to fix it, and exit 1; the right settings (after a
start made the project and target) give exit 0. Never a traceback, never the
password."""

from __future__ import annotations

import subprocess

import pytest

from shoal.drivers.zfssa.config import ZfssaIscsiBackendConfig, ZfssaNfsBackendConfig
from shoal.drivers.zfssa.iscsi import ZfssaIscsiVolumeDriver
from shoal.drivers.zfssa.nfs import ZfssaNfsVolumeDriver
from shoal.hosts import LocalHost
from tests.fixtures.shoal import REPO, SHOAL, backend_table
from tests.integration.zfssa_helpers import (
    appliance_table,
    iscsi_table,
    nfs_table,
    token,
)

pytestmark = pytest.mark.integration


def doctor(tmp_path, table: dict) -> subprocess.CompletedProcess:
    config = tmp_path / f"shoal-{token()}.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n[api]\nauth = "noauth"\n'
                      f'[database]\nurl = "sqlite:///{tmp_path}/shoal.db"\n' + backend_table("zfssa", table))
    if not (tmp_path / "shoal.db").exists():  # the schema, as an installation has it
        subprocess.run([*SHOAL, "--config", str(config), "db", "upgrade"], capture_output=True, timeout=300,
                       cwd=REPO, check=True)
    return subprocess.run([*SHOAL, "--config", str(config), "doctor"], capture_output=True, text=True, timeout=300,
                          cwd=REPO, check=False)


def problem_lines(done: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return [line for line in done.stdout.splitlines() if line.startswith("PROBLEM")]


@pytest.fixture(scope="module")
def table(zfssa_appliance):
    """Right settings, with the project, target and groups a start makes."""
    right = iscsi_table(zfssa_appliance)
    driver = ZfssaIscsiVolumeDriver("zfssa", ZfssaIscsiBackendConfig.model_validate(right))
    driver.start()
    return right


def test_doctor_names_each_misconfiguration_with_its_fix(tmp_path, table, zfssa_appliance):
    """emulator: one line per mistake, naming the setting and the fix; exit 1."""
    cases = {
        "wrong pool": ({"pool": "no-such-pool"}, ["pool 'no-such-pool' does not exist", "fix: set `pool`"]),
        "missing project": ({"project": f"never-made-{token()}"}, ["does not exist in pool", "fix:"]),
        "missing image cache project": ({"cache_project": f"never-made-{token()}"},
                                        ["does not exist in pool", "correct `cache_project`"]),
        "missing target group": ({"target_group": f"never-made-{token()}"}, ["target 'never-made-", "fix:"]),
        "wrong password": ({"appliance": {**appliance_table(zfssa_appliance), "password": "not-the-password"}},
                           ["refused", "check `appliance` in [backends.zfssa]"]),
    }
    for case, (change, words) in cases.items():
        done = doctor(tmp_path, {**table, **change})
        lines = problem_lines(done)
        assert done.returncode == 1, f"{case}: {done.stdout}{done.stderr}"
        assert len(lines) == 1 and lines[0].startswith("PROBLEM  backend zfssa: "), f"{case}: {lines}"
        assert all(word in lines[0] for word in words), f"{case}: {lines[0]}"
        assert zfssa_appliance.password not in done.stdout + done.stderr
        assert "not-the-password" not in done.stdout + done.stderr


def test_doctor_passes_the_right_settings(tmp_path, table, zfssa_appliance):
    """emulator: exit 0 and the ok line."""
    done = doctor(tmp_path, table)
    assert problem_lines(done) == [] and done.returncode == 0, done.stdout + done.stderr
    assert "ok: 1 backend(s) ready" in done.stdout
    assert zfssa_appliance.password not in done.stdout + done.stderr


def test_doctor_names_the_replication_service_a_replication_ip_needs(tmp_path, table, zfssa_appliance):
    """emulator: with replication_ip set and the appliance's replication
    service disabled, one line names the service and how to enable it; with
    the service online, no problem."""
    from shoal.drivers.zfssa.appliance import Appliance
    from shoal.drivers.zfssa.config import ApplianceAccess
    from shoal.drivers.zfssa.rest import RestClient

    if not zfssa_appliance.emulated:
        pytest.skip("this test disables the appliance's replication service: emulator only")
    api = Appliance(RestClient(ApplianceAccess.model_validate(appliance_table(zfssa_appliance))))
    with_ip = {**table, "replication_ip": zfssa_appliance.replication_ip}
    api.rest.call("PUT", "/service/v1/services/replication/disable", ok=(202,))
    try:
        done = doctor(tmp_path, with_ip)
    finally:
        api.rest.call("PUT", "/service/v1/services/replication/enable", ok=(202,))
    lines = problem_lines(done)
    assert done.returncode == 1 and len(lines) == 1, done.stdout + done.stderr
    assert "replication service is" in lines[0] and "fix: enable it" in lines[0] and "replication_ip" in lines[0]
    done = doctor(tmp_path, with_ip)
    assert problem_lines(done) == [] and done.returncode == 0, done.stdout + done.stderr


def test_doctor_names_the_nfs_service_a_zfssa_nfs_backend_needs(tmp_path, zfssa_appliance):
    """emulator: a `zfssa_nfs` backend (its share made by a start) on an
    appliance whose nfs service is disabled: one line names the service and
    how to enable it, exit 1; with the service online, exit 0."""
    if not zfssa_appliance.emulated:
        pytest.skip("this test disables the appliance's nfs service: emulator only")
    nfs = nfs_table(zfssa_appliance)
    driver = ZfssaNfsVolumeDriver("zfssa", ZfssaNfsBackendConfig.model_validate(nfs), LocalHost())
    driver.start()
    driver.api.rest.call("PUT", "/service/v1/services/nfs/disable", ok=(202,))
    try:
        done = doctor(tmp_path, nfs)
    finally:
        driver.api.enable_service("nfs")
    lines = problem_lines(done)
    assert done.returncode == 1 and len(lines) == 1, done.stdout + done.stderr
    assert "nfs service is disabled" in lines[0] and "fix:" in lines[0], lines[0]
    assert zfssa_appliance.password not in done.stdout + done.stderr
    done = doctor(tmp_path, nfs)
    assert problem_lines(done) == [] and done.returncode == 0, done.stdout + done.stderr
