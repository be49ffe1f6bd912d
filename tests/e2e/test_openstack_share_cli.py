"""The unmodified `openstack share …` client (python-manilaclient's OSC plugin)
and openstacksdk drive a real Shoal, and a real NFS client (libnfs) checks
what the access rules allow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

OPENSTACK = str(Path(sys.executable).with_name("openstack"))


@pytest.fixture(scope="module")
def osc(shoal_server):
    if not Path(OPENSTACK).exists():
        pytest.skip("python-openstackclient is not installed in this venv; run scripts/host-setup")
    env = {**os.environ, "OS_AUTH_TYPE": "none", "OS_ENDPOINT": shoal_server.share_endpoint}
    for key in ("OS_CLOUD", "OS_AUTH_URL", "OS_CLIENT_CONFIG_FILE"):
        env.pop(key, None)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([OPENSTACK, *args], env=env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def run_json(*args: str):
        return json.loads(run(*args, "-f", "json").stdout)

    run.json = run_json
    return run


def wait_for(osc, kind: str, name: str, status: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        shown = osc.json(*kind.split(), "show", name)
        if shown["status"] == status:
            return shown
        assert not shown["status"].startswith("error"), shown
        assert time.monotonic() < deadline, f"{kind} {name} still {shown['status']}"
        time.sleep(0.3)


def nfs(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def user_path(shown: dict) -> str:
    locations = shown["export_locations"]
    text = locations if isinstance(locations, str) else json.dumps(locations)
    start = text.index("127.0.0.1:") + len("127.0.0.1:")
    end = min(i for i in (text.find(c, start) for c in ("\n", "'", '"', ",", " ")) if i != -1)
    return text[start:end]


def test_share_tour_with_openstack_cli(osc, shoal_server, tmp_path):
    if shutil.which("nfs-cp") is None:
        pytest.skip("libnfs-utils is missing; run scripts/host-setup")
    created = osc.json("share", "create", "NFS", "1", "--name", "e2e-data")
    assert created["status"] == "creating" and created["share_type_name"] == "default"
    shown = wait_for(osc, "share", "e2e-data", "available")
    names = [s["Name"] for s in osc.json("share", "list")]
    assert "e2e-data" in names
    path = user_path(shown)
    assert path.startswith(f"/{shoal_server.pool_root}/share-")

    # No rule: the export refuses the mount.
    local = tmp_path / "hello.txt"
    local.write_text("hello from the openstack tour\n")
    refused = nfs(["nfs-cp", str(local), shoal_server.nfs_url(f"{path}/hello.txt")])
    assert refused.returncode != 0

    rule = osc.json("share", "access", "create", "e2e-data", "ip", "127.0.0.1")
    assert rule["access_to"] == "127.0.0.1" and rule["access_level"] == "rw"
    deadline = time.monotonic() + 30
    while osc.json("share", "access", "list", "e2e-data")[0]["State"] != "active":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    wrote = nfs(["nfs-cp", str(local), shoal_server.nfs_url(f"{path}/hello.txt")])
    assert wrote.returncode == 0, wrote.stderr
    assert (Path(path) / "hello.txt").read_text() == "hello from the openstack tour\n"

    osc("share", "snapshot", "create", "e2e-data", "--name", "e2e-snap")
    snap = wait_for(osc, "share snapshot", "e2e-snap", "available")
    assert snap["size"] == 1

    osc("share", "create", "NFS", "2", "--name", "e2e-copy", "--snapshot-id", snap["id"])
    copy = wait_for(osc, "share", "e2e-copy", "available")
    assert copy["size"] == 2
    assert (Path(user_path(copy)) / "hello.txt").read_text() == "hello from the openstack tour\n"
    assert osc.json("share", "access", "list", "e2e-copy") == []  # rules are not inherited

    osc("share", "resize", "e2e-data", "3")
    assert wait_for(osc, "share", "e2e-data", "available")["size"] == 3

    osc("share", "access", "delete", "e2e-data", rule["id"])
    deadline = time.monotonic() + 30
    while osc.json("share", "access", "list", "e2e-data"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert nfs(["nfs-ls", shoal_server.nfs_url(path)]).returncode != 0

    osc("share", "snapshot", "delete", "e2e-snap")
    osc("share", "delete", "e2e-copy")
    deadline = time.monotonic() + 60
    while osc.json("share", "snapshot", "list"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    osc("share", "delete", "e2e-data")
    while {"e2e-data", "e2e-copy"} & {s["Name"] for s in osc.json("share", "list")}:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    gone = subprocess.run(["zfs", "list", "-H", "-o", "name", "-r", shoal_server.pool_root],
                          capture_output=True, text=True, check=True).stdout.split()
    assert gone == [shoal_server.pool_root]


def test_share_type_and_errors_with_openstack_cli(osc):
    stype = osc.json("share", "type", "create", "e2e-gzip", "false", "--extra-specs", "zfsonlinux:compression=gzip")
    assert stype["name"] == "e2e-gzip"
    listed = {t["Name"] for t in osc.json("share", "type", "list")}
    assert {"default", "e2e-gzip"} <= listed
    bad = osc("share", "create", "NFS", "1", "--share-type", "no-such-type", check=False)
    assert bad.returncode != 0 and "no-such-type" in (bad.stderr + bad.stdout)
    missing = osc("share", "show", "no-such-share", check=False)
    assert missing.returncode != 0
    osc("share", "type", "delete", "e2e-gzip")


def test_openstacksdk_shares(shoal_server):
    openstack = pytest.importorskip("openstack")
    endpoint = shoal_server.share_endpoint
    conn = openstack.connect(auth_type="none", auth={"endpoint": endpoint},
                             shared_file_system_endpoint_override=endpoint)
    sfs = conn.shared_file_system
    share = sfs.create_share(share_proto="NFS", size=1, name="sdk-share")  # no microversion header
    share = sfs.wait_for_status(share, "available", wait=60, interval=0.3)
    assert share.size == 1
    rule = sfs.create_access_rule(share.id, access_type="ip", access_to="127.0.0.1", access_level="ro")
    assert rule.access_level == "ro"
    deadline = time.monotonic() + 30
    while [r.state for r in sfs.access_rules(share)] != ["active"]:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    paths = {loc.path for loc in sfs.export_locations(share.id)}
    assert any(p.startswith("127.0.0.1:/") for p in paths)
    snap = sfs.create_share_snapshot(share_id=share.id, name="sdk-snap")
    snap = sfs.wait_for_status(snap, "available", wait=60, interval=0.3)
    sfs.delete_share_snapshot(snap)
    sfs.wait_for_delete(snap, interval=0.3, wait=60)
    sfs.delete_share(share)
    sfs.wait_for_delete(share, interval=0.3, wait=60)
    assert "sdk-share" not in {s.name for s in sfs.shares()}
