"""Share group snapshots (Manila 2.31+) on real ZFS: a snapshot of a group is a ZFS
snapshot of each member share, named from the member's id; a group made from it
holds a new share per member with the data the member had when the snapshot was
taken (written and read over NFS). What Manila refuses: a group or a share a group
snapshot depends on cannot be deleted, a snapshot of a group that is not there is
a 400, the quotas on groups and group snapshots hold."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest

from .share_helpers import (
    fault,
    nfs_ls,
    nfs_read,
    nfs_write,
    share_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
    zfs,
)

pytestmark = pytest.mark.integration

DHSS = {"driver_handles_share_servers": "False", "snapshot_support": "True",
        "create_share_from_snapshot_support": "True"}


def _snapshots_of(dataset: str) -> set[str]:
    res = zfs("list", "-H", "-o", "name", "-t", "snapshot", "-r", dataset, check=False)
    return {name for name in res.stdout.split() if name.startswith(dataset + "@")}


def _types(client, name: str) -> tuple[dict, dict]:
    resp = client.post("/types", json={"share_type": {"name": name, "extra_specs": DHSS}})
    assert resp.status_code == 200, resp.text
    stype = resp.json()["share_type"]
    resp = client.post("/share-group-types", json={"share_group_type": {"name": name, "share_types": [stype["id"]]}})
    assert resp.status_code == 200, resp.text
    return stype, resp.json()["share_group_type"]


def _group(client, gtype: dict, **fields) -> dict:
    resp = client.post("/share-groups", json={"share_group": {"share_group_type_id": gtype["id"], **fields}})
    assert resp.status_code == 202, resp.text
    return resp.json()["share_group"]


def _available_group(client, name: str) -> tuple[dict, dict, dict]:
    """A share type, a group type of it and an available group of that: (type, group type, group)."""
    stype, gtype = _types(client, name)
    group = wait_for_status(client, f"/share-groups/{_group(client, gtype, share_types=[stype['id']])['id']}",
                            "available")
    return stype, gtype, group


def _group_snapshot(client, group_id: str, **fields):
    return client.post("/share-group-snapshots", json={"share_group_snapshot": {"share_group_id": group_id, **fields}})


def _delete(client, path: str, params: dict | None = None) -> None:
    resp = client.delete(path, params=params)
    assert resp.status_code == 202, resp.text
    wait_gone(client, path)


def test_a_group_snapshot_and_a_group_made_from_it(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    name = f"sgs-{uuid.uuid4().hex[:8]}"
    stype, gtype, group = _available_group(client, name)
    small = api.create_share(size=1, share_type=stype["id"], share_group_id=group["id"])
    big = api.create_share(size=2, share_type=stype["id"], share_group_id=group["id"])
    paths = {s["id"]: api.mountpoint(s["id"]) for s in (small, big)}
    for share in (small, big):
        api.allow(share["id"])
        assert nfs_write(server, paths[share["id"]], "before.txt", f"{share['id']} before\n").returncode == 0

    # what Manila refuses before anything is made
    fault(_group_snapshot(client, "not-a-uuid"), 400)
    fault(_group_snapshot(client, str(uuid.uuid4())), 400)  # no such group
    fault(client.post("/share-group-snapshots", json={"share_group_snapshot": {}}), 400)
    fault(client.get("/share-group-snapshots", headers={"X-OpenStack-Manila-API-Version": "2.30"}), 404)
    # experimental below 2.55, as Manila's: only for a call that says so
    old = {"X-OpenStack-Manila-API-Version": "2.31"}
    fault(client.get("/share-group-snapshots", headers=old), 404)
    fault(client.get("/share-group-types", headers=old), 404)
    assert client.get("/share-group-snapshots", headers={**old, "X-OpenStack-Manila-API-Experimental": "true"}
                      ).status_code == 200

    resp = _group_snapshot(client, group["id"], name=name, description="both")
    assert resp.status_code == 202, resp.text
    snap = resp.json()["share_group_snapshot"]
    assert snap["status"] == "creating" and snap["share_group_id"] == group["id"]
    snap = wait_for_status(client, f"/share-group-snapshots/{snap['id']}", "available")
    members = {m["share_id"]: m for m in snap["members"]}
    assert set(members) == {small["id"], big["id"]}
    assert members[small["id"]]["size"] == 1 and members[big["id"]]["size"] == 2
    for share in (small, big):  # one ZFS snapshot per member, named from the member's id
        dataset = api.dataset(share["id"])
        assert _snapshots_of(dataset) == {f"{dataset}@snap-{members[share['id']]['id']}"}
    # a member is not a share snapshot
    assert client.get("/snapshots", params={"share_id": small["id"]}).json()["snapshots"] == []
    listed = client.get(f"/share-group-snapshots/{snap['id']}/members").json()["share_group_snapshot_members"]
    assert {m["id"] for m in listed} == {m["id"] for m in snap["members"]}
    assert {m["share_protocol"] for m in listed} == {"NFS"} and {m["share_group_snapshot_id"] for m in listed} == {
        snap["id"]}
    summary = client.get("/share-group-snapshots", params={"name": name}).json()["share_group_snapshots"]
    assert [s["id"] for s in summary] == [snap["id"]] and set(summary[0]) == {"id", "name", "links"}
    detail = client.get("/share-group-snapshots/detail", params={"share_group_id": group["id"]}).json()
    assert [s["id"] for s in detail["share_group_snapshots"]] == [snap["id"]]
    renamed = client.put(f"/share-group-snapshots/{snap['id']}", json={"share_group_snapshot": {"name": "renamed"}})
    assert renamed.status_code == 200 and renamed.json()["share_group_snapshot"]["name"] == "renamed"
    fault(client.put(f"/share-group-snapshots/{snap['id']}", json={"share_group_snapshot": {"status": "x"}}), 400)

    # written after the snapshot: not in the group made from it
    for share in (small, big):
        assert nfs_write(server, paths[share["id"]], "after.txt", "too late\n").returncode == 0

    # the group and its shares cannot go while the snapshot needs them
    fault(client.delete(f"/share-groups/{group['id']}"), 409)
    fault(client.delete(f"/shares/{small['id']}", params={"share_group_id": group["id"]}), 403)
    fault(api.action(small["id"], "soft_delete"), 403)
    fault(client.post("/share-groups", json={"share_group": {
        "share_group_type_id": gtype["id"], "source_share_group_snapshot_id": snap["id"],
        "share_types": [stype["id"]]}}), 400)  # the types come from the source
    fault(client.post("/share-groups", json={"share_group": {
        "share_group_type_id": gtype["id"], "source_share_group_snapshot_id": str(uuid.uuid4())}}), 400)

    copy = _group(client, gtype, source_share_group_snapshot_id=snap["id"], name=f"{name}-copy")
    assert copy["source_share_group_snapshot_id"] == snap["id"] and copy["share_types"] == [stype["id"]]
    copy = wait_for_status(client, f"/share-groups/{copy['id']}", "available")
    assert copy["host"] == group["host"] and copy["availability_zone"] == group["availability_zone"]
    new_shares = client.get("/shares/detail", params={"share_group_id": copy["id"]}).json()["shares"]
    by_member = {s["source_share_group_snapshot_member_id"]: s for s in new_shares}
    assert set(by_member) == {m["id"] for m in snap["members"]}
    for source in (small, big):
        new = by_member[members[source["id"]]["id"]]
        assert new["status"] == "available" and new["size"] == source["size"] and new["host"] == group["host"]
        path = api.mountpoint(new["id"])
        api.allow(new["id"])
        assert nfs_read(server, path, "before.txt").stdout == f"{source['id']} before\n"
        assert "after.txt" not in nfs_ls(server, path).stdout

    # the snapshot can go while the group made from it stays; then the originals can go
    fault(client.post(f"/share-group-snapshots/{snap['id']}/action", json={"bogus": None}), 400)
    _delete(client, f"/share-group-snapshots/{snap['id']}")
    for share in (small, big):
        assert _snapshots_of(api.dataset(share["id"])) == set()
    for g, shares in ((copy, new_shares), (group, (small, big))):
        for share in shares:
            _delete(client, f"/shares/{share['id']}", params={"share_group_id": g["id"]})
        _delete(client, f"/share-groups/{g['id']}")
    client.delete(f"/share-group-types/{gtype['id']}")


def test_group_snapshot_states_and_another_project(share_api):
    """reset_status and force_delete are for administrators; another project sees
    nothing; an empty group's snapshot has no members and a group made from it no shares."""
    client = share_api.client
    name = f"sgs-{uuid.uuid4().hex[:8]}"
    _, gtype, group = _available_group(client, name)
    snap = _group_snapshot(client, group["id"]).json()["share_group_snapshot"]
    snap = wait_for_status(client, f"/share-group-snapshots/{snap['id']}", "available")
    assert snap["members"] == []
    empty = wait_for_status(client, f"/share-groups/{_group(client, gtype, source_share_group_snapshot_id=snap['id'])['id']}",
                            "available")
    assert client.get("/shares", params={"share_group_id": empty["id"]}).json()["shares"] == []
    with share_api.server.client(project=uuid.uuid4().hex) as other:
        fault(other.get(f"/share-group-snapshots/{snap['id']}"), 404)
        assert other.get("/share-group-snapshots").json()["share_group_snapshots"] == []
        fault(_group_snapshot(other, group["id"]), 400)  # a group it cannot see
    for path in ("/share-groups/", "/share-group-snapshots/"):  # no id: Manila's 404, not the list
        fault(client.get(path), 404)
        fault(client.delete(path), 404)
    action = f"/share-group-snapshots/{snap['id']}/action"
    assert client.post(action, json={"reset_status": {"status": "creating"}}).status_code == 202
    fault(client.delete(f"/share-group-snapshots/{snap['id']}"), 409)
    fault(client.post(action, json={"reset_status": {"status": "bogus"}}), 400)
    assert client.post(action, json={"force_delete": None}).status_code == 202
    wait_gone(client, f"/share-group-snapshots/{snap['id']}")
    for g in (empty, group):
        _delete(client, f"/share-groups/{g['id']}")
    client.delete(f"/share-group-types/{gtype['id']}")


def test_share_group_quotas(share_api):
    """share_groups and share_group_snapshots in the quota set: counted, and a create
    over them is a 413 that makes nothing (Manila's OverLimit)."""
    client = share_api.client
    name = f"sgs-{uuid.uuid4().hex[:8]}"
    stype, gtype = _types(client, name)
    tenant_pid = uuid.uuid4().hex
    with share_api.server.client(project=tenant_pid) as tenant:
        resp = client.put(f"/quota-sets/{tenant_pid}", json={"quota_set": {"share_groups": 1,
                                                                           "share_group_snapshots": 1}})
        assert resp.status_code == 200, resp.text
        try:
            usage = client.get(f"/quota-sets/{tenant_pid}/detail").json()["quota_set"]
            assert usage["share_groups"]["in_use"] == 0 and usage["share_group_snapshots"]["in_use"] == 0
            group = wait_for_status(tenant, f"/share-groups/{_group(tenant, gtype, share_types=[stype['id']])['id']}",
                                    "available")
            fault(tenant.post("/share-groups", json={"share_group": {"share_group_type_id": gtype["id"],
                                                                     "share_types": [stype["id"]]}}), 413)
            snap = _group_snapshot(tenant, group["id"]).json()["share_group_snapshot"]
            wait_for_status(tenant, f"/share-group-snapshots/{snap['id']}", "available")
            fault(_group_snapshot(tenant, group["id"]), 413)
            fault(tenant.post("/share-groups", json={"share_group": {  # a group from it is a group too
                "share_group_type_id": gtype["id"], "source_share_group_snapshot_id": snap["id"]}}), 413)
            usage = client.get(f"/quota-sets/{tenant_pid}/detail").json()["quota_set"]
            assert usage["share_groups"]["in_use"] == 1 and usage["share_group_snapshots"]["in_use"] == 1
            limits = tenant.get("/limits").json()["limits"]["absolute"]
            assert (limits["maxTotalShareGroups"], limits["totalShareGroupsUsed"]) == (1, 1)
            assert (limits["maxTotalShareGroupSnapshots"], limits["totalShareGroupSnapshotsUsed"]) == (1, 1)
            assert len(tenant.get("/share-groups").json()["share_groups"]) == 1
            assert len(tenant.get("/share-group-snapshots").json()["share_group_snapshots"]) == 1
            _delete(tenant, f"/share-group-snapshots/{snap['id']}")
            _delete(tenant, f"/share-groups/{group['id']}")
            usage = client.get(f"/quota-sets/{tenant_pid}/detail").json()["quota_set"]
            assert usage["share_groups"]["in_use"] == 0 and usage["share_group_snapshots"]["in_use"] == 0
        finally:
            client.delete(f"/quota-sets/{tenant_pid}")
    client.delete(f"/share-group-types/{gtype['id']}")


def test_hostile_input_to_group_snapshots(share_api):
    """Wrong JSON types, lone surrogates, odd queries: a 4xx with a fault body each,
    the connection still usable, and no group snapshot or group made."""
    client = share_api.client
    name = f"sgs-{uuid.uuid4().hex[:8]}"
    _, gtype, group = _available_group(client, name)
    before = (client.get("/share-group-snapshots").json(), client.get("/share-groups").json())
    headers = {"Content-Type": "application/json"}
    for body in ({"share_group_snapshot": {"share_group_id": group["id"], "name": 123}},
                 {"share_group_snapshot": {"share_group_id": group["id"], "name": "\ud800"}},
                 {"share_group_snapshot": {"share_group_id": group["id"], "description": ["x"]}},
                 {"share_group_snapshot": {"share_group_id": [group["id"]]}},
                 {"share_group_snapshot": {"share_group_id": {"id": group["id"]}}},
                 {"share_group_snapshot": "x"}, [], {"share_group": {"share_group_type_id": gtype["id"],
                                                                    "source_share_group_snapshot_id": 7}},
                 {"share_group": {"share_group_type_id": gtype["id"], "source_share_group_snapshot_id": None}}):
        path = "/share-groups" if "share_group" in body else "/share-group-snapshots"
        resp = client.post(path, content=json.dumps(body), headers=headers)
        assert 400 <= resp.status_code < 500, (body, resp.status_code, resp.text)
        fault(resp, resp.status_code)
    for params in ({"sort_key": "bogus"}, {"sort_dir": "sideways"}, {"limit": "abc"}, {"limit": str(2**63)},
                   {"offset": "-1"}):
        resp = client.get("/share-group-snapshots/detail", params=params)
        assert 400 <= resp.status_code < 500, (params, resp.status_code, resp.text)
    assert (client.get("/share-group-snapshots").json(), client.get("/share-groups").json()) == before
    _delete(client, f"/share-groups/{group['id']}")
    client.delete(f"/share-group-types/{gtype['id']}")


def test_group_snapshot_work_cut_short_by_a_restart(share_api):
    """After a crash: a group snapshot left `deleting` is deleted (its ZFS snapshot
    too), one left `creating` ends in error saying why, and deleting it then removes
    whatever it had made on ZFS."""
    from .test_share_restart import shoal_stopped

    api, client, server = share_api, share_api.client, share_api.server
    name = f"sgs-{uuid.uuid4().hex[:8]}"
    stype, gtype, group = _available_group(client, name)
    share = api.create_share(size=1, share_type=stype["id"], share_group_id=group["id"])
    dataset = api.dataset(share["id"])
    made = []
    for _ in range(2):
        snap = _group_snapshot(client, group["id"]).json()["share_group_snapshot"]
        made.append(wait_for_status(client, f"/share-group-snapshots/{snap['id']}", "available"))
    deleting, creating = made
    assert len(_snapshots_of(dataset)) == 2

    with shoal_stopped(server) as db:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE share_group_snapshots SET status='deleting' WHERE id=?", (deleting["id"],))
            conn.execute("UPDATE share_group_snapshots SET status='creating' WHERE id=?", (creating["id"],))
        conn.close()

    with server.client() as after:
        wait_gone(after, f"/share-group-snapshots/{deleting['id']}")
        ended = wait_for_status(after, f"/share-group-snapshots/{creating['id']}", "error")
        assert ended["members"] and len(_snapshots_of(dataset)) == 1
        _delete(after, f"/share-group-snapshots/{creating['id']}")
        assert _snapshots_of(dataset) == set()
        _delete(after, f"/shares/{share['id']}", params={"share_group_id": group["id"]})
        _delete(after, f"/share-groups/{group['id']}")
        after.delete(f"/share-group-types/{gtype['id']}")
