"""A volume's life through the Block Storage v3 API, from version discovery to
delete: each step is checked in the API and on ZFS.

The story: a client finds the API's versions, creates a few volumes, finds
them again with filters, sorting and paging, renames one and gives it
metadata, and deletes them; the dataset of each is gone afterwards. Names are
the user's text only: stored verbatim, never a part of a ZFS name.
"""

from __future__ import annotations

import os
import uuid

import httpx
import pytest

from .volume_helpers import (
    GiB,
    fault,
    volume_api,  # noqa: F401 - fixture
    wait_gone,
    zfs_exists,
    zfs_get,
    zfs_names,
)

pytestmark = pytest.mark.integration


def test_version_discovery(shoal_server):
    root = httpx.get(f"{shoal_server.url}/volume/", timeout=30)
    assert root.status_code == 300, root.text
    (version,) = root.json()["versions"]
    assert version["version"] == "3.71" and version["min_version"] == "3.0", version
    assert version["id"] == "v3.0" and version["status"] == "CURRENT"
    for path in ("/volume/v3", "/volume/v3/"):
        resp = httpx.get(f"{shoal_server.url}{path}", timeout=30)
        assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text}"
        (version,) = resp.json()["versions"]
        assert (version["version"], version["min_version"]) == ("3.71", "3.0"), version
        assert version["links"][0]["href"].endswith("/volume/v3/"), version


def test_create_find_update_and_delete(volume_api):
    client, tag = volume_api.client, uuid.uuid4().hex[:8]

    # Create: 202 at once with status creating, then available.
    resp = client.post("/volumes", json={"volume": {"size": 1, "name": f"b-{tag}", "description": "first",
                                                    "metadata": {"tier": "gold"}}})
    assert resp.status_code == 202, resp.text
    first = resp.json()["volume"]
    assert first["status"] == "creating" and first["size"] == 1 and first["name"] == f"b-{tag}"
    # Cinder's extensions add these to shows and lists only (Tempest's create schema forbids them).
    assert not {"os-vol-tenant-attr:tenant_id", "os-vol-host-attr:host", "os-vol-mig-status-attr:migstat"} & set(first)
    first = volume_api.wait_volume(first["id"], "available")
    assert first["metadata"] == {"tier": "gold"} and first["volume_type"] == "__DEFAULT__"
    assert first["attachments"] == [] and first["bootable"] == "false" and first["multiattach"] is False
    assert first["os-vol-tenant-attr:tenant_id"] == volume_api.server.project
    assert first["os-vol-host-attr:host"].startswith("shoal@test#")
    second = volume_api.create_volume(2, name=f"a-{tag}", metadata={"tier": "silver"})
    third = volume_api.create_volume(1, name=f"c-{tag}")
    ours = {v["id"] for v in (first, second, third)}

    # ... each one a dataset holding a sparse file of its size.
    for volume in (first, second, third):
        dataset = volume_api.dataset(volume["id"])
        assert zfs_exists(dataset)
        mountpoint = zfs_get(dataset, "mountpoint")
        assert zfs_get(dataset, "type") == "filesystem"
        assert os.stat(f"{mountpoint}/volume.raw").st_size == volume["size"] * GiB

    # Show.
    shown = client.get(f"/volumes/{first['id']}").json()["volume"]
    assert shown["id"] == first["id"] and shown["description"] == "first"

    # List and detail with filters.
    by_name = client.get("/volumes", params={"name": f"a-{tag}"}).json()["volumes"]
    assert [v["id"] for v in by_name] == [second["id"]]
    assert set(by_name[0]) == {"id", "name", "links"}
    detail = client.get("/volumes/detail", params={"status": "available"}).json()["volumes"]
    assert ours <= {v["id"] for v in detail} and all(v["status"] == "available" for v in detail)
    assert client.get("/volumes/detail", params={"status": "error", "name": f"a-{tag}"}).json()["volumes"] == []
    gold = client.get("/volumes/detail", params={"metadata": "{'tier': 'gold'}"}).json()["volumes"]
    assert [v["id"] for v in gold if v["id"] in ours] == [first["id"]]

    # Sort by name, then page through with limit, offset and marker.
    names = [v["name"] for v in client.get("/volumes", params={"sort": "name:asc"}).json()["volumes"]
             if v["id"] in ours]
    assert names == [f"a-{tag}", f"b-{tag}", f"c-{tag}"]
    mine = {"name~": tag, "sort": "name:asc"}
    page1 = client.get("/volumes", params={**mine, "limit": 2}).json()["volumes"]
    assert [v["name"] for v in page1] == [f"a-{tag}", f"b-{tag}"]
    page2 = client.get("/volumes", params={**mine, "limit": 2, "marker": page1[-1]["id"]}).json()["volumes"]
    assert [v["name"] for v in page2] == [f"c-{tag}"]
    skipped = client.get("/volumes", params={**mine, "offset": 1, "limit": 1}).json()["volumes"]
    assert [v["name"] for v in skipped] == [f"b-{tag}"]
    desc = client.get("/volumes", params={"name~": tag, "sort_key": "size", "sort_dir": "desc"}).json()["volumes"]
    assert desc[0]["id"] == second["id"]

    # Summary (3.12+): counts and sizes of the project's volumes.
    summary = client.get("/volumes/summary").json()["volume-summary"]
    assert summary["total_count"] >= 3 and summary["total_size"] >= 4
    assert {"gold", "silver"} <= set(summary["metadata"]["tier"])
    old = client.get("/volumes/summary", headers={"OpenStack-API-Version": "volume 3.11"})
    fault(old, 404)

    # Update name, description and metadata.
    resp = client.put(f"/volumes/{first['id']}", json={"volume": {"name": f"renamed-{tag}", "description": "new",
                                                                   "metadata": {"k": "v"}}})
    assert resp.status_code == 200, resp.text
    updated = resp.json()["volume"]
    assert (updated["name"], updated["description"], updated["metadata"]) == (f"renamed-{tag}", "new", {"k": "v"})
    assert client.get(f"/volumes/{first['id']}").json()["volume"]["name"] == f"renamed-{tag}"
    fault(client.put(f"/volumes/{first['id']}", json={"volume": {"size": 5}}), 400)

    # The metadata endpoints.
    meta = f"/volumes/{first['id']}/metadata"
    assert client.get(meta).json() == {"metadata": {"k": "v"}}
    assert client.post(meta, json={"metadata": {"a": "1"}}).json() == {"metadata": {"k": "v", "a": "1"}}
    assert client.put(meta, json={"metadata": {"b": "2"}}).json() == {"metadata": {"b": "2"}}
    assert client.put(f"{meta}/c", json={"meta": {"c": "3"}}).json() == {"meta": {"c": "3"}}
    assert client.get(f"{meta}/c").json() == {"meta": {"c": "3"}}
    fault(client.put(f"{meta}/c", json={"meta": {"d": "4"}}), 400)
    assert client.delete(f"{meta}/b").status_code == 200
    fault(client.get(f"{meta}/b"), 404)
    fault(client.delete(f"{meta}/b"), 404)
    assert client.get(meta).json() == {"metadata": {"c": "3"}}

    # Show by name is not a thing: ids only.
    fault(client.get(f"/volumes/a-{tag}"), 404)

    # Delete: 202, then 404, and the dataset is gone from ZFS.
    for volume in (first, second, third):
        resp = client.delete(f"/volumes/{volume['id']}")
        assert resp.status_code == 202, resp.text
    for volume in (first, second, third):
        wait_gone(client, f"/volumes/{volume['id']}")
        fault(client.get(f"/volumes/{volume['id']}"), 404, "itemNotFound")
        assert not zfs_exists(volume_api.dataset(volume["id"]))
    assert not any(v["id"] in ours for v in client.get("/volumes").json()["volumes"])


def test_project_less_paths(volume_api):
    """Since 3.67 the project may be left out of the URL (it comes from the token)."""
    server = volume_api.server
    volume = volume_api.create_volume(1, name=f"projectless-{uuid.uuid4().hex[:6]}")
    headers = {"OpenStack-API-Version": "volume 3.71", "X-Auth-Token": f"admin:{server.project}"}
    with httpx.Client(base_url=f"{server.url}/volume/v3", headers=headers, timeout=60) as bare:
        detail = bare.get("/volumes/detail")
        assert detail.status_code == 200, detail.text
        assert volume["id"] in {v["id"] for v in detail.json()["volumes"]}
        shown = bare.get(f"/volumes/{volume['id']}")
        assert shown.status_code == 200 and shown.json()["volume"]["name"] == volume["name"]
        assert bare.get("/volumes").status_code == 200
    volume_api.delete_volume(volume["id"])


def test_names_with_shell_metacharacters_stay_in_the_api(volume_api):
    nasty = "x; rm -rf / $(touch /tmp/pwned) `id` | & > < 'quote\" \\ \n* ?"
    volume = volume_api.create_volume(1, name=nasty, description=nasty, metadata={"k$(id)": nasty})
    shown = volume_api.volume(volume["id"])
    assert shown["name"] == nasty and shown["description"] == nasty and shown["metadata"] == {"k$(id)": nasty}
    found = volume_api.client.get("/volumes", params={"name": nasty}).json()["volumes"]
    assert [v["id"] for v in found] == [volume["id"]]
    # On ZFS the volume is named by its id only; no part of the name reaches the backend.
    names = zfs_names(volume_api.server.pool_root)
    assert volume_api.dataset(volume["id"]) in names
    assert not any("rm" in n or "$" in n or ";" in n or "pwned" in n for n in names), names
    assert not os.path.exists("/tmp/pwned")
    volume_api.delete_volume(volume["id"])
    assert not zfs_exists(volume_api.dataset(volume["id"]))
