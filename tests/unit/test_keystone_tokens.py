"""KeystoneTokens: validation answers mapped to TokenInfo / 401 / 503, and the cache
(expiry, the token's own expiry, bound, thread safety, no token kept or logged).

Most tests use a scripted session; the last ones a small fake Keystone over HTTP,
so the real keystoneauth1 session (service login, re-login on 401, connection
errors) is exercised too. The real Keystone is in tests/integration."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shoal.config import KeystoneConfig
from shoal.services.common.errors import ServiceError, ServiceUnavailable, Unauthorized
from shoal.services.identity.keystone_tokens import KeystoneTokens, TokenCache, identity_url, token_key

NOW = 1_800_000_000.0  # the fake wall clock (epoch seconds)
PASSWORD = "service-secret-pw"


def token_body(user="u1", project="p1", roles=("member", "reader"), expires_in=3600.0) -> dict:
    expires = datetime.fromtimestamp(NOW + expires_in, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    return {"token": {"methods": ["password"], "expires_at": expires, "audit_ids": ["aud1"],
                      "user": {"id": user, "name": f"name-{user}", "domain": {"id": "default", "name": "Default"}},
                      "project": {"id": project, "name": f"name-{project}", "domain": {"id": "default"}},
                      "roles": [{"id": f"r-{r}", "name": r} for r in roles]}}


class Response:
    def __init__(self, status: int, body=None):
        self.status_code, self._body = status, body

    def json(self):
        if self._body is None:
            raise ValueError("no JSON")
        return self._body


class ScriptedSession:
    """Stands in for a keystoneauth1 Session: answers by subject token, counts calls."""

    def __init__(self):
        self.answers: dict[str, Response] = {}
        self.calls: list[tuple[str, str]] = []
        self.raise_exc: Exception | None = None
        self.lock = threading.Lock()

    def get(self, url, headers, raise_exc, log):
        assert raise_exc is False and log is False
        with self.lock:
            self.calls.append((url, headers["X-Subject-Token"]))
        if self.raise_exc is not None:
            raise self.raise_exc
        return self.answers.get(headers["X-Subject-Token"], Response(404, {"error": {"code": 404}}))


class Clock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup():
    session, clock, wall = ScriptedSession(), Clock(100.0), Clock(NOW)

    def make(cache_seconds: float = 30.0, max_entries: int = 100) -> KeystoneTokens:
        cfg = KeystoneConfig(auth_url="http://keystone.invalid:5000/v3", password=PASSWORD,
                             cache_seconds=cache_seconds)
        return KeystoneTokens(cfg, session=session, clock=clock, wall=wall, max_entries=max_entries)

    return make, session, clock, wall


def advance(clock: Clock, wall: Clock, seconds: float) -> None:
    clock.now += seconds
    wall.now += seconds


# ---- answers --------------------------------------------------------------------------------

def test_valid_token_gives_its_user_project_and_role_names(setup):
    make, session, _, _ = setup
    session.answers["tok-a"] = Response(200, token_body(roles=("admin", "member", "reader")))
    info = make().validate("tok-a")
    assert (info.user_id, info.user_name, info.project_id, info.project_name) == ("u1", "name-u1", "p1", "name-p1")
    assert info.roles == ("admin", "member", "reader")
    assert info.expires_at == datetime.fromtimestamp(NOW + 3600, UTC).replace(tzinfo=None)
    assert info.audit_id == "aud1" and info.domain_id == "default"
    assert session.calls == [("http://keystone.invalid:5000/v3/auth/tokens?nocatalog", "tok-a")]


def test_unscoped_token_has_no_project(setup):
    make, session, _, _ = setup
    body = token_body()
    del body["token"]["project"]
    session.answers["tok-u"] = Response(200, body)
    assert make().validate("tok-u").project_id is None


@pytest.mark.parametrize("status", [401, 404])
def test_unknown_token_is_unauthorized_and_not_cached(setup, status):
    make, session, _, _ = setup
    session.answers["tok-x"] = Response(status, {"error": {"code": status}})
    tokens = make()
    for _ in range(2):
        with pytest.raises(Unauthorized):
            tokens.validate("tok-x")
    assert len(session.calls) == 2 and len(tokens.cache) == 0


@pytest.mark.parametrize("token", ["", "has space", "new\nline", "x" * 8193, "ünïcode", "a;b"])
def test_malformed_token_is_refused_without_asking(setup, token):
    make, session, _, _ = setup
    with pytest.raises(Unauthorized):
        make().validate(token)
    assert session.calls == []


@pytest.mark.parametrize("status", [500, 502, 503, 403])
def test_keystone_failure_is_503(setup, status):
    make, session, _, _ = setup
    session.answers["tok-a"] = Response(status, {"error": {"code": status}})
    with pytest.raises(ServiceUnavailable) as exc:
        make().validate("tok-a")
    assert exc.value.code == 503 and isinstance(exc.value, ServiceError)
    assert "Keystone" in str(exc.value)


def test_unexpected_body_is_503(setup):
    make, session, _, _ = setup
    session.answers["tok-a"] = Response(200, {"token": {"user": {}}})
    with pytest.raises(ServiceUnavailable):
        make().validate("tok-a")


def test_keystoneauth_errors_are_503(setup):
    from keystoneauth1 import exceptions as ks

    make, session, _, _ = setup
    tokens = make()
    for error in (ks.ConnectFailure("refused"), ks.ConnectTimeout("slow"), ks.Unauthorized("service login"),
                  ks.InternalServerError("boom"), ks.DiscoveryFailure("what")):
        session.raise_exc = error
        with pytest.raises(ServiceUnavailable):
            tokens.validate("tok-a")


def test_identity_url_accepts_either_form():
    assert identity_url("http://k:5000") == "http://k:5000/v3"
    assert identity_url("http://k:5000/v3/") == "http://k:5000/v3"
    assert identity_url("http://k/identity") == "http://k/identity/v3"


# ---- the cache ------------------------------------------------------------------------------

def test_valid_token_is_cached_for_cache_seconds(setup):
    make, session, clock, wall = setup
    session.answers["tok-a"] = Response(200, token_body())
    tokens = make(cache_seconds=30)
    first = tokens.validate("tok-a")
    advance(clock, wall, 29)
    assert tokens.validate("tok-a") is first
    assert len(session.calls) == 1
    advance(clock, wall, 2)
    tokens.validate("tok-a")
    assert len(session.calls) == 2


def test_revoked_token_stops_working_after_the_cache_time(setup):
    make, session, clock, wall = setup
    session.answers["tok-a"] = Response(200, token_body())
    tokens = make(cache_seconds=5)
    tokens.validate("tok-a")
    session.answers["tok-a"] = Response(404, {"error": {"code": 404}})  # revoked at Keystone
    tokens.validate("tok-a")  # still trusted from the cache
    advance(clock, wall, 5.1)
    with pytest.raises(Unauthorized):
        tokens.validate("tok-a")


def test_cache_never_outlives_the_tokens_expiry(setup):
    make, session, clock, wall = setup
    session.answers["tok-a"] = Response(200, token_body(expires_in=3))
    tokens = make(cache_seconds=600)
    tokens.validate("tok-a")
    advance(clock, wall, 2.5)
    tokens.validate("tok-a")
    assert len(session.calls) == 1
    advance(clock, wall, 1)
    session.answers["tok-a"] = Response(404)
    with pytest.raises(Unauthorized):
        tokens.validate("tok-a")
    assert len(session.calls) == 2


def test_already_expired_answer_is_unauthorized(setup):
    make, session, _, _ = setup
    session.answers["tok-a"] = Response(200, token_body(expires_in=-1))
    with pytest.raises(Unauthorized):
        make().validate("tok-a")


def test_cache_seconds_zero_asks_every_time(setup):
    make, session, _, _ = setup
    session.answers["tok-a"] = Response(200, token_body())
    tokens = make(cache_seconds=0)
    tokens.validate("tok-a")
    tokens.validate("tok-a")
    assert len(session.calls) == 2 and len(tokens.cache) == 0


def test_cache_is_bounded_least_recently_used_first(setup):
    make, session, _, _ = setup
    for i in range(6):
        session.answers[f"tok-{i}"] = Response(200, token_body(user=f"u{i}"))
    tokens = make(max_entries=3)
    for i in range(3):
        tokens.validate(f"tok-{i}")
    tokens.validate("tok-0")  # used again: now the most recent
    tokens.validate("tok-3")  # evicts tok-1
    assert len(tokens.cache) == 3
    assert set(tokens.cache.keys()) == {token_key(t) for t in ("tok-0", "tok-2", "tok-3")}
    for i in range(6):
        tokens.validate(f"tok-{i}")
    assert len(tokens.cache) == 3


def test_expired_entries_go_before_live_ones_when_full():
    clock = Clock(0.0)
    cache = TokenCache(max_entries=2, clock=clock)
    cache.put("old", "info-old", 1)
    cache.put("live", "info-live", 100)
    clock.now = 5
    cache.put("new", "info-new", 100)
    assert set(cache.keys()) == {"live", "new"}


def test_cache_keys_are_hashes_never_tokens(setup):
    make, session, _, _ = setup
    token = "gAAAAABsecretfernettoken_abcdefghijklmnop"
    session.answers[token] = Response(200, token_body())
    tokens = make()
    tokens.validate(token)
    keys = tokens.cache.keys()
    assert keys == [token_key(token)] and len(keys[0]) == 64
    assert all(token not in key and token[:16] not in key for key in keys)
    assert token not in repr(tokens.cache._entries)


def test_cache_is_thread_safe(setup):
    make, session, _, _ = setup
    for i in range(40):
        session.answers[f"tok-{i}"] = Response(200, token_body(user=f"u{i}"))
    tokens = make(max_entries=16)
    errors = []

    def worker(offset: int):
        try:
            for n in range(300):
                i = (n * 7 + offset) % 40
                assert tokens.validate(f"tok-{i}").user_id == f"u{i}"
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(tokens.cache) <= 16


# ---- a fake Keystone over HTTP, with the real keystoneauth1 session ----------------------------

class FakeKeystone(BaseHTTPRequestHandler):
    service_tokens: set[str]
    users: dict[str, dict]
    logins: list[int]

    def log_message(self, *args):
        pass

    def reply(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        user = body["auth"]["identity"]["password"]["user"]
        if self.path != "/v3/auth/tokens" or user.get("password") != PASSWORD:
            return self.reply(401, {"error": {"code": 401}})
        self.logins.append(1)
        token = f"service-token-{len(self.logins)}"
        self.service_tokens.add(token)
        answer = token_body(user="shoal", project="service", roles=("service",), expires_in=10**6)
        self.reply(201, answer, {"X-Subject-Token": token})

    def do_GET(self):
        if not self.path.startswith("/v3/auth/tokens"):
            return self.reply(404)
        if self.headers.get("X-Auth-Token") not in self.service_tokens:
            return self.reply(401, {"error": {"code": 401}})
        answer = self.users.get(self.headers.get("X-Subject-Token", ""))
        if answer is None:
            return self.reply(404, {"error": {"code": 404}})
        self.reply(200, answer)


@pytest.fixture
def fake_keystone():
    handler = type("Handler", (FakeKeystone,), {"service_tokens": set(), "logins": [],
                                                 "users": {"user-token-1": token_body(user="alice")}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def test_real_session_logs_in_once_and_again_after_a_401(fake_keystone, caplog):
    server, handler = fake_keystone
    url = f"http://127.0.0.1:{server.server_address[1]}"
    tokens = KeystoneTokens(KeystoneConfig(auth_url=url, password=PASSWORD, cache_seconds=0))
    caplog.set_level(logging.DEBUG)
    assert tokens.validate("user-token-1").user_id == "alice"
    assert tokens.validate("user-token-1").user_id == "alice"
    assert len(handler.logins) == 1
    handler.service_tokens.clear()  # Keystone forgot Shoal's token: the session logs in again
    assert tokens.validate("user-token-1").user_id == "alice"
    assert len(handler.logins) == 2
    with pytest.raises(Unauthorized):
        tokens.validate("user-token-2")
    assert "user-token" not in caplog.text and PASSWORD not in caplog.text


def test_real_session_wrong_service_password_is_503(fake_keystone, caplog):
    server, _ = fake_keystone
    url = f"http://127.0.0.1:{server.server_address[1]}/v3"
    tokens = KeystoneTokens(KeystoneConfig(auth_url=url, password="wrong-password-xyz"))
    with pytest.raises(ServiceUnavailable) as exc:
        tokens.validate("user-token-1")
    assert "service credentials" in str(exc.value)
    assert "wrong-password-xyz" not in caplog.text and "user-token-1" not in caplog.text


def test_real_session_keystone_down_is_503(fake_keystone):
    server, _ = fake_keystone
    url = f"http://127.0.0.1:{server.server_address[1]}/v3"
    server.shutdown()
    server.server_close()
    tokens = KeystoneTokens(KeystoneConfig(auth_url=url, password=PASSWORD))
    with pytest.raises(ServiceUnavailable) as exc:
        tokens.validate("user-token-1")
    assert "unreachable" in str(exc.value)
