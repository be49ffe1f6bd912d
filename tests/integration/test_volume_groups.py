"""Generic volume groups and group snapshots, checked down to ZFS.

The story: an admin makes a group type; a project makes a group for one volume type and
creates two volumes in it (a volume of another type is refused). One volume leaves the
group and comes back. A group snapshot takes a ZFS snapshot of each volume; a new group
made from that group snapshot holds a copy of each volume, and one made from the group
holds a clone of each. A group that still has a group snapshot cannot be deleted; the
group snapshot's deletion removes its snapshots, and the group's deletion with its
volumes removes their datasets. Below 3.13 there are no groups.
"""

from __future__ import annotations

import uuid

import pytest

from .volume_helpers import cinder, fault, volume_api, wait_for_status, wait_gone, wait_until, zfs_exists  # noqa

pytestmark = pytest.mark.integration


def test_groups_group_snapshots_and_groups_from_sources(volume_api):
    tag = uuid.uuid4().hex[:6]
    gold = volume_api.create_type(f"group-gold-{tag}")
    other = volume_api.create_type(f"group-other-{tag}")
    with cinder(volume_api.server, version="3.20") as client:
        gtype = client.post("/group_types", json={"group_type": {"name": f"gt-{tag}"}}).json()["group_type"]
        made = client.post("/groups", json={"group": {"name": f"g-{tag}", "group_type": gtype["id"],
                                                      "volume_types": [gold["id"]]}})
        assert made.status_code == 202, made.text
        group = made.json()["group"]
        assert set(group) == {"id", "name"}
        gid = group["id"]
        shown = wait_for_status(client, f"/groups/{gid}", "available")
        assert (shown["group_type"], shown["volume_types"]) == (gtype["id"], [gold["id"]])

        def new_volume(vtype: str) -> dict:
            answer = client.post("/volumes", json={"volume": {"size": 1, "volume_type": vtype, "group_id": gid}})
            assert answer.status_code == 202, answer.text
            return answer.json()["volume"]

        v1, v2 = new_volume(gold["id"]), new_volume(gold["id"])
        assert v1["group_id"] == gid
        fault(client.post("/volumes", json={"volume": {"size": 1, "volume_type": other["id"], "group_id": gid}}),
              400)
        for v in (v1, v2):
            volume_api.wait_volume(v["id"], "available")

        def members(group_id: str) -> set[str]:
            return {v["id"] for v in client.get("/volumes/detail").json()["volumes"] if v["group_id"] == group_id}

        assert members(gid) == {v1["id"], v2["id"]}
        assert client.put(f"/groups/{gid}", json={"group": {"remove_volumes": v2["id"], "name": "renamed"}}
                          ).status_code == 202
        assert members(gid) == {v1["id"]} and client.get(f"/groups/{gid}").json()["group"]["name"] == "renamed"
        assert client.put(f"/groups/{gid}", json={"group": {"add_volumes": v2["id"]}}).status_code == 202
        assert members(gid) == {v1["id"], v2["id"]}
        with cinder(volume_api.server, version="3.25") as newer:
            listed = newer.get(f"/groups/{gid}", params={"list_volume": "True"}).json()["group"]
            assert set(listed["volumes"]) == {v1["id"], v2["id"]}

        # a group snapshot: a ZFS snapshot of each volume
        taken = client.post("/group_snapshots", json={"group_snapshot": {"group_id": gid, "name": f"gs-{tag}"}})
        assert taken.status_code == 202, taken.text
        gsnap = taken.json()["group_snapshot"]
        assert gsnap["group_type_id"] == gtype["id"]
        wait_for_status(client, f"/group_snapshots/{gsnap['id']}", "available")
        snaps = [s for s in client.get("/snapshots/detail").json()["snapshots"]
                 if s["group_snapshot_id"] == gsnap["id"]]
        assert {s["volume_id"] for s in snaps} == {v1["id"], v2["id"]}
        for s in snaps:
            assert s["status"] == "available"
            assert zfs_exists(f"{volume_api.dataset(s['volume_id'])}@snap-{s['id']}")
        fault(client.post(f"/groups/{gid}/action", json={"delete": {"delete-volumes": True}}), 400)

        # groups from the group snapshot and from the group
        copies = {}
        for key, source in (("group_snapshot_id", gsnap["id"]), ("source_group_id", gid)):
            answer = client.post("/groups/action", json={"create-from-src": {key: source, "name": f"{key}-{tag}"}})
            assert answer.status_code == 202, answer.text
            new = answer.json()["group"]
            row = wait_for_status(client, f"/groups/{new['id']}", "available")
            assert row[key] == source and row["volume_types"] == [gold["id"]]
            copies[key] = new["id"]
            made_volumes = [v for v in client.get("/volumes/detail").json()["volumes"] if v["group_id"] == new["id"]]
            assert len(made_volumes) == 2 and all(v["status"] == "available" for v in made_volumes)
            origin = "snapshot_id" if key == "group_snapshot_id" else "source_volid"
            assert {v[origin] for v in made_volumes} == ({s["id"] for s in snaps} if origin == "snapshot_id"
                                                        else {v1["id"], v2["id"]})
        for new_gid in copies.values():
            gone = list(members(new_gid))
            assert client.post(f"/groups/{new_gid}/action", json={"delete": {"delete-volumes": True}}
                               ).status_code == 202
            for vid in gone:
                wait_gone(client, f"/volumes/{vid}")
            fault(client.get(f"/groups/{new_gid}"), 404)

        # reset-status (admin)
        assert client.post(f"/group_snapshots/{gsnap['id']}/action",
                           json={"reset_status": {"status": "error"}}).status_code == 202
        assert client.get(f"/group_snapshots/{gsnap['id']}").json()["group_snapshot"]["status"] == "error"
        assert client.delete(f"/group_snapshots/{gsnap['id']}").status_code == 202
        for s in snaps:
            wait_gone(client, f"/snapshots/{s['id']}")
        fault(client.get(f"/group_snapshots/{gsnap['id']}"), 404)

        fault(client.post(f"/groups/{gid}/action", json={"delete": {"delete-volumes": False}}), 400)  # not empty
        assert client.post(f"/groups/{gid}/action", json={"delete": {"delete-volumes": True}}).status_code == 202
        for v in (v1, v2):
            wait_gone(client, f"/volumes/{v['id']}")
            wait_until(lambda v=v: not zfs_exists(volume_api.dataset(v["id"])), what="dataset gone")
        fault(client.get(f"/groups/{gid}"), 404)
        assert client.delete(f"/group_types/{gtype['id']}").status_code == 202
    with cinder(volume_api.server, version="3.12") as old:
        fault(old.get("/groups"), 404)
