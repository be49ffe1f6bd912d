"""A share's life: created, found, listed, renamed, exported, deleted.

Checked from the outside: the dataset behind the share (`zfs get -H -p`,
`zfs list`) and the export (libnfs) as well as the API's own answers.
"""

from __future__ import annotations

import uuid

import pytest

from .share_helpers import (
    GiB,
    assert_mount_refused,
    assert_not_exported,
    assert_nfs_writable,
    fault,
    share_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
    zfs_exists,
    zfs_get,
    zfs_names,
)

pytestmark = pytest.mark.integration


def test_a_share_is_created_shown_renamed_exported_and_deleted(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    name = f"life-{uuid.uuid4().hex[:8]}"

    # Create: Manila answers 200 with the share still `creating`.
    resp = client.post("/shares", json={"share": {"share_proto": "NFS", "size": 2, "name": name,
                                                  "description": "first words"}})
    assert resp.status_code == 200, resp.text
    created = resp.json()["share"]
    assert created["status"] == "creating"
    assert created["size"] == 2 and created["name"] == name and created["share_proto"] == "NFS"
    share_id = created["id"]

    share = wait_for_status(client, f"/shares/{share_id}", "available")
    assert share["size"] == 2 and share["description"] == "first words"
    assert share["project_id"] == server.project
    assert share["share_type_name"] == "default"
    assert share["host"] == f"shoal@test#{server.pool_root.split('/')[0]}"

    # The dataset is named from the id, and its refquota is the size.
    dataset = api.dataset(share_id)
    assert zfs_exists(dataset)
    assert int(zfs_get(dataset, "refquota")) == 2 * GiB
    mountpoint = zfs_get(dataset, "mountpoint")

    # Export locations: the admin sees both, each the address and the mountpoint.
    resp = client.get(f"/shares/{share_id}/export_locations")
    assert resp.status_code == 200
    locations = resp.json()["export_locations"]
    assert sorted(loc["is_admin_only"] for loc in locations) == [False, True]
    assert {loc["path"] for loc in locations} == {f"127.0.0.1:{mountpoint}"}
    user = next(loc for loc in locations if not loc["is_admin_only"])
    assert user["preferred"] is True
    one = client.get(f"/shares/{share_id}/export_locations/{user['id']}")
    assert one.status_code == 200 and one.json()["export_location"]["path"] == user["path"]
    assert client.get(f"/shares/{share_id}/export_locations/{uuid.uuid4()}").status_code == 404
    # Before 2.9 the share itself carries the user's (not the admin's) locations.
    with server.client(version="2.8") as old:
        legacy = old.get(f"/shares/{share_id}").json()["share"]
    assert legacy["export_location"] == f"127.0.0.1:{mountpoint}"
    assert legacy["export_locations"] == [f"127.0.0.1:{mountpoint}"]

    # Exported with no rules: nobody may mount it yet.
    assert_mount_refused(server, mountpoint)

    # Update name and description.
    resp = client.put(f"/shares/{share_id}", json={"share": {"display_name": f"{name}-renamed",
                                                             "display_description": "second words"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["share"]["name"] == f"{name}-renamed"
    shown = api.share(share_id)
    assert shown["name"] == f"{name}-renamed" and shown["description"] == "second words"
    assert zfs_exists(dataset)  # renaming a share never touches the backend

    # Delete: 202, then the share is gone (404), and so are its dataset and export.
    resp = client.delete(f"/shares/{share_id}")
    assert resp.status_code == 202, resp.text
    wait_gone(client, f"/shares/{share_id}")
    fault(client.get(f"/shares/{share_id}"), 404)
    assert dataset not in zfs_names(server.pool_root)
    assert_not_exported(server, mountpoint)
    # Deleting again is "not found".
    fault(client.delete(f"/shares/{share_id}"), 404)


def test_listing_filters_sorts_and_pages(share_api):
    client = share_api.client
    tag = uuid.uuid4().hex[:8]
    ids = {}
    for index, size in enumerate((3, 1, 2)):
        resp = client.post("/shares", json={"share": {"share_proto": "NFS", "size": size,
                                                      "name": f"list-{tag}-{index}"}})
        assert resp.status_code == 200, resp.text
        ids[size] = resp.json()["share"]["id"]
    for share_id in ids.values():
        wait_for_status(client, f"/shares/{share_id}", "available")
    mine = set(ids.values())

    # Summary: id, name and links only. Detail: everything.
    summary = [s for s in client.get("/shares").json()["shares"] if s["id"] in mine]
    assert len(summary) == 3
    assert all(set(s) == {"id", "name", "links"} for s in summary)
    detail = [s for s in client.get("/shares/detail").json()["shares"] if s["id"] in mine]
    assert len(detail) == 3 and all(s["status"] == "available" and "size" in s for s in detail)

    # Filters.
    by_name = client.get("/shares/detail", params={"name": f"list-{tag}-1"}).json()["shares"]
    assert [s["id"] for s in by_name] == [ids[1]]
    assert client.get("/shares", params={"name": f"list-{tag}-nope"}).json()["shares"] == []
    by_status = client.get("/shares/detail", params={"status": "available"}).json()["shares"]
    assert mine <= {s["id"] for s in by_status}
    assert not mine & {s["id"] for s in client.get("/shares", params={"status": "error"}).json()["shares"]}
    fuzzy = client.get("/shares", params={"name~": f"list-{tag}"}).json()["shares"]
    assert {s["id"] for s in fuzzy} == mine

    # Sorting by size, both ways.
    def ordered(**params):
        got = client.get("/shares/detail", params={"name~": f"list-{tag}", **params})
        assert got.status_code == 200, got.text
        return [s["id"] for s in got.json()["shares"]]

    assert ordered(sort_key="size", sort_dir="asc") == [ids[1], ids[2], ids[3]]
    assert ordered(sort_key="size", sort_dir="desc") == [ids[3], ids[2], ids[1]]
    # Paging over that order.
    assert ordered(sort_key="size", sort_dir="asc", limit=2) == [ids[1], ids[2]]
    assert ordered(sort_key="size", sort_dir="asc", limit=2, offset=2) == [ids[3]]
    assert ordered(sort_key="size", sort_dir="asc", offset=1, limit=1) == [ids[2]]
    # Bad sort or paging parameters are refused, not ignored.
    fault(client.get("/shares", params={"sort_key": "no_such_column"}), 400)
    fault(client.get("/shares", params={"sort_dir": "sideways"}), 400)
    fault(client.get("/shares", params={"limit": "-1"}), 400)
    fault(client.get("/shares", params={"offset": "x"}), 400)

    for share_id in ids.values():
        share_api.delete_share(share_id, wait=False)
    for share_id in ids.values():
        wait_gone(client, f"/shares/{share_id}")


@pytest.mark.parametrize("name", [
    "$(touch /tmp/shoal-pwned); `id` | rm -rf / ; echo ' \" \\",
    "line one\nline two\r\n\ttabbed",
    "../../etc/passwd",
    "-o mountpoint=/etc",
], ids=["shell", "newlines", "path", "option"])
def test_names_are_stored_verbatim_and_never_reach_the_backend(share_api, name):
    api, client, server = share_api, share_api.client, share_api.server
    before = zfs_names(server.pool_root)
    share = api.create_share(size=1, name=name, description=name)
    assert share["name"] == name and share["description"] == name
    listed = client.get("/shares/detail", params={"name": name}).json()["shares"]
    assert [s["id"] for s in listed] == [share["id"]]

    after = zfs_names(server.pool_root)
    assert after - before == {api.dataset(share["id"])}
    mountpoint = api.mountpoint(share["id"])
    assert mountpoint == zfs_get(api.dataset(share["id"]), "mountpoint")
    # The export works like any other (the name is nowhere in ganesha's config).
    rule = api.allow(share["id"])
    assert rule["state"] == "active"
    assert_nfs_writable(server, mountpoint)

    api.delete_share(share["id"])
    assert zfs_names(server.pool_root) == before
