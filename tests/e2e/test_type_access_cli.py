"""Private types through the unmodified `openstack` client: `volume type create
--private`, `volume type set/unset --project`, `share type create --public false`,
`share type access create/list/delete`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

OPENSTACK = Path(sys.executable).with_name("openstack")


def openstack(endpoint: str):
    """`openstack …` against one Shoal endpoint in noauth mode; `.json(…)` parses `-f json`."""
    if not OPENSTACK.exists():
        pytest.skip("python-openstackclient is not installed in this venv; run scripts/host-setup")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CINDER_", "MANILA_"))}
    env.update(OS_AUTH_TYPE="none", OS_ENDPOINT=endpoint)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(OPENSTACK), *args], env=env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    run.json = lambda *args: json.loads(run(*args, "-f", "json").stdout)
    return run


def cinder(server):
    if not OPENSTACK.with_name("cinder").exists():
        pytest.skip("python-cinderclient is not installed in this venv; run scripts/host-setup")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CINDER_"))}
    env.update(OS_AUTH_TYPE="noauth", OS_USER_ID="admin", OS_PROJECT_ID=server.project,
               CINDER_ENDPOINT=f"{server.url}/volume/v3/{server.project}")

    def run(*args: str) -> str:
        result = subprocess.run([str(OPENSTACK.with_name("cinder")), *args], env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, f"cinder {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        return result.stdout

    return run


def test_private_volume_type_with_openstack_cli(shoal_server):
    """`openstack volume type set --project` looks the project up in Identity first,
    which a noauth endpoint cannot answer; the access list is changed with the
    `cinder` client here (cinderclient takes the project id as it is)."""
    osc = openstack(f"{shoal_server.url}/volume/v3/{shoal_server.project}")
    cli = cinder(shoal_server)
    name, other = f"cli-private-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    created = osc.json("volume", "type", "create", "--private", name)
    try:
        assert created["is_public"] is False
        cli("type-access-add", "--volume-type", name, "--project-id", other)
        assert other in cli("type-access-list", "--volume-type", name)
        assert other in str(osc.json("volume", "type", "show", name)["access_project_ids"])
        listed = {t["Name"]: t for t in osc.json("volume", "type", "list", "--private", "--long")}
        assert name in listed and listed[name]["Is Public"] is False
        assert name not in {t["Name"] for t in osc.json("volume", "type", "list", "--public")}
        cli("type-access-remove", "--volume-type", name, "--project-id", other)
        assert other not in cli("type-access-list", "--volume-type", name)
    finally:
        osc("volume", "type", "delete", name)


def test_private_share_type_with_openstack_cli(shoal_server):
    osc = openstack(shoal_server.share_endpoint)
    name, other = f"cli-private-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    created = osc.json("share", "type", "create", name, "false", "--public", "false")
    try:
        assert str(created["visibility"]).lower() == "private"
        osc("share", "type", "access", "create", name, other)
        access = osc.json("share", "type", "access", "list", name)
        assert [a["Project ID"] for a in access] == [other]
        osc("share", "type", "access", "delete", name, other)
        assert osc.json("share", "type", "access", "list", name) == []
        listed = {t["Name"]: t for t in osc.json("share", "type", "list", "--all")}
        assert str(listed[name]["Visibility"]).lower() == "private"
    finally:
        osc("share", "type", "delete", name)
