"""The unmodified `openstack share group …` commands (python-manilaclient's OSC plugin)
against a real Shoal: a group with two shares, a group snapshot of it (a ZFS snapshot
per member, checked on ZFS), its members listed, a group made from it holding a share
made from each member, and everything deleted in the order Manila requires."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.share_helpers import zfs

from .test_openstack_share_cli import osc, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e


def _snapshots(dataset: str) -> set[str]:
    res = zfs("list", "-H", "-o", "name", "-t", "snapshot", "-r", dataset, check=False)
    return {n for n in res.stdout.split() if n.startswith(dataset + "@")}


def test_share_group_snapshots_with_openstack_cli(osc, shoal_server):
    tag = uuid.uuid4().hex[:8]
    stype = osc.json("share", "type", "create", f"cli-sgs-{tag}", "false", "--snapshot-support", "true",
                     "--create-share-from-snapshot-support", "true")
    gtype = osc.json("share", "group", "type", "create", f"cli-sgs-{tag}", stype["id"])
    group = osc.json("share", "group", "create", "--name", f"cli-sgs-{tag}", "--share-types", stype["id"],
                     "--share-group-type", gtype["id"], "--wait")
    assert group["status"] == "available"
    shares = []
    for size in ("1", "2"):
        share = osc.json("share", "create", "NFS", size, "--share-type", stype["id"], "--share-group", group["id"])
        shares.append(wait_for(osc, "share", share["id"], "available"))

    snap = osc.json("share", "group", "snapshot", "create", group["id"], "--name", f"cli-sgs-{tag}", "--wait")
    assert snap["status"] == "available" and snap["share_group_id"] == group["id"]
    members = osc.json("share", "group", "snapshot", "members", "list", snap["id"])
    sizes = {m["Share ID"]: int(m["Size"]) for m in members}
    assert sizes == {s["id"]: int(s["size"]) for s in shares}
    for share in shares:  # one ZFS snapshot each, and no share snapshot
        dataset = f"{shoal_server.pool_root}/share-{share['id']}"
        assert len(_snapshots(dataset)) == 1
        assert osc.json("share", "snapshot", "list", "--share", share["id"]) == []
    listed = osc.json("share", "group", "snapshot", "list", "--share-group", group["id"])
    assert [s.get("ID", s.get("id")) for s in listed] == [snap["id"]]
    osc("share", "group", "snapshot", "set", snap["id"], "--description", "both shares")
    assert osc.json("share", "group", "snapshot", "show", snap["id"])["description"] == "both shares"

    copy = osc.json("share", "group", "create", "--name", f"cli-sgs-copy-{tag}", "--share-group-type", gtype["id"],
                    "--source-share-group-snapshot", snap["id"], "--wait")
    assert copy["status"] == "available" and copy["source_share_group_snapshot_id"] == snap["id"]
    copies = osc.json("share", "list", "--share-group", copy["id"], "--long")
    assert sorted(int(s.get("Size", s.get("size"))) for s in copies) == [1, 2]

    # a group with a snapshot is not deleted; the snapshot goes first, then shares, then groups
    assert osc("share", "group", "delete", group["id"], check=False).returncode != 0
    osc("share", "group", "snapshot", "delete", snap["id"], "--wait")
    for g, members_of in ((copy, copies), (group, shares)):
        for share in members_of:
            osc("share", "delete", share.get("ID", share.get("id")), "--share-group", g["id"], "--wait")
        osc("share", "group", "delete", g["id"], "--wait")
    osc("share", "group", "type", "delete", gtype["id"])
    osc("share", "type", "delete", stype["id"])
