"""Helpers for the share-API integration tests (tests/integration/test_share_*.py).

Everything here talks to the real `shoal serve` of the `shoal_server` fixture
over HTTP, and checks outcomes from the outside: the dataset with `zfs get -H -p`
and `zfs list`, the export with the libnfs command-line clients (`nfs-ls`,
`nfs-cp`, `nfs-cat`, from libnfs-utils), as a client on 127.0.0.1 would.

`share_api` is a fixture (import it into a test module to use it): a `ShareApi`
that remembers what existed before the test and, afterwards, deletes every
share, snapshot and share type the test left behind -- through the API, waiting
until each is gone -- so the scenarios stay independent on the one session server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable

import httpx
import pytest

from .api_waits import (  # noqa: F401 - re-exported for the share tests
    POLL,
    STEADY_TIMEOUT,
    fault,
    get,
    wait_for_status,
    wait_gone,
    wait_until,
    zfs,
    zfs_exists,
    zfs_get,
)

NFS_TIMEOUT = 60

if not (shutil.which("nfs-ls") and shutil.which("nfs-cp") and shutil.which("nfs-cat")):
    pytest.skip("libnfs clients are not installed: apt-get install libnfs-utils", allow_module_level=True)


def messages_for(client: httpx.Client, resource_id: str) -> list[dict]:
    resp = client.get("/messages", params={"resource_id": resource_id})
    assert resp.status_code == 200, resp.text
    return resp.json()["messages"]


def zfs_names(root: str, types: str = "filesystem") -> set[str]:
    """Every dataset (or snapshot) under `root`, root included."""
    res = zfs("list", "-H", "-r", "-o", "name", "-t", types, root, check=False)
    return set(res.stdout.split()) if res.returncode == 0 else set()


GiB = 1024**3


# ---- NFS from the outside (libnfs) ----------------------------------------------------


def nfs_ls(server, path: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nfs-ls", server.nfs_url(path)], capture_output=True, text=True, timeout=NFS_TIMEOUT)


def nfs_write(server, path: str, name: str, data: bytes | str) -> subprocess.CompletedProcess:
    """Copy `data` into a new file `name` at the export `path` (nfs-cp will not overwrite)."""
    if isinstance(data, str):
        data = data.encode()
    with tempfile.NamedTemporaryFile(prefix="shoal-nfs-") as tmp:
        tmp.write(data)
        tmp.flush()
        return subprocess.run(["nfs-cp", tmp.name, server.nfs_url(f"{path}/{name}")],
                              capture_output=True, text=True, timeout=NFS_TIMEOUT)


def nfs_read(server, path: str, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nfs-cat", server.nfs_url(f"{path}/{name}")], capture_output=True, text=True,
                          timeout=NFS_TIMEOUT)


def assert_nfs_writable(server, path: str, name: str = "probe.txt", data: str = "written over NFS\n") -> None:
    res = nfs_write(server, path, name, data)
    assert res.returncode == 0, f"NFS write to {path} failed: {res.stderr.strip()}"
    got = nfs_read(server, path, name)
    assert got.returncode == 0 and got.stdout == data, f"NFS read back of {path}/{name}: {got.stderr.strip()}"
    assert (Path(path) / name).read_text() == data  # and it landed in the dataset itself


def assert_mount_refused(server, path: str) -> None:
    res = nfs_ls(server, path)
    assert res.returncode != 0, f"{path} mounted although it should not: {res.stdout}"
    assert "MNT3ERR_ACCES" in res.stderr or "ACCES" in res.stderr.upper(), res.stderr


def assert_not_exported(server, path: str) -> None:
    """Nothing is served at `path` any more (whatever the NFS server answers, it is a refusal)."""
    res = nfs_ls(server, path)
    assert res.returncode != 0, f"{path} is still served: {res.stdout}"


def assert_write_refused(server, path: str, name: str = "refused.txt") -> None:
    res = nfs_write(server, path, name, "must not land\n")
    assert res.returncode != 0, f"write to {path} succeeded although it should not"
    assert "ROFS" in res.stderr or "ACCES" in res.stderr.upper(), res.stderr
    assert not (Path(path) / name).exists()


# ---- the API, one test at a time -------------------------------------------------------------


class ShareApi:
    """A client for one project, plus what a scenario needs over and over."""

    def __init__(self, server, client: httpx.Client):
        self.server = server
        self.client = client

    # shares
    def create_share(self, size: Any = 1, wait: str | None = "available", **fields) -> dict:
        body = {"share": {"share_proto": "NFS", "size": size, **fields}}
        resp = self.client.post("/shares", json=body)
        assert resp.status_code == 200, f"create: {resp.status_code} {resp.text}"
        share = resp.json()["share"]
        assert share["status"] == "creating", share
        if wait:
            share = wait_for_status(self.client, f"/shares/{share['id']}", wait)
        return share

    def share(self, share_id: str) -> dict | None:
        return get(self.client, f"/shares/{share_id}")

    def action(self, share_id: str, name: str, arg: Any = None) -> httpx.Response:
        return self.client.post(f"/shares/{share_id}/action", json={name: arg})

    def delete_share(self, share_id: str, wait: bool = True) -> None:
        resp = self.client.delete(f"/shares/{share_id}")
        assert resp.status_code == 202, f"delete share: {resp.status_code} {resp.text}"
        if wait:
            wait_gone(self.client, f"/shares/{share_id}")

    def dataset(self, share_id: str) -> str:
        """Where Shoal keeps a share it created: a name built from the id only."""
        return f"{self.server.pool_root}/share-{share_id}"

    def mountpoint(self, share_id: str) -> str:
        """The path of the (user) export location, i.e. what an NFS client mounts."""
        resp = self.client.get(f"/shares/{share_id}/export_locations")
        assert resp.status_code == 200, resp.text
        locations = [loc for loc in resp.json()["export_locations"] if not loc.get("is_admin_only")]
        assert locations, resp.json()
        host, _, path = locations[0]["path"].partition(":")
        assert host == "127.0.0.1", locations
        return path

    # snapshots
    def create_snapshot(self, share_id: str, wait: str | None = "available", **fields) -> dict:
        resp = self.client.post("/snapshots", json={"snapshot": {"share_id": share_id, **fields}})
        assert resp.status_code == 202, f"snapshot: {resp.status_code} {resp.text}"
        snap = resp.json()["snapshot"]
        if wait:
            snap = wait_for_status(self.client, f"/snapshots/{snap['id']}", wait)
        return snap

    def delete_snapshot(self, snapshot_id: str, wait: bool = True) -> None:
        resp = self.client.delete(f"/snapshots/{snapshot_id}")
        assert resp.status_code == 202, f"delete snapshot: {resp.status_code} {resp.text}"
        if wait:
            wait_gone(self.client, f"/snapshots/{snapshot_id}")

    # access
    def allow(self, share_id: str, access_to: str = "127.0.0.1", level: str = "rw", access_type: str = "ip",
              wait: str | None = "active") -> dict:
        resp = self.action(share_id, "allow_access",
                           {"access_type": access_type, "access_to": access_to, "access_level": level})
        assert resp.status_code == 200, f"allow: {resp.status_code} {resp.text}"
        rule = resp.json()["access"]
        if wait:
            rule = wait_for_status(self.client, f"/share-access-rules/{rule['id']}", wait, key="state")
        return rule

    def deny(self, share_id: str, access_id: str, wait: bool = True) -> None:
        resp = self.action(share_id, "deny_access", {"access_id": access_id})
        assert resp.status_code == 202, f"deny: {resp.status_code} {resp.text}"
        if wait:
            wait_gone(self.client, f"/share-access-rules/{access_id}")

    def rules(self, share_id: str) -> list[dict]:
        resp = self.client.get("/share-access-rules", params={"share_id": share_id})
        assert resp.status_code == 200, resp.text
        return resp.json()["access_list"]

    def wait_rules_settled(self, share_id: str, timeout: float = STEADY_TIMEOUT) -> dict:
        """Until the share's access_rules_status is no longer `syncing`; returns the share."""
        return wait_for_status(self.client, f"/shares/{share_id}", ("active", "error"), timeout,
                               key="access_rules_status")

    # what a test changes, so that it can be undone
    def snapshot_state(self) -> tuple[set[str], set[str], set[str]]:
        shares = self.client.get("/shares", params={"all_tenants": 1}).json()["shares"]
        snaps = self.client.get("/snapshots", params={"all_tenants": 1}).json()["snapshots"]
        types = self.client.get("/types", params={"is_public": "all"}).json()["share_types"]
        return {s["id"] for s in shares}, {s["id"] for s in snaps}, {t["id"] for t in types}

    def group_state(self) -> tuple[set[str], set[str]]:
        """The share group snapshots and share groups there are (a failed test may leave them)."""
        snaps = self.client.get("/share-group-snapshots", params={"all_tenants": 1}).json()["share_group_snapshots"]
        groups = self.client.get("/share-groups", params={"all_tenants": 1}).json()["share_groups"]
        return {s["id"] for s in snaps}, {g["id"] for g in groups}


def _force_gone(client: httpx.Client, paths: Iterable[str], problems: list[str]) -> None:
    for path in paths:
        client.post(f"{path}/action", json={"force_delete": None})
        try:
            wait_gone(client, path, timeout=30)
        except pytest.fail.Exception as exc:
            problems.append(str(exc))


def _remove_leftovers(api: ShareApi, before: tuple[set[str], set[str], set[str]],
                      groups_before: tuple[set[str], set[str]] = (set(), set())) -> list[str]:
    """Delete (through the API) what appeared since `before`; returns what could not be removed.
    Group snapshots go first (their members keep shares), groups last."""
    problems: list[str] = []
    shares0, snaps0, types0 = before
    shares1, snaps1, types1 = api.snapshot_state()
    client = api.client
    group_snaps1, groups1 = api.group_state()
    _force_gone(client, (f"/share-group-snapshots/{i}" for i in group_snaps1 - groups_before[0]), problems)
    _force_gone(client, (f"/snapshots/{i}" for i in snaps1 - snaps0), problems)
    _force_gone(client, (f"/shares/{i}" for i in shares1 - shares0), problems)
    _force_gone(client, (f"/share-groups/{i}" for i in groups1 - groups_before[1]), problems)
    for type_id in types1 - types0:
        resp = client.delete(f"/types/{type_id}")
        if resp.status_code not in (202, 404):
            problems.append(f"share type {type_id}: {resp.status_code} {resp.text}")
    return problems


@pytest.fixture
def share_api(shoal_server):
    """A ShareApi on the session's Shoal; everything the test made is removed afterwards."""
    with shoal_server.client() as client:
        api = ShareApi(shoal_server, client)
        before, groups_before = api.snapshot_state(), api.group_state()
        yield api
        # The server may have been restarted by the test: a fresh client is safest.
    with shoal_server.client() as client:
        problems = _remove_leftovers(ShareApi(shoal_server, client), before, groups_before)
    assert not problems, f"clean-up left things behind: {problems}"


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True)
