"""Taking over volumes and snapshots that exist on the backend, and letting go.

The story: an admin finds a dataset `legacy` holding one sparse 1.5 GiB
`volume.raw` (a volume made by hand, file mode) under the backend's dataset.
The manageable-volumes listing (3.8) shows it safe to manage and Shoal's own
volumes not safe, with reasons. Managed, it becomes an available 2 GiB volume
(rounded up) whose data a host reads over iSCSI; unmanaged, it disappears from
the API and its data stays on ZFS. The same for a snapshot taken by hand of a
Shoal volume.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from tests.fixtures.zfs import destroy_dataset

from .volume_helpers import (
    GiB,
    HOST1,
    MiB,
    Lun,
    backing_file,
    fault,
    pattern,
    sha256,
    volume_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
    zfs,
    zfs_exists,
    zfs_get,
    zfs_names,
)

pytestmark = pytest.mark.integration

HOST = "shoal@test"


@pytest.fixture
def legacy(volume_api):
    """A dataset made by hand: one sparse 1.5 GiB volume.raw starting with a pattern."""
    name = f"{volume_api.server.pool_root}/legacy-{uuid.uuid4().hex[:6]}"
    zfs("create", name)
    data = pattern(name)
    path = f"{zfs_get(name, 'mountpoint')}/volume.raw"
    with open(path, "wb") as fh:
        fh.write(data)
        fh.truncate(3 * GiB // 2)
    made = [name]
    yield name, data, made
    for dataset in made:
        if zfs_exists(dataset):
            destroy_dataset(dataset)


def manageable(client, path: str = "/manageable_volumes", **params) -> list[dict]:
    resp = client.get(path, params={"host": HOST, **params})
    assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text}"
    (key,) = resp.json()
    return resp.json()[key]


def test_manage_and_unmanage_a_volume(volume_api, legacy):
    client, root = volume_api.client, volume_api.server.pool_root
    name, data, made = legacy
    own = volume_api.create_volume(1)
    own_dataset = volume_api.dataset(own["id"])

    # The listing: the hand-made dataset is safe, at 2 GiB (1.5 rounded up); Shoal's own volume is not.
    listed = {item["reference"]["source-name"]: item for item in manageable(client)}
    assert listed[name]["safe_to_manage"] is True and listed[name]["size"] == 2
    assert set(listed[name]) == {"reference", "size", "safe_to_manage"}
    assert listed[own_dataset]["safe_to_manage"] is False
    detail = {item["reference"]["source-name"]: item for item in manageable(client, "/manageable_volumes/detail")}
    assert detail[name]["reason_not_safe"] is None and detail[name]["cinder_id"] is None
    assert detail[own_dataset]["safe_to_manage"] is False
    assert "already managed" in detail[own_dataset]["reason_not_safe"]
    assert root not in detail  # the backend's own dataset is not offered

    # Sorting and paging.
    refs = [i["reference"]["source-name"] for i in manageable(client, sort_key="reference", sort_dir="asc")]
    assert refs == sorted(refs) and {name, own_dataset} <= set(refs)
    desc = [i["reference"]["source-name"] for i in manageable(client, sort_key="reference", sort_dir="desc")]
    assert desc == list(reversed(refs))
    assert [i["reference"]["source-name"] for i in manageable(client, sort_key="reference", limit=1)] == refs[:1]
    assert [i["reference"]["source-name"] for i in manageable(client, sort_key="reference", offset=1)] == refs[1:]
    after = manageable(client, sort_key="reference", marker=refs[0])
    assert [i["reference"]["source-name"] for i in after] == refs[1:]
    sizes = [i["size"] for i in manageable(client, sort_key="size", sort_dir="asc")]
    assert sizes == sorted(sizes)
    fault(client.get("/manageable_volumes", params={"host": HOST, "sort_key": "name"}), 400)
    fault(client.get("/manageable_volumes", params={"host": "shoal@nosuchbackend"}), 404)

    # Manage it.
    zpool = root.split("/")[0]
    resp = client.post("/os-volume-manage", json={"volume": {
        "host": f"{HOST}#{zpool}", "ref": {"source-name": name}, "name": "managed-legacy"}})
    assert resp.status_code == 202, resp.text
    volume = wait_for_status(client, f"/volumes/{resp.json()['volume']['id']}", "available")
    vid = volume["id"]
    assert volume["size"] == 2 and volume["name"] == "managed-legacy"
    # On ZFS it now carries Shoal's name, and its file grew to 2 GiB.
    assert not zfs_exists(name) and zfs_exists(volume_api.dataset(vid))
    assert os.stat(backing_file(volume_api.dataset(vid))).st_size == 2 * GiB
    # It is no longer offered, and a host reads the data it had.
    assert name not in {i["reference"]["source-name"] for i in manageable(client)}
    attachment = volume_api.attach(vid, HOST1)
    lun = Lun.of(attachment["connection_info"])
    assert lun.capacity(HOST1) == 2 * GiB
    assert sha256(lun.read(HOST1, MiB)) == sha256(data)
    volume_api.detach(attachment["id"])

    # Unmanage: gone from the API; the data stays on ZFS under an unmanaged- name.
    resp = volume_api.action(vid, "os-unmanage")
    assert resp.status_code == 202, resp.text
    wait_gone(client, f"/volumes/{vid}")
    kept = f"{root}/unmanaged-volume-{vid}"
    made.append(kept)
    assert zfs_exists(kept) and not zfs_exists(volume_api.dataset(vid))
    with open(backing_file(kept), "rb") as fh:
        assert sha256(fh.read(MiB)) == sha256(data)
    # ... and, no longer named like a Shoal volume, it can be managed again.
    again = {i["reference"]["source-name"]: i for i in manageable(client, "/manageable_volumes/detail")}
    assert again[kept]["safe_to_manage"] is True, again[kept]

    volume_api.delete_volume(own["id"])


def test_manageable_listings_need_3_8(volume_api):
    old = {"OpenStack-API-Version": "volume 3.7"}
    fault(volume_api.client.get("/manageable_volumes", headers=old, params={"host": HOST}), 404)
    fault(volume_api.client.get("/manageable_snapshots/detail", headers=old, params={"host": HOST}), 404)


def test_managing_what_is_not_safe_fails_and_changes_nothing(volume_api, legacy):
    client, root = volume_api.client, volume_api.server.pool_root
    name, _, made = legacy
    zpool = root.split("/")[0]
    own = volume_api.create_volume(1)
    # A second file makes the hand-made dataset not volume-shaped.
    with open(f"{zfs_get(name, 'mountpoint')}/notes.txt", "w") as fh:
        fh.write("not a volume\n")
    detail = {i["reference"]["source-name"]: i for i in manageable(client, "/manageable_volumes/detail")}
    assert detail[name]["safe_to_manage"] is False and "shaped" in detail[name]["reason_not_safe"]

    before = zfs_names(root)
    for source in (name, volume_api.dataset(own["id"]), f"{root}/does-not-exist"):
        resp = client.post("/os-volume-manage", json={"volume": {"host": f"{HOST}#{zpool}",
                                                                  "ref": {"source-name": source}}})
        if resp.status_code == 400:  # refused up front (already managed)
            continue
        assert resp.status_code == 202, resp.text
        failed = wait_for_status(client, f"/volumes/{resp.json()['volume']['id']}", "error_managing")
        volume_api.delete_volume(failed["id"])
    assert zfs_names(root) == before
    assert volume_api.volume(own["id"])["status"] == "available"
    fault(client.post("/os-volume-manage", json={"volume": {"host": "shoal@nosuch#x", "ref": {"source-name": name}}}),
          400)
    fault(client.post("/os-volume-manage", json={"volume": {"host": f"{HOST}#{zpool}", "ref": "legacy"}}), 400)
    volume_api.delete_volume(own["id"])


def test_manage_and_unmanage_a_snapshot(volume_api):
    client = volume_api.client
    volume = volume_api.create_volume(1)
    vid, dataset = volume["id"], volume_api.dataset(volume["id"])
    own_snap = volume_api.create_snapshot(vid)
    # A snapshot taken by hand on ZFS.
    zfs("snapshot", f"{dataset}@by-hand")

    listed = {i["reference"]["source-name"]: i for i in manageable(client, "/manageable_snapshots/detail")}
    item = listed[f"{dataset}@by-hand"]
    assert item["safe_to_manage"] is True and item["source_reference"] == {"source-name": dataset}
    assert item["size"] == 1
    own_name = next(n for n in listed if n.startswith(f"{dataset}@") and own_snap["id"] in n)
    assert listed[own_name]["safe_to_manage"] is False and "already managed" in listed[own_name]["reason_not_safe"]
    plain = manageable(client, "/manageable_snapshots")
    assert {"reference", "size", "safe_to_manage", "source_reference"} == set(plain[0])

    resp = client.post("/os-snapshot-manage", json={"snapshot": {"volume_id": vid,
                                                                 "ref": {"source-name": f"{dataset}@by-hand"},
                                                                 "name": "managed-snap"}})
    assert resp.status_code == 202, resp.text
    snap = wait_for_status(client, f"/snapshots/{resp.json()['snapshot']['id']}", "available")
    assert snap["name"] == "managed-snap" and snap["volume_id"] == vid
    assert not zfs_exists(f"{dataset}@by-hand")
    assert any(snap["id"] in n for n in zfs_names(dataset, "snapshot"))
    offered = {i["reference"]["source-name"] for i in manageable(client, "/manageable_snapshots")}
    assert f"{dataset}@by-hand" not in offered

    # Unmanage: gone from the API, still on ZFS.
    resp = client.post(f"/snapshots/{snap['id']}/action", json={"os-unmanage": None})
    assert resp.status_code == 202, resp.text
    wait_gone(client, f"/snapshots/{snap['id']}")
    assert f"{dataset}@unmanaged-snap-{snap['id']}" in zfs_names(dataset, "snapshot")

    volume_api.delete_snapshot(own_snap["id"])
    volume_api.delete_volume(vid)
    assert not zfs_exists(dataset)
    assert not subprocess.run(["zfs", "list", "-H", "-t", "snapshot", "-o", "name"], capture_output=True,
                              text=True).stdout.count(vid)
