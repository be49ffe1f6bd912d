"""Client tour, bad credentials: a wrong password fails every client with 401; garbled,
missing, expired, revoked and other-project tokens, and those of a disabled user, get 401
with the OpenStack error body on the raw API; no password reaches the server's log."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from tests.e2e.tour_fixtures import BIN

pytestmark = pytest.mark.e2e

AUTH_FAILED = "The request you have made requires authentication."


def test_wrong_password_is_401_for_every_client(tour):
    out = tour.osc_fails("a-member", "--os-password", "not-alices-password", "volume", "list")
    assert "HTTP 401" in out and AUTH_FAILED in out
    env_cinder = tour.cinder_env("a-member") | {"OS_PASSWORD": "not-alices-password"}
    cinder = subprocess.run([str(BIN / "cinder"), "list"], env=env_cinder, capture_output=True, text=True,
                            timeout=120)
    assert cinder.returncode != 0 and "HTTP 401" in cinder.stderr

    refused = tour.token("a-member", password="not-alices-password")
    assert refused.status_code == 401 and "X-Subject-Token" not in refused.headers
    assert refused.json()["error"] == {"code": 401, "message": AUTH_FAILED, "title": "Unauthorized"}
    unknown = httpx.post(f"{tour.auth_url}/auth/tokens", json={
        "auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "nobody", "domain": {"name": "Default"}, "password": "x"}}}}}, timeout=30)
    assert unknown.status_code == 401 and unknown.json()["error"]["message"] == AUTH_FAILED

    log = (tour.server.state_dir / "shoal.log").read_text(errors="replace")
    assert "not-alices-password" not in log
    assert not [cloud for cloud, password in tour.passwords.items() if password in log]
    assert "gAAAA" not in log  # nor any token (Fernet tokens start so)


@pytest.mark.parametrize("token", [None, "garbled", "gAAAAABnotafernettoken" + "x" * 80])
def test_missing_or_garbled_token_is_401_with_the_fault_body(tour, token):
    headers = {} if token is None else {"X-Auth-Token": token}
    a = tour.projects["tour-a"]
    for path, fault in ((f"/volume/v3/{a}/volumes", "unauthorized"), ("/share/v2/shares", "unauthorized"),
                        ("/identity/v3/auth/projects", "error")):
        response = httpx.get(tour.server.url + path, headers=headers, timeout=30)
        assert response.status_code == 401, f"{path}: {response.text}"
        assert response.json()[fault]["code"] == 401 and response.json()[fault]["message"]
        assert response.headers["WWW-Authenticate"] == f'Keystone uri="{tour.auth_url}"'


def test_token_of_one_project_on_another_projects_path_is_401(tour):
    b = tour.projects["tour-b"]
    with tour.http(tour.token_id("a-member")) as http:
        assert http.get(f"/volume/v3/{tour.projects['tour-a']}/volumes").status_code == 200
        for path in (f"/volume/v3/{b}/volumes", f"/volume/v3/{b}/snapshots/detail", f"/share/v2/{b}/shares"):
            response = http.get(path)
            assert response.status_code == 401, f"{path}: {response.text}"
            assert response.json()["unauthorized"]["code"] == 401


def test_revoked_token_is_refused_within_the_cache_time(tour):
    token = tour.token_id("a-member")
    path = f"/volume/v3/{tour.projects['tour-a']}/volumes"
    with tour.http(token) as http:
        assert http.get(path).status_code == 200  # validated, and now in the server's cache
        admin = {"X-Auth-Token": tour.token_id("admin"), "X-Subject-Token": token}
        assert httpx.head(f"{tour.auth_url}/auth/tokens", headers=admin, timeout=30).status_code == 200
        revoked = http.delete("/identity/v3/auth/tokens", headers={"X-Subject-Token": token})
        assert revoked.status_code == 204
        start = time.monotonic()
        while (response := http.get(path)).status_code == 200:
            assert time.monotonic() - start < 11, "a revoked token still works after the 10 s cache"
            time.sleep(0.5)
        assert response.status_code == 401 and response.json()["unauthorized"]["code"] == 401
    assert httpx.get(f"{tour.auth_url}/auth/tokens", headers=admin, timeout=30).status_code == 404
    # a new token for the same user still works
    with tour.http(tour.token_id("a-member")) as http:
        assert http.get(path).status_code == 200


def test_expired_token_is_401(tour):
    """A token signed with the server's own key whose expiry has passed (the shortest
    configurable lifetime is a minute, so it is minted here rather than waited for)."""
    from datetime import datetime, timedelta, timezone

    from shoal.services.identity.token_codec import TokenCodec, load_or_create_key

    key = load_or_create_key(tour.server.state_dir / "identity" / "token.key")
    past = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=5)
    a = tour.projects["tour-a"]
    expired, _ = TokenCodec(key, 3600).issue(tour.users["alice"], a, ("password",), expires_at=past)
    fresh, _ = TokenCodec(key, 3600).issue(tour.users["alice"], a, ("password",))
    with tour.http(fresh) as http:
        assert http.get(f"/volume/v3/{a}/volumes").status_code == 200  # the same minting, not expired
    with tour.http(expired) as http:
        response = http.get(f"/volume/v3/{a}/volumes")
        assert response.status_code == 401 and response.json()["unauthorized"]["code"] == 401
        assert http.get("/identity/v3/auth/projects").json()["error"]["code"] == 401


def test_disabled_user_loses_its_tokens_and_cannot_log_in(tour):
    token = tour.token_id("b-member")
    path = f"/volume/v3/{tour.projects['tour-b']}/volumes"
    tour.osc_batch("admin", ["user", "set", "--disable", "bob"])
    try:
        with tour.http(token) as http:
            assert http.get(path).status_code == 401
        assert tour.token("b-member").status_code == 401
        assert "HTTP 401" in tour.osc_fails("b-member", "volume", "list")
    finally:
        (shown,) = tour.osc_batch("admin", ["user", "set", "--enable", "bob"], ["user", "show", "bob", "-f", "json"])
    assert shown["enabled"] is True
    with tour.http(tour.token_id("b-member")) as http:
        assert http.get(path).status_code == 200
