"""The unmodified `openstack share replica …` commands (python-manilaclient's OSC
plugin) against a Shoal replicating between two pools: create, list, show
(with export locations), resync, promote and delete; a snapshot of the
replicated share has an instance on each replica (`share snapshot instance list`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.replication import replica_server, second_zpool  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e

OPENSTACK = str(Path(sys.executable).with_name("openstack"))


@pytest.fixture(scope="module")
def osc(replica_server):
    if not Path(OPENSTACK).exists():
        pytest.skip("python-openstackclient is not installed in this venv; run scripts/host-setup")
    env = {**os.environ, "OS_AUTH_TYPE": "none", "OS_ENDPOINT": replica_server.server.share_endpoint}
    for key in ("OS_CLOUD", "OS_AUTH_URL", "OS_CLIENT_CONFIG_FILE"):
        env.pop(key, None)

    def run(*args: str) -> str:
        result = subprocess.run([OPENSTACK, *args], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"openstack {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        return result.stdout

    run.json = lambda *args: json.loads(run(*args, "-f", "json"))
    return run


def wait_for(osc, what: list[str], key: str, value: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        shown = osc.json(*what)
        if shown[key] == value:
            return shown
        assert not str(shown.get("status", "")).startswith("error"), shown
        assert time.monotonic() < deadline, f"{what}: {key} still {shown[key]}"
        time.sleep(0.5)


def test_replica_commands(osc, replica_server):
    share = osc.json("share", "create", "NFS", "1", "--name", "cli-replicated", "--share-type", "replicated")
    wait_for(osc, ["share", "show", share["id"]], "status", "available")
    assert osc.json("share", "show", share["id"])["replication_type"] == "readable"

    created = osc.json("share", "replica", "create", share["id"])
    assert created["share_id"] == share["id"] and created["status"] == "creating"
    wait_for(osc, ["share", "replica", "show", created["id"]], "status", "available")
    shown = wait_for(osc, ["share", "replica", "show", created["id"]], "replica_state", "in_sync")
    assert replica_server.pools[1] in shown["host"]
    locations = shown["export_locations"]
    assert replica_server.roots[1] in (locations if isinstance(locations, str) else json.dumps(locations))

    listed = osc.json("share", "replica", "list", "--share", share["id"])
    assert sorted(r["Replica State"] for r in listed) == ["active", "in_sync"]
    old_active = next(r["ID"] for r in listed if r["Replica State"] == "active")

    # A snapshot of the replicated share: one instance per replica, each available
    # once the copy holds it (`openstack share snapshot instance list`).
    snap = osc.json("share", "snapshot", "create", share["id"], "--name", "cli-replicated-snap")
    wait_for(osc, ["share", "snapshot", "show", snap["id"]], "status", "available")
    deadline = time.monotonic() + 120
    while True:
        instances = osc.json("share", "snapshot", "instance", "list", "--snapshot", snap["id"], "--detailed")
        if len(instances) == 2 and all(i["Status"] == "available" for i in instances):
            break
        assert time.monotonic() < deadline, instances
        time.sleep(0.5)
    assert {i["Share Instance ID"] for i in instances} == {r["ID"] for r in listed}
    osc("share", "snapshot", "delete", snap["id"], "--wait")

    osc("share", "replica", "resync", created["id"])
    osc("share", "replica", "promote", created["id"], "--wait")
    assert osc.json("share", "replica", "show", created["id"])["replica_state"] == "active"
    assert osc.json("share", "replica", "show", old_active)["replica_state"] == "in_sync"
    assert osc.json("share", "show", share["id"])["has_replicas"] is True

    osc("share", "replica", "delete", old_active, "--wait")
    assert [r["ID"] for r in osc.json("share", "replica", "list", "--share", share["id"])] == [created["id"]]
    osc("share", "delete", share["id"], "--wait")
