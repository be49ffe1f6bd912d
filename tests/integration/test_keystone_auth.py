"""Shoal behind an existing Keystone (`api.auth = "keystone"`).

A real Keystone (tests/fixtures/keystone.py) knows the users and projects and lists
Shoal in its catalog; Shoal validates every caller's token there as its `shoal`
service user. The unmodified `openstack` and `cinder` clients log in with passwords
from a clouds.yaml (or OS_* variables) and find Shoal through the catalog. Projects
are isolated, readers only read, members get 403 on admin operations, bad tokens get
401 with the OpenStack error body, and a Keystone that is down gets 503, never 500.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .keystone_helpers import CACHE_SECONDS, clean_env, running_keystone_shoal

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
TIMEOUT = 90


@pytest.fixture(scope="module")
def ks_shoal(keystone, zpool, tmp_path_factory):
    with running_keystone_shoal(keystone, zpool, tmp_path_factory, "shoal-ks") as server:
        yield server


@pytest.fixture(scope="module")
def osc(ks_shoal):
    """`osc(cloud, *args)`: the openstack CLI as one of the clouds.yaml users."""
    if not (BIN / "openstack").exists():
        pytest.fail("python-openstackclient is not installed in this venv; run scripts/host-setup")
    env = clean_env(OS_CLIENT_CONFIG_FILE=str(ks_shoal.clouds))

    def run(cloud: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(BIN / "openstack"), "--os-cloud", cloud, *args], env=env,
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"openstack --os-cloud {cloud} {' '.join(args)} failed "
                                 f"({result.returncode}):\n{result.stderr}")
        return result

    run.json = lambda cloud, *args: json.loads(run(cloud, *args, "-f", "json").stdout)
    return run


def wait_status(client: httpx.Client, path: str, key: str, status: str | None) -> dict | None:
    """Poll `path` until the resource has `status` (None: until it is gone)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        response = client.get(path)
        if status is None and response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        body = response.json()[key]
        if body["status"] == status:
            return body
        assert not body["status"].startswith("error"), body
        assert time.monotonic() < deadline, f"{path} still {body['status']}"
        time.sleep(0.3)


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["unauthorized"]["code"] == 401 and body["unauthorized"]["message"]
    assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")


@pytest.fixture(scope="module")
def alpha_volume(ks_shoal):
    """A volume of project alpha, made by its member alice (over HTTP, for the policy tests)."""
    alice = ks_shoal.keystone.users["alice"]
    with ks_shoal.api(alice) as client:
        response = client.post(f"/{alice.project_id}/volumes", json={"volume": {"size": 1, "name": "alpha-vol"}})
        assert response.status_code == 202, response.text
        volume = response.json()["volume"]
        wait_status(client, f"/{alice.project_id}/volumes/{volume['id']}", "volume", "available")
        yield volume
        client.delete(f"/{alice.project_id}/volumes/{volume['id']}")
        wait_status(client, f"/{alice.project_id}/volumes/{volume['id']}", "volume", None)


# ---- the clients, logged in with passwords ------------------------------------------------------

def test_volume_tour_with_openstack_and_cinder(ks_shoal, osc):
    created = osc.json("alice", "volume", "create", "--size", "1", "ks-vol")
    assert created["status"] == "creating"
    alice = ks_shoal.keystone.users["alice"]
    with ks_shoal.api(alice) as client:
        wait_status(client, f"/{alice.project_id}/volumes/{created['id']}", "volume", "available")
    shown = osc.json("alice", "volume", "show", "ks-vol")
    assert shown["id"] == created["id"] and shown["size"] == 1 and shown["status"] == "available"
    assert "ks-vol" in [v["Name"] for v in osc.json("alice", "volume", "list")]

    cloud = ks_shoal.keystone.cloud(alice)["auth"]
    env = clean_env(OS_AUTH_URL=cloud["auth_url"], OS_USERNAME=cloud["username"], OS_PASSWORD=cloud["password"],
                    OS_PROJECT_NAME=cloud["project_name"], OS_USER_DOMAIN_NAME="Default",
                    OS_PROJECT_DOMAIN_NAME="Default", OS_REGION_NAME="RegionOne", OS_IDENTITY_API_VERSION="3")
    listing = subprocess.run([str(BIN / "cinder"), "list"], env=env, capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert "ks-vol" in listing.stdout and created["id"] in listing.stdout

    osc("alice", "volume", "delete", "ks-vol")
    with ks_shoal.api(alice) as client:
        wait_status(client, f"/{alice.project_id}/volumes/{created['id']}", "volume", None)
    assert "ks-vol" not in [v["Name"] for v in osc.json("alice", "volume", "list")]


def test_share_tour_with_openstack_cli(ks_shoal, osc):
    created = osc.json("alice", "share", "create", "NFS", "1", "--name", "ks-share")
    assert created["status"] == "creating"
    assert created["project_id"] == ks_shoal.keystone.users["alice"].project_id
    deadline = time.monotonic() + TIMEOUT
    while (shares := {s["Name"]: s for s in osc.json("alice", "share", "list")})["ks-share"]["Status"] != "available":
        assert shares["ks-share"]["Status"] == "creating" and time.monotonic() < deadline, shares
        time.sleep(0.5)
    assert "ks-share" not in {s["Name"] for s in osc.json("bob", "share", "list")}
    osc("alice", "share", "delete", "ks-share")
    while "ks-share" in {s["Name"] for s in osc.json("alice", "share", "list")}:
        assert time.monotonic() < deadline + TIMEOUT
        time.sleep(0.5)


# ---- isolation and roles -----------------------------------------------------------------------

def test_another_projects_member_does_not_see_the_volume(ks_shoal, osc, alpha_volume):
    bob = ks_shoal.keystone.users["bob"]
    with ks_shoal.api(bob) as client:
        response = client.get(f"/{bob.project_id}/volumes/{alpha_volume['id']}")
        assert response.status_code == 404, response.text
        assert response.json()["itemNotFound"]["code"] == 404
        listed = client.get(f"/{bob.project_id}/volumes/detail", params={"all_tenants": "1"}).json()["volumes"]
        assert alpha_volume["id"] not in [v["id"] for v in listed]
    shown = osc("bob", "volume", "show", alpha_volume["id"], check=False)
    assert shown.returncode != 0
    assert alpha_volume["id"] not in osc("bob", "volume", "list").stdout


def test_reader_lists_but_may_not_create(ks_shoal, osc, alpha_volume):
    assert alpha_volume["id"] in [v["ID"] for v in osc.json("rita", "volume", "list")]
    refused = osc("rita", "volume", "create", "--size", "1", "ks-reader-vol", check=False)
    assert refused.returncode != 0 and "403" in refused.stderr, refused.stderr
    rita = ks_shoal.keystone.users["rita"]
    with ks_shoal.api(rita) as client:
        response = client.post(f"/{rita.project_id}/volumes", json={"volume": {"size": 1}})
        assert response.status_code == 403 and response.json()["forbidden"]["code"] == 403
        names = [v["name"] for v in client.get(f"/{rita.project_id}/volumes").json()["volumes"]]
    assert "ks-reader-vol" not in names


def test_member_gets_403_on_an_admin_operation(ks_shoal, alpha_volume):
    alice = ks_shoal.keystone.users["alice"]
    action = {"os-reset_status": {"status": "error"}}
    with ks_shoal.api(alice) as client:
        response = client.post(f"/{alice.project_id}/volumes/{alpha_volume['id']}/action", json=action)
        assert response.status_code == 403, response.text
        assert response.json()["forbidden"]["code"] == 403
        assert client.get(f"/{alice.project_id}/volumes/{alpha_volume['id']}").json()["volume"]["status"] == "available"
    admin = ks_shoal.keystone.admin  # Keystone's admin role is Shoal's admin: it sees every project
    with ks_shoal.api(admin) as client:
        listed = client.get(f"/{admin.project_id}/volumes/detail", params={"all_tenants": "1"}).json()["volumes"]
        assert alpha_volume["id"] in [v["id"] for v in listed]


# ---- bad tokens --------------------------------------------------------------------------------

def test_missing_garbled_and_misplaced_tokens_are_401(ks_shoal):
    keystone = ks_shoal.keystone
    alice, bob = keystone.users["alice"], keystone.users["bob"]
    with ks_shoal.api() as client:
        assert_unauthorized(client.get(f"/{alice.project_id}/volumes"))
        assert_unauthorized(client.get("/volumes"))
    for garbled in ("garbled", "gAAAAABnot-a-real-fernet-token-at-all", "x" * 300):
        with ks_shoal.api(token=garbled) as client:
            assert_unauthorized(client.get(f"/{alice.project_id}/volumes"))
    alice_token = keystone.token(alice)
    with ks_shoal.api(token=alice_token) as client:
        assert client.get(f"/{alice.project_id}/volumes").status_code == 200
        assert_unauthorized(client.get(f"/{bob.project_id}/volumes"))  # scoped to alpha, used on beta
    with ks_shoal.api(token=keystone.token(alice, unscoped=True)) as client:
        assert_unauthorized(client.get("/volumes"))
    with httpx.Client(base_url=f"{ks_shoal.url}/share/v2", timeout=60) as client:
        assert client.get("/shares").status_code == 401
        assert client.get("/shares", headers={"X-Auth-Token": "garbled"}).json()["unauthorized"]["code"] == 401


def test_token_revoked_at_keystone_is_401_after_the_cache_time(ks_shoal):
    keystone = ks_shoal.keystone
    alice = keystone.users["alice"]
    token = keystone.token(alice)
    with ks_shoal.api(token=token) as client:
        assert client.get(f"/{alice.project_id}/volumes").status_code == 200
        keystone.revoke(token)
        time.sleep(CACHE_SECONDS + 0.5)
        assert_unauthorized(client.get(f"/{alice.project_id}/volumes"))
    log = (ks_shoal.state_dir / "shoal.log").read_text()
    assert token not in log and token[:24] not in log
    assert keystone.service_user.password not in log


# ---- Keystone down (last: it stops and restarts the session's Keystone) --------------------------

def test_keystone_down_is_503_not_500(ks_shoal):
    keystone = ks_shoal.keystone
    alice = keystone.users["alice"]
    token = keystone.token(alice)
    keystone.stop()
    try:
        with ks_shoal.api(token=token) as client:
            response = client.get(f"/{alice.project_id}/volumes")
        assert response.status_code == 503, response.text
        fault = response.json()["serviceUnavailable"]
        assert fault["code"] == 503 and "Keystone" in fault["message"] and "unreachable" in fault["message"]
    finally:
        keystone.start()
    with ks_shoal.api(token=token) as client:
        assert client.get(f"/{alice.project_id}/volumes").status_code == 200
