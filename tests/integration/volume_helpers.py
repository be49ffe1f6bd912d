"""Helpers for the volume-API integration tests (tests/integration/test_volume_*.py).

Everything here talks to the real `shoal serve` of the `shoal_server` fixture
over HTTP (Block Storage v3 at microversion 3.71 unless a test says otherwise)
and checks outcomes from the outside, as a host on 127.0.0.1 would:

- ZFS with `zfs list` / `zfs get -H -p`;
- the iSCSI target of Shoal's own tgtd with the libiscsi tools (`iscsi-inq`,
  `iscsi-readcapacity16`, `iscsi-ls`) and qemu's iSCSI driver (`qemu-img
  convert` through the `json:` form, acting as a given initiator name), and
  `tgtadm -C <control port>` for what the daemon holds.

`volume_api` is a fixture (import it into a test module to use it): a
`VolumeApi` that remembers what existed before the test and, afterwards,
removes every attachment, snapshot, volume and volume type the test left
behind -- through the API, waiting until each answers 404 -- so the scenarios
stay independent on the one session server.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any, Iterable

import httpx
import pytest

from shoal.exports.iscsi.tgt import TgtTarget, parse_targets
from tests.fixtures.shoal import control_port

from .api_waits import (  # noqa: F401 - re-exported for the volume tests
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

TOOL_TIMEOUT = 60
GiB = 1024**3
MiB = 1024**2
API_VERSION = "3.71"

# Initiator names of the pretend compute hosts.
HOST1 = "iqn.2026-11.org.test:host1"
HOST2 = "iqn.2026-11.org.test:host2"
STRANGER = "iqn.2026-11.org.test:stranger"

for _tool in ("iscsi-inq", "iscsi-readcapacity16", "iscsi-ls", "qemu-img", "tgtadm"):
    if not shutil.which(_tool):
        pytest.skip(f"{_tool} is not installed: run scripts/host-setup", allow_module_level=True)


# ---- the API -------------------------------------------------------------------------------


def cinder(server, project: str | None = None, version: str | None = API_VERSION) -> httpx.Client:
    """A Block Storage v3 client for `project` (the run's project by default)."""
    project = project or server.project
    headers = {"X-Auth-Token": f"admin:{project}"}
    if version:
        headers["OpenStack-API-Version"] = f"volume {version}"
    return httpx.Client(base_url=f"{server.url}/volume/v3/{project}", headers=headers, timeout=60)


def connector(initiator: str = HOST1, host: str = "h1", ip: str = "127.0.0.1") -> dict:
    """What os-brick sends for an iSCSI host."""
    return {"initiator": initiator, "ip": ip, "host": host, "platform": "x86_64", "os_type": "linux",
            "multipath": False}


def messages_for(client: httpx.Client, resource_id: str) -> list[dict]:
    resp = client.get("/messages", params={"resource_uuid": resource_id})
    assert resp.status_code == 200, resp.text
    return [m for m in resp.json()["messages"] if m["resource_uuid"] == resource_id]


def zfs_names(root: str, types: str = "all") -> set[str]:
    """Every dataset and snapshot under `root` (root included)."""
    res = zfs("list", "-H", "-r", "-o", "name", "-t", types, root, check=False)
    return set(res.stdout.split("\n")) - {""} if res.returncode == 0 else set()


def backing_file(dataset: str) -> str:
    return f"{zfs_get(dataset, 'mountpoint')}/volume.raw"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- iSCSI from the outside ---------------------------------------------------------------------


def run(argv: list[str], timeout: float = TOOL_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def output(result: subprocess.CompletedProcess) -> str:
    return (result.stdout or "") + (result.stderr or "")


@dataclass
class Lun:
    """The LUN an iSCSI connection_info points at, reached from outside."""

    portal: str
    iqn: str
    lun: int
    user: str
    password: str

    @classmethod
    def of(cls, connection_info: dict) -> "Lun":
        assert connection_info and connection_info["driver_volume_type"] == "iscsi", connection_info
        data = connection_info["data"]
        assert data["auth_method"] == "CHAP", data
        return cls(data["target_portal"], data["target_iqn"], int(data["target_lun"]), data["auth_username"],
                   data["auth_password"])

    def url(self, secret: str | None = None, with_lun: bool = True) -> str:
        path = f"/{self.iqn}/{self.lun}" if with_lun else ""
        return f"iscsi://{self.user}%{secret or self.password}@{self.portal}{path}"

    def inq(self, initiator: str, secret: str | None = None) -> subprocess.CompletedProcess:
        return run(["iscsi-inq", "-i", initiator, self.url(secret)])

    def reachable(self, initiator: str, secret: str | None = None) -> bool:
        return self.inq(initiator, secret).returncode == 0

    def capacity(self, initiator: str) -> int:
        """READ CAPACITY(16) as `initiator`: the LUN's size in bytes."""
        result = run(["iscsi-readcapacity16", "-s", "-i", initiator, self.url()])
        assert result.returncode == 0, f"{initiator} cannot read the capacity of {self.iqn}: {output(result)}"
        return int(result.stdout.strip())

    def qemu_spec(self, initiator: str, size: int | None = None, secret: str | None = None) -> str:
        spec: dict[str, Any] = {
            "driver": "raw",
            "file": {"driver": "iscsi", "transport": "tcp", "portal": self.portal, "target": self.iqn,
                     "lun": self.lun, "user": self.user, "password": secret or self.password,
                     "initiator-name": initiator},
        }
        if size is not None:
            spec["size"] = size
        return "json:" + json.dumps(spec)

    def write(self, initiator: str, data: bytes) -> None:
        """Write `data` at offset 0 of the LUN as `initiator` (qemu-img convert)."""
        with tempfile.NamedTemporaryFile(prefix="shoal-lun-") as src:
            src.write(data)
            src.flush()
            result = run(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src.name,
                          self.qemu_spec(initiator, size=len(data))])
        assert result.returncode == 0, f"write to {self.iqn} as {initiator} failed: {output(result)}"

    def read(self, initiator: str, size: int) -> bytes:
        """The first `size` bytes of the LUN, read as `initiator`."""
        with tempfile.TemporaryDirectory(prefix="shoal-lun-") as tmp:
            dst = os.path.join(tmp, "read.raw")
            result = run(["qemu-img", "convert", "-f", "raw", "-O", "raw", self.qemu_spec(initiator, size=size), dst])
            assert result.returncode == 0, f"read of {self.iqn} as {initiator} failed: {output(result)}"
            with open(dst, "rb") as fh:
                return fh.read()

    def listed_for(self, initiator: str) -> bool:
        """Does discovery (iscsi-ls) as `initiator` show this target?"""
        result = run(["iscsi-ls", "-i", initiator, self.url(with_lun=False)])
        return f"Target:{self.iqn}" in result.stdout


def assert_refused(lun: Lun, initiator: str, secret: str | None = None) -> str:
    result = lun.inq(initiator, secret)
    assert result.returncode != 0, f"{initiator} reached {lun.iqn} although it should not: {output(result)}"
    return output(result)


def pattern(seed: str, size: int = MiB) -> bytes:
    """`size` recognisable bytes (a hash chain), different for every seed."""
    block = hashlib.sha512(seed.encode()).digest()
    out = bytearray()
    while len(out) < size:
        block = hashlib.sha512(block).digest()
        out += block
    return bytes(out[:size])


def write_through_iscsi(volume_api, volume_id: str, data: bytes) -> None:
    attachment = volume_api.attach(volume_id, HOST1)
    try:
        Lun.of(attachment["connection_info"]).write(HOST1, data)
    finally:
        volume_api.detach(attachment["id"])


def read_through_iscsi(volume_api, volume_id: str, size: int = MiB) -> tuple[bytes, int]:
    """The first `size` bytes of the volume and its capacity, as host1 sees them."""
    attachment = volume_api.attach(volume_id, HOST1)
    try:
        lun = Lun.of(attachment["connection_info"])
        return lun.read(HOST1, size), lun.capacity(HOST1)
    finally:
        volume_api.detach(attachment["id"])


# ---- Shoal's tgtd --------------------------------------------------------------------------------


def tgtadm(server, *args: str) -> subprocess.CompletedProcess:
    return run(["tgtadm", "-C", str(control_port(server.iscsi_port)), "--lld", "iscsi", *args], timeout=30)


def tgt_targets(server) -> list[TgtTarget]:
    shown = tgtadm(server, "--op", "show", "--mode", "target")
    assert shown.returncode == 0, output(shown)
    return parse_targets(shown.stdout)


def tgt_target(server, iqn: str) -> TgtTarget | None:
    return next((t for t in tgt_targets(server) if t.iqn == iqn), None)


def volume_iqn(volume_id: str) -> str:
    """The IQN Shoal gives a volume (iqn_prefix of the fixture's config)."""
    return f"iqn.2026-11.org.shoal.test:volume-{volume_id}"


def tgtd_pids(server) -> list[int]:
    """The tgtd processes (daemon and logger child) serving Shoal's control port."""
    wanted = str(control_port(server.iscsi_port)).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and argv and argv[0].endswith(b"tgtd") and b"--control-port" in argv:
            at = argv.index(b"--control-port")
            if at + 1 < len(argv) and argv[at + 1] == wanted:
                found.append(int(entry))
    return found


# ---- the API, one test at a time ---------------------------------------------------------------


class VolumeApi:
    """A client for one project, plus what a scenario needs over and over."""

    def __init__(self, server, client: httpx.Client):
        self.server = server
        self.client = client

    # volumes
    def create_volume(self, size: Any = 1, wait: str | None = "available", **fields) -> dict:
        resp = self.client.post("/volumes", json={"volume": {"size": size, **fields}})
        assert resp.status_code == 202, f"create volume: {resp.status_code} {resp.text}"
        volume = resp.json()["volume"]
        assert volume["status"] == "creating", volume
        if wait:
            volume = wait_for_status(self.client, f"/volumes/{volume['id']}", wait)
        return volume

    def volume(self, volume_id: str) -> dict | None:
        return get(self.client, f"/volumes/{volume_id}")

    def action(self, volume_id: str, name: str, arg: Any = None) -> httpx.Response:
        return self.client.post(f"/volumes/{volume_id}/action", json={name: arg})

    def delete_volume(self, volume_id: str, wait: bool = True, **params) -> None:
        resp = self.client.delete(f"/volumes/{volume_id}", params=params)
        assert resp.status_code == 202, f"delete volume: {resp.status_code} {resp.text}"
        if wait:
            wait_gone(self.client, f"/volumes/{volume_id}")

    def wait_volume(self, volume_id: str, status: str | Iterable[str], timeout: float = STEADY_TIMEOUT) -> dict:
        return wait_for_status(self.client, f"/volumes/{volume_id}", status, timeout)

    def dataset(self, volume_id: str) -> str:
        """Where Shoal keeps a volume it created: a name built from the id only."""
        return f"{self.server.pool_root}/volume-{volume_id}"

    # snapshots
    def create_snapshot(self, volume_id: str, wait: str | None = "available", **fields) -> dict:
        resp = self.client.post("/snapshots", json={"snapshot": {"volume_id": volume_id, **fields}})
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

    # attachments (3.27+, complete at 3.44+)
    def attach(self, volume_id: str, initiator: str = HOST1, host: str = "h1", complete: bool = True) -> dict:
        """Create an attachment with a connector (and complete it): the attachment, with connection_info."""
        body = {"attachment": {"volume_uuid": volume_id, "instance_uuid": None,
                               "connector": connector(initiator, host)}}
        resp = self.client.post("/attachments", json=body)
        assert resp.status_code == 200, f"create attachment: {resp.status_code} {resp.text}"
        attachment = resp.json()["attachment"]
        if complete:
            done = self.client.post(f"/attachments/{attachment['id']}/action", json={"os-complete": None})
            assert done.status_code == 204, f"os-complete: {done.status_code} {done.text}"
        return attachment

    def detach(self, attachment_id: str) -> None:
        resp = self.client.delete(f"/attachments/{attachment_id}")
        assert resp.status_code == 200, f"delete attachment: {resp.status_code} {resp.text}"
        wait_gone(self.client, f"/attachments/{attachment_id}")

    # volume types
    def create_type(self, name: str, extra_specs: dict | None = None, **fields) -> dict:
        body = {"volume_type": {"name": name, "extra_specs": extra_specs or {}, **fields}}
        resp = self.client.post("/types", json=body)
        assert resp.status_code == 200, f"create type: {resp.status_code} {resp.text}"
        return resp.json()["volume_type"]

    # what a test changes, so that it can be undone
    def state(self) -> dict[str, dict[str, str]]:
        """Every attachment, snapshot and volume (of any project: id -> its project) and volume type."""
        def items(path: str, key: str, **params) -> list[dict]:
            resp = self.client.get(path, params=params)
            assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
            return resp.json()[key]

        volumes = {v["id"]: v["os-vol-tenant-attr:tenant_id"]
                   for v in items("/volumes/detail", "volumes", all_tenants=1)}
        return {
            "volumes": volumes,
            "attachments": {a["id"]: volumes.get(a["volume_id"], self.server.project)
                            for a in items("/attachments", "attachments", all_tenants=1)},
            "snapshots": {s["id"]: s["os-extended-snapshot-attributes:project_id"]
                          for s in items("/snapshots/detail", "snapshots", all_tenants=1)},
            "types": {t["id"]: "" for t in items("/types", "volume_types", is_public="all")},
        }


def _remove_leftovers(api: VolumeApi, before: dict[str, dict[str, str]]) -> list[str]:
    """Delete (through the API, as each object's own project) what appeared since
    `before`; returns what could not be removed."""
    problems: list[str] = []
    after = api.state()
    clients: dict[str, httpx.Client] = {}

    def client(project: str) -> httpx.Client:
        if project not in clients:
            clients[project] = cinder(api.server, project=project or api.server.project)
        return clients[project]

    def new(kind: str) -> list[tuple[str, str]]:
        return [(i, p) for i, p in after[kind].items() if i not in before[kind]]

    def gone(project: str, path: str, timeout: float = 60) -> None:
        try:
            wait_gone(client(project), path, timeout=timeout)
        except pytest.fail.Exception as exc:
            problems.append(str(exc))

    try:
        for attachment_id, project in new("attachments"):
            client(project).delete(f"/attachments/{attachment_id}")
            gone(project, f"/attachments/{attachment_id}")
        for snap_id, project in new("snapshots"):
            client(project).post(f"/snapshots/{snap_id}/action", json={"os-force_delete": None})
        for snap_id, project in new("snapshots"):
            gone(project, f"/snapshots/{snap_id}")
        for volume_id, project in new("volumes"):
            resp = client(project).post(f"/volumes/{volume_id}/action", json={"os-force_delete": None})
            if resp.status_code not in (202, 404):
                problems.append(f"force delete of volume {volume_id}: {resp.status_code} {resp.text}")
        for volume_id, project in new("volumes"):
            gone(project, f"/volumes/{volume_id}")
        for type_id, _ in new("types"):
            resp = api.client.delete(f"/types/{type_id}")
            if resp.status_code not in (202, 404):
                problems.append(f"volume type {type_id}: {resp.status_code} {resp.text}")
    finally:
        for c in clients.values():
            c.close()
    return problems


@pytest.fixture
def volume_api(shoal_server):
    """A VolumeApi on the session's Shoal; everything the test made is removed afterwards."""
    with cinder(shoal_server) as client:
        api = VolumeApi(shoal_server, client)
        before = api.state()
        yield api
    with cinder(shoal_server) as client:  # the test may have restarted the server
        problems = _remove_leftovers(VolumeApi(shoal_server, client), before)
    assert not problems, f"clean-up left things behind: {problems}"
