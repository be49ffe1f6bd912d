"""Bringing an existing dataset under Shoal (manage) and letting it go (unmanage).

The dataset is made by hand next to Shoal's shares, with data in it; after
manage it carries Shoal's name, holds the same data and is reachable over NFS
once a rule allows it. After unmanage the data stays but is no longer exported.
"""

from __future__ import annotations

import math
import os
import uuid
from pathlib import Path

import pytest

from tests.fixtures.zfs import destroy_dataset

from .share_helpers import (
    GiB,
    assert_mount_refused,
    assert_not_exported,
    assert_nfs_writable,
    fault,
    messages_for,
    nfs_read,
    share_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
    zfs,
    zfs_exists,
    zfs_get,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def legacy(share_api):
    """A hand-made dataset `<pool_root>/legacy-<hex>` holding a little data; destroyed afterwards
    under whatever name it ends up with."""
    server = share_api.server
    name = f"{server.pool_root}/legacy-{uuid.uuid4().hex[:8]}"
    zfs("create", name)
    mountpoint = zfs_get(name, "mountpoint")
    (Path(mountpoint) / "hello.txt").write_text("from before Shoal\n")
    (Path(mountpoint) / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    names = [name]
    yield names
    for dataset in names:
        if zfs_exists(dataset):
            destroy_dataset(dataset)


def manage(client, export_path: str, service_host: str, **fields):
    return client.post("/shares/manage", json={"share": {
        "export_path": export_path, "service_host": service_host, "protocol": "NFS", **fields}})


def test_manage_a_dataset_with_data(share_api, legacy):
    api, client, server = share_api, share_api.client, share_api.server
    zpool = server.pool_root.split("/")[0]
    host = f"shoal@test#{zpool}"
    old = legacy[0]
    old_mountpoint = zfs_get(old, "mountpoint")
    referenced = int(zfs_get(old, "referenced"))

    resp = manage(client, f"127.0.0.1:{old_mountpoint}", host, name="adopted", description="legacy data")
    assert resp.status_code == 200, resp.text
    share = resp.json()["share"]
    assert share["status"] == "manage_starting"
    legacy.append(api.dataset(share["id"]))  # for clean-up, whatever happens next
    share = wait_for_status(client, f"/shares/{share['id']}", "available")

    # Size is the data rounded up to whole GiB (at least 1); the dataset now has Shoal's name.
    assert share["size"] == max(1, math.ceil(referenced / GiB))
    assert share["name"] == "adopted" and share["host"] == host
    new = api.dataset(share["id"])
    assert not zfs_exists(old) and zfs_exists(new)
    assert int(zfs_get(new, "refquota")) == share["size"] * GiB
    mountpoint = api.mountpoint(share["id"])
    assert mountpoint == zfs_get(new, "mountpoint") != old_mountpoint

    # The data came along, and reaches a client once a rule allows it.
    assert_mount_refused(server, mountpoint)
    api.allow(share["id"])
    assert nfs_read(server, mountpoint, "hello.txt").stdout == "from before Shoal\n"
    assert (Path(mountpoint) / "blob.bin").stat().st_size == 3 * 1024 * 1024
    assert_nfs_writable(server, mountpoint, "managed.txt")

    # The same export path again: it is Shoal's already.
    fault(manage(client, f"127.0.0.1:{mountpoint}", host), 409)

    # And back out: the data stays where it is, no longer exported.
    resp = api.action(share["id"], "unmanage")
    assert resp.status_code == 202, resp.text
    wait_gone(client, f"/shares/{share['id']}")
    assert (Path(zfs_get(new, "mountpoint")) / "hello.txt").read_text() == "from before Shoal\n"
    assert_not_exported(server, mountpoint)


def test_a_path_shoal_serves_already_cannot_be_managed_again(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    zpool = server.pool_root.split("/")[0]
    share = api.create_share()
    mountpoint = api.mountpoint(share["id"])
    count = len(client.get("/shares", params={"all_tenants": 1}).json()["shares"])
    fault(manage(client, f"127.0.0.1:{mountpoint}", f"shoal@test#{zpool}"), 409)
    fault(manage(client, api.dataset(share["id"]), f"shoal@test#{zpool}"), 409)
    assert len(client.get("/shares", params={"all_tenants": 1}).json()["shares"]) == count
    assert api.share(share["id"])["status"] == "available"
    api.delete_share(share["id"])


def test_unmanage_keeps_the_data_but_stops_exporting_it(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    share = api.create_share()
    dataset = api.dataset(share["id"])
    mountpoint = api.mountpoint(share["id"])
    api.allow(share["id"])
    assert_nfs_writable(server, mountpoint, "kept.txt", "kept after unmanage\n")
    try:
        resp = api.action(share["id"], "unmanage")
        assert resp.status_code == 202, resp.text
        wait_gone(client, f"/shares/{share['id']}")
        assert client.get("/share-access-rules", params={"share_id": share["id"]}).status_code == 400  # no such share
        assert zfs_exists(dataset)
        assert (Path(zfs_get(dataset, "mountpoint")) / "kept.txt").read_text() == "kept after unmanage\n"
        assert_not_exported(server, mountpoint)
    finally:
        if zfs_exists(dataset):
            destroy_dataset(dataset)


@pytest.mark.parametrize("where", ["outside-the-backend", "missing", "a-snapshot"])
def test_manage_of_something_unsafe_ends_in_manage_error(share_api, legacy, where):
    api, client, server = share_api, share_api.client, share_api.server
    zpool = server.pool_root.split("/")[0]
    before = zfs("list", "-H", "-r", "-o", "name", "-t", "all", zpool).stdout
    if where == "outside-the-backend":  # a dataset of the zpool, but not under the backend's dataset
        outside = f"{zpool}/outside-{uuid.uuid4().hex[:6]}"
        zfs("create", outside)
        legacy.append(outside)
        before = zfs("list", "-H", "-r", "-o", "name", "-t", "all", zpool).stdout
        path = f"/{outside}"
    elif where == "missing":
        path = f"/{server.pool_root}/no-such-{uuid.uuid4().hex[:6]}"
    else:
        zfs("snapshot", f"{legacy[0]}@hand")
        before = zfs("list", "-H", "-r", "-o", "name", "-t", "all", zpool).stdout
        path = f"/{legacy[0]}@hand"
    resp = manage(client, f"127.0.0.1:{path}", f"shoal@test#{zpool}")
    assert resp.status_code == 200, resp.text
    share = wait_for_status(client, f"/shares/{resp.json()['share']['id']}", "manage_error")
    assert share["status_reason"], share  # the admin sees why
    notes = messages_for(client, share["id"])
    assert notes and notes[0]["user_message"], notes
    # Nothing was renamed or created on the backend.
    assert zfs("list", "-H", "-r", "-o", "name", "-t", "all", zpool).stdout == before
    fault(client.delete(f"/shares/{share['id']}"), 403)  # Manila's: unmanage it (or force-delete)
    assert api.action(share["id"], "unmanage").status_code == 202
    wait_gone(client, f"/shares/{share['id']}")
    assert zfs("list", "-H", "-r", "-o", "name", "-t", "all", zpool).stdout == before


def test_manage_with_bad_arguments_is_refused_at_once(share_api, legacy):
    client, server = share_api.client, share_api.server
    zpool = server.pool_root.split("/")[0]
    path = f"127.0.0.1:{zfs_get(legacy[0], 'mountpoint')}"
    count = len(client.get("/shares", params={"all_tenants": 1}).json()["shares"])
    fault(manage(client, path, "not-a-host"), 404)  # Manila: no such service host
    fault(manage(client, path, f"shoal@nosuchbackend#{zpool}"), 404)
    fault(manage(client, "", f"shoal@test#{zpool}"), 400)
    fault(manage(client, path, f"shoal@test#{zpool}", protocol=7), 400)
    fault(manage(client, path, f"shoal@test#{zpool}", share_type="no-such-type"), 404)
    assert len(client.get("/shares", params={"all_tenants": 1}).json()["shares"]) == count
    assert zfs_exists(legacy[0])
