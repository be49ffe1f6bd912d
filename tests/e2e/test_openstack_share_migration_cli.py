"""The unmodified `openstack share migration …` commands (python-manilaclient's
OSC plugin, which sends Manila's experimental header itself) against a Shoal
whose backend holds two pools: start, show (progress), complete -- the share's
host and export location change, its bytes come along -- and, on another
share, start then cancel: nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.replication import replica_server, second_zpool  # noqa: F401 - fixtures

from .test_openstack_share_replica_cli import osc, wait_for  # noqa: F401 - osc is a fixture

pytestmark = pytest.mark.e2e

FLAGS = ("--preserve-metadata", "True", "--preserve-snapshots", "False", "--writable", "True",
         "--nondisruptive", "False")


def export_path(osc, share_id: str) -> str:
    locations = osc.json("share", "export", "location", "list", share_id)
    paths = [loc["Path"] for loc in locations if not loc.get("Is Admin only")]
    return paths[0].partition(":")[2]


def written_share(osc, name: str) -> tuple[dict, str]:
    share = osc.json("share", "create", "NFS", "1", "--name", name)
    wait_for(osc, ["share", "show", share["id"]], "status", "available")
    osc("share", "access", "create", share["id"], "ip", "127.0.0.1", "--access-level", "rw")
    path = export_path(osc, share["id"])
    (Path(path) / "data.txt").write_text(f"the bytes of {name}\n")
    return share, path


def test_migration_commands(osc, replica_server):
    first, second = replica_server.pools
    host = f"shoal@test#{second}"

    share, old_path = written_share(osc, "cli-migrating")
    osc("share", "migration", "start", share["id"], host, *FLAGS)
    shown = wait_for(osc, ["share", "show", share["id"]], "task_state", "migration_driver_phase1_done")
    assert shown["status"] == "migrating" and shown["host"].endswith(f"#{first}"), shown
    progress = osc.json("share", "migration", "show", share["id"])
    assert progress["total_progress"] == 100 and progress["task_state"] == "migration_driver_phase1_done", progress
    osc("share", "migration", "complete", share["id"])
    shown = wait_for(osc, ["share", "show", share["id"]], "task_state", "migration_success")
    assert shown["status"] == "available" and shown["host"] == host, shown
    new_path = export_path(osc, share["id"])
    assert new_path != old_path and new_path.startswith(f"/{replica_server.roots[1]}/"), new_path
    assert (Path(new_path) / "data.txt").read_text() == "the bytes of cli-migrating\n"
    assert not Path(old_path).exists() or not any(Path(old_path).iterdir())

    other, path = written_share(osc, "cli-staying")
    locations = osc.json("share", "export", "location", "list", other["id"])
    osc("share", "migration", "start", other["id"], host, *FLAGS)
    wait_for(osc, ["share", "show", other["id"]], "task_state", "migration_driver_phase1_done")
    osc("share", "migration", "cancel", other["id"])
    shown = wait_for(osc, ["share", "show", other["id"]], "task_state", "migration_cancelled")
    assert shown["status"] == "available" and shown["host"].endswith(f"#{first}"), shown
    assert osc.json("share", "export", "location", "list", other["id"]) == locations
    assert (Path(path) / "data.txt").read_text() == "the bytes of cli-staying\n"

    for item in (share, other):
        osc("share", "delete", item["id"], "--wait")
    assert json.dumps(osc.json("share", "list")).count("cli-") == 0
