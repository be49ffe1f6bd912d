"""The unmodified `openstack share …` admin commands against a real Shoal: share
and snapshot instances (list, show, set --status), the recycle bin (delete
--soft, list --soft-deleted, restore), snapshot properties (Manila 2.73),
one extra spec set and unset, services and pools filtered, and a share listed
by its export location. The share's dataset is checked on ZFS meanwhile."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from tests.integration.share_helpers import wait_gone, zfs_exists

from .test_openstack_share_cli import OPENSTACK, osc, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e


def ids(rows: list[dict]) -> set[str]:
    return {r.get("ID", r.get("id")) for r in rows}


def test_instances_recycle_bin_and_catalogue_with_openstack_cli(osc, shoal_server):
    tag = uuid.uuid4().hex[:8]
    share = osc.json("share", "create", "NFS", "1", "--name", f"admin-cli-{tag}")
    wait_for(osc, "share", share["id"], "available")
    dataset = f"{shoal_server.pool_root}/share-{share['id']}"
    assert zfs_exists(dataset)

    # share instances: one, with the share's id
    instances = osc.json("share", "instance", "list", "--share", share["id"])
    assert ids(instances) == {share["id"]}
    shown = osc.json("share", "instance", "show", share["id"])
    assert shown["share_id"] == share["id"] and shown["status"] == "available"
    osc("share", "instance", "set", share["id"], "--status", "error")
    assert osc.json("share", "show", share["id"])["status"] == "error"
    osc("share", "instance", "set", share["id"], "--status", "available")
    location = next(e for e in osc.json("share", "export", "location", "list", share["id"])
                    if not e.get("Is Admin only", e.get("is_admin_only")))
    path = location.get("Path", location.get("path"))
    assert ids(osc.json("share", "instance", "list", "--export-location", path)) == {share["id"]}
    assert ids(osc.json("share", "list", "--export-location", path)) == {share["id"]}

    # snapshot instances and snapshot properties
    snap = osc.json("share", "snapshot", "create", share["id"], "--name", f"admin-cli-snap-{tag}")
    wait_for(osc, "share snapshot", snap["id"], "available")
    assert ids(osc.json("share", "snapshot", "instance", "list", "--snapshot", snap["id"])) == {snap["id"]}
    assert osc.json("share", "snapshot", "instance", "show", snap["id"])["share_id"] == share["id"]
    osc("share", "snapshot", "instance", "set", snap["id"], "--status", "error")
    assert osc.json("share", "snapshot", "show", snap["id"])["status"] == "error"
    osc("share", "snapshot", "instance", "set", snap["id"], "--status", "available")
    osc("share", "snapshot", "set", snap["id"], "--property", "tier=gold")
    assert "tier" in str(osc.json("share", "snapshot", "show", snap["id"])["properties"])
    osc("share", "snapshot", "delete", snap["id"], "--wait")

    # the recycle bin: out of the list, into the bin, back again; the data stays
    osc("share", "delete", "--soft", share["id"])
    assert share["id"] not in ids(osc.json("share", "list"))
    assert share["id"] in ids(osc.json("share", "list", "--soft-deleted"))
    assert zfs_exists(dataset)
    osc("share", "restore", share["id"])
    assert share["id"] in ids(osc.json("share", "list"))
    assert share["id"] not in ids(osc.json("share", "list", "--soft-deleted"))

    # one extra spec set and unset; pools that meet a type; services by host
    stype = osc.json("share", "type", "create", f"admin-cli-type-{tag}", "false")
    osc("share", "type", "set", stype["id"], "--extra-specs", "vendor_name=Shoal")
    assert "vendor_name" in str(osc.json("share", "type", "show", stype["id"])["optional_extra_specs"])
    assert osc.json("share", "pool", "list", "--share-type", stype["id"])
    osc("share", "type", "set", stype["id"], "--extra-specs", "vendor_name=foobar")
    assert osc.json("share", "pool", "list", "--share-type", stype["id"]) == []
    osc("share", "type", "unset", stype["id"], "vendor_name")
    osc("share", "type", "delete", stype["id"])
    services = osc.json("share", "service", "list", "--host", "shoal@test")
    assert [s.get("Binary", s.get("binary")) for s in services] == ["manila-share"]

    osc("share", "delete", share["id"], "--wait")
    assert not zfs_exists(dataset)


def test_transfer_and_access_properties_with_openstack_cli(osc, shoal_server):
    """`openstack share transfer create/list/accept` between two projects (the second
    one the endpoint of another project), and `share access set --property`."""
    share = osc.json("share", "create", "NFS", "1", "--name", f"cli-transfer-{uuid.uuid4().hex[:8]}")
    wait_for(osc, "share", share["id"], "available")
    rule = osc.json("share", "access", "create", share["id"], "ip", "127.0.0.1")
    osc("share", "access", "set", rule["id"], "--property", "purpose=backup")
    assert "purpose" in str(osc.json("share", "access", "show", rule["id"])["properties"])

    offer = osc.json("share", "transfer", "create", share["id"], "--name", "to-b")
    assert offer["auth_key"]
    assert offer["id"] in ids(osc.json("share", "transfer", "list"))
    assert osc.json("share", "show", share["id"])["status"] == "awaiting_transfer"
    other = uuid.uuid4().hex
    env = {**os.environ, "OS_AUTH_TYPE": "none",
           "OS_ENDPOINT": f"{shoal_server.url}/share/v2/{other}"}
    for key in ("OS_CLOUD", "OS_AUTH_URL", "OS_CLIENT_CONFIG_FILE"):
        env.pop(key, None)
    accepted = subprocess.run([OPENSTACK, "share", "transfer", "accept", offer["id"], offer["auth_key"]],
                              env=env, capture_output=True, text=True, timeout=120)
    assert accepted.returncode == 0, accepted.stderr
    assert share["id"] not in ids(osc.json("share", "list"))
    mine = json.loads(subprocess.run([OPENSTACK, "share", "show", share["id"], "-f", "json"], env=env,
                                     capture_output=True, text=True, timeout=120, check=True).stdout)
    assert mine["project_id"] == other and mine["status"] == "available"
    subprocess.run([OPENSTACK, "share", "delete", share["id"]], env=env, check=True, capture_output=True,
                   timeout=120)
    with shoal_server.client(project=other) as b:
        wait_gone(b, f"/shares/{share['id']}")



def test_share_group_types_with_openstack_cli(osc):
    tag = uuid.uuid4().hex[:8]
    stype = osc.json("share", "type", "create", f"cli-group-member-{tag}", "false")
    gtype = osc.json("share", "group", "type", "create", f"cli-group-{tag}", stype["id"],
                     "--group-specs", "tier=gold")
    assert gtype["name"] == f"cli-group-{tag}"
    assert gtype["id"] in ids(osc.json("share", "group", "type", "list"))
    shown = osc.json("share", "group", "type", "show", gtype["id"])
    assert "tier" in str(shown["group_specs"])
    osc("share", "group", "type", "delete", gtype["id"])
    assert gtype["id"] not in ids(osc.json("share", "group", "type", "list"))
    osc("share", "type", "delete", stype["id"])
