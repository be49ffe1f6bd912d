"""The unmodified `openstack volume …` (openstacksdk underneath) and `cinder`
clients drive a real Shoal, and a real iSCSI initiator (libiscsi) checks what
an attachment grants."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.shoal import free_port  # noqa: F401  (keeps the fixture module importable here)

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CINDER_"))}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def osc(shoal_server):
    if not (BIN / "openstack").exists():
        pytest.skip("python-openstackclient is not installed in this venv; run scripts/host-setup")
    env = clean_env(OS_AUTH_TYPE="none", OS_ENDPOINT=f"{shoal_server.url}/volume/v3/{shoal_server.project}")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(BIN / "openstack"), *args], env=env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    run.json = lambda *args: json.loads(run(*args, "-f", "json").stdout)
    return run


@pytest.fixture(scope="module")
def cinder(shoal_server):
    if not (BIN / "cinder").exists():
        pytest.skip("python-cinderclient is not installed in this venv; run scripts/host-setup")
    endpoint = f"{shoal_server.url}/volume/v3/{shoal_server.project}"
    env = clean_env(OS_AUTH_TYPE="noauth", OS_USER_ID="admin", OS_PROJECT_ID=shoal_server.project,
                    CINDER_ENDPOINT=endpoint)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(BIN / "cinder"), *args], env=env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"cinder {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

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


def wait_gone(osc, kind: str, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while osc(*kind.split(), "show", name, check=False).returncode == 0:
        assert time.monotonic() < deadline, f"{kind} {name} still there"
        time.sleep(0.3)


def test_volume_tour_with_openstack_cli(osc, shoal_server):
    created = osc.json("volume", "create", "--size", "1", "e2e-vol")
    assert created["status"] == "creating"
    shown = wait_for(osc, "volume", "e2e-vol", "available")
    assert shown["size"] == 1
    assert "e2e-vol" in [v["Name"] for v in osc.json("volume", "list")]

    osc("volume", "set", "--name", "e2e-vol2", "--description", "renamed; $(touch /tmp/x)", "e2e-vol")
    assert osc.json("volume", "show", "e2e-vol2")["description"] == "renamed; $(touch /tmp/x)"

    osc("volume", "snapshot", "create", "--volume", "e2e-vol2", "e2e-snap")
    snap = wait_for(osc, "volume snapshot", "e2e-snap", "available")
    assert snap["size"] == 1
    assert "e2e-snap" in [s["Name"] for s in osc.json("volume", "snapshot", "list")]

    osc("volume", "create", "--snapshot", "e2e-snap", "--size", "2", "e2e-from-snap")
    assert wait_for(osc, "volume", "e2e-from-snap", "available")["size"] == 2
    osc("volume", "create", "--source", "e2e-vol2", "e2e-clone")
    assert wait_for(osc, "volume", "e2e-clone", "available")["size"] == 1

    osc("volume", "set", "--size", "3", "e2e-vol2")
    deadline = time.monotonic() + 60
    while osc.json("volume", "show", "e2e-vol2")["size"] != 3:
        assert time.monotonic() < deadline
        time.sleep(0.3)

    osc("volume", "type", "create", "--property", "compression=on", "e2e-type")
    assert "e2e-type" in [t["Name"] for t in osc.json("volume", "type", "list")]
    osc("volume", "type", "set", "--property", "multiattach=<is> True", "e2e-type")
    assert "multiattach" in json.dumps(osc.json("volume", "type", "show", "e2e-type"))

    # Deleting the parent of a clone and the snapshot a volume came from both work.
    osc("volume", "snapshot", "delete", "e2e-snap")
    wait_gone(osc, "volume snapshot", "e2e-snap")
    for name in ("e2e-vol2", "e2e-clone", "e2e-from-snap"):
        osc("volume", "delete", name)
    for name in ("e2e-vol2", "e2e-clone", "e2e-from-snap"):
        wait_gone(osc, "volume", name)
    osc("volume", "type", "delete", "e2e-type")
    left = subprocess.run(["zfs", "list", "-H", "-o", "name", "-t", "all", "-r", shoal_server.pool_root],
                          capture_output=True, text=True, check=True).stdout.split()
    assert [n for n in left if "volume" in n] == []


def test_volume_tour_with_cinder_cli(cinder, shoal_server):
    out = cinder("create", "--name", "cinder-vol", "1").stdout
    assert "cinder-vol" in out
    deadline = time.monotonic() + 60
    while "available" not in cinder("show", "cinder-vol").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    listing = cinder("list").stdout
    assert "cinder-vol" in listing and "available" in listing
    cinder("extend", "cinder-vol", "2")
    while "| size                           | 2" not in cinder("show", "cinder-vol").stdout:
        assert time.monotonic() < deadline + 60
        time.sleep(0.3)
    cinder("snapshot-create", "--name", "cinder-snap", "cinder-vol")
    while "available" not in cinder("snapshot-show", "cinder-snap").stdout:
        assert time.monotonic() < deadline + 60
        time.sleep(0.3)
    assert "cinder-snap" in cinder("snapshot-list").stdout
    cinder("snapshot-delete", "cinder-snap")
    while cinder("snapshot-show", "cinder-snap", check=False).returncode == 0:
        assert time.monotonic() < deadline + 90
        time.sleep(0.3)
    bad = cinder("create", "0", check=False)
    assert bad.returncode != 0
    cinder("delete", "cinder-vol")
    while cinder("show", "cinder-vol", check=False).returncode == 0:
        assert time.monotonic() < deadline + 120
        time.sleep(0.3)


def test_attach_with_openstacksdk_and_iscsi_initiator(shoal_server):
    openstack = pytest.importorskip("openstack")
    endpoint = f"{shoal_server.url}/volume/v3/{shoal_server.project}"
    conn = openstack.connect(auth_type="none", auth={"endpoint": endpoint}, block_storage_endpoint_override=endpoint)
    bs = conn.block_storage
    volume = bs.create_volume(size=1, name="sdk-vol")
    volume = bs.wait_for_status(volume, "available", wait=60, interval=0.3)
    initiator = "iqn.2026-11.org.shoal.e2e:host"
    http = httpx.Client(base_url=endpoint, headers={"OpenStack-API-Version": "volume 3.71"}, timeout=60)
    body = {"attachment": {"volume_uuid": volume.id, "instance_uuid": "0b6a1e3c-5d55-4f2b-9d2b-1c1b6b9e0f11",
                           "connector": {"initiator": initiator, "ip": "127.0.0.1", "host": "e2e"}}}
    attachment = http.post("/attachments", json=body).json()["attachment"]
    data = attachment["connection_info"]["data"]
    url = (f"iscsi://{data['auth_username']}%{data['auth_password']}@{data['target_portal']}/"
           f"{data['target_iqn']}/{data['target_lun']}")
    seen = subprocess.run(["iscsi-readcapacity16", "-i", initiator, url], capture_output=True, text=True)
    assert seen.returncode == 0 and "Total size:1073741824" in seen.stdout
    other = subprocess.run(["iscsi-readcapacity16", "-i", "iqn.2026-11.org.shoal.e2e:intruder", url],
                           capture_output=True, text=True)
    assert other.returncode != 0
    assert http.post(f"/attachments/{attachment['id']}/action", json={"os-complete": None}).status_code == 204
    assert bs.get_volume(volume.id).status == "in-use"
    assert http.delete(f"/attachments/{attachment['id']}").status_code == 200
    assert subprocess.run(["iscsi-readcapacity16", "-i", initiator, url], capture_output=True).returncode != 0
    bs.delete_volume(volume)
    bs.wait_for_delete(volume, interval=0.3, wait=60)
