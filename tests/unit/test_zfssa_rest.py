"""The ZFSSA REST client's own logic, with httpx's MockTransport standing in
for the network: session login and the header on every call, a fresh login on
401, 503 retried 1 s apart up to the limit, the timeout on every request, TLS
settings, and no password in logs or errors. (The appliance's behaviour is
the emulator's business: tests/integration/test_zfssa_*.)"""

from __future__ import annotations

import base64
import logging
import ssl
import threading

import httpx
import pytest

from shoal.drivers.zfssa.config import ApplianceAccess
from shoal.drivers.zfssa.rest import (
    ApplianceError,
    ApplianceNotFound,
    ApplianceUnreachable,
    RestClient,
    tls_verify,
)

PASSWORD = "s3cret-Pa55"
ACCESS = ApplianceAccess(address="zfssa.example", user="admin", password=PASSWORD, rest_timeout=7.5, busy_retries=3)


class Appliance:
    """Answers by a script: `answers` is a list of (method, path-prefix,
    status) consumed in order for matching calls; a login is always allowed."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.sessions = 0
        self.script: list[tuple[str, str, int]] = []
        self.login_status = 201
        self.expired: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/access/v1" and request.method == "POST":
            if self.login_status != 201:
                return httpx.Response(self.login_status, json={"fault": {"message": "nope", "code": 401}})
            self.sessions += 1
            return httpx.Response(201, headers={"x-auth-session": f"session-{self.sessions}",
                                                "x-zfssa-version": "2013.06.05.8.0"})
        if request.headers.get("x-auth-session") in self.expired:
            return httpx.Response(401, json={"fault": {"message": "session expired", "code": 401}})
        for i, (method, path, status) in enumerate(self.script):
            if request.method == method and request.url.path.startswith(path):
                del self.script[i]
                return httpx.Response(status, json={"fault": {"message": "ERR_SCRIPTED", "details": f"scripted {status}",
                                                              "code": status}})
        return httpx.Response(200, json={"version": {"asn": "a-s-n", "nodename": "head-1"}})


def client(appliance: Appliance, sleeps: list | None = None, access: ApplianceAccess = ACCESS) -> RestClient:
    return RestClient(access, transport=httpx.MockTransport(appliance),
                      sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_logs_in_once_with_basic_auth_and_sends_the_session_on_every_call():
    appliance = Appliance()
    rest = client(appliance)
    assert rest.call("GET", "/system/v1/version").data["version"]["nodename"] == "head-1"
    rest.call("GET", "/storage/v1/pools/p1")
    login, first, second = appliance.requests
    assert login.method == "POST" and login.url == "https://zfssa.example:215/api/access/v1"
    assert login.headers["authorization"] == "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert first.url.path == "/api/system/v1/version" and second.url.path == "/api/storage/v1/pools/p1"
    assert first.headers["x-auth-session"] == second.headers["x-auth-session"] == "session-1"
    assert "authorization" not in first.headers
    assert rest.version == "2013.06.05.8.0"


def test_an_expired_session_is_renewed_and_the_call_repeated():
    appliance = Appliance()
    rest = client(appliance)
    rest.call("GET", "/system/v1/version")
    appliance.script.append(("GET", "/api/storage", 401))
    rest.call("GET", "/storage/v1/pools/p1")
    paths = [(r.method, r.url.path, r.headers.get("x-auth-session")) for r in appliance.requests]
    assert paths[2:] == [("GET", "/api/storage/v1/pools/p1", "session-1"), ("POST", "/api/access/v1", None),
                         ("GET", "/api/storage/v1/pools/p1", "session-2")]


def test_a_session_refused_again_and_again_is_an_error_not_a_loop():
    appliance = Appliance()
    appliance.script += [("GET", "/api/storage", 401)] * 5
    with pytest.raises(ApplianceError) as raised:
        client(appliance).call("GET", "/storage/v1/pools/p1")
    assert raised.value.status == 401
    assert appliance.sessions == 3  # the first login and two renewals


def test_busy_answers_are_retried_one_second_apart_up_to_the_limit():
    appliance, sleeps = Appliance(), []
    appliance.script += [("PUT", "/api/storage", 503)] * 2
    assert client(appliance, sleeps).call("PUT", "/storage/v1/x", {"a": 1}, ok=(200,)).status == 200
    assert sleeps == [1, 1]
    bodies = [r.content for r in appliance.requests if r.method == "PUT"]
    assert bodies == [b'{"a":1}'] * 3  # the same body every time

    appliance, sleeps = Appliance(), []
    appliance.script += [("GET", "/api/storage", 503)] * 10
    with pytest.raises(ApplianceError, match="503 ERR_SCRIPTED: scripted 503 after 3 retries") as raised:
        client(appliance, sleeps).call("GET", "/storage/v1/pools/p1")
    assert raised.value.status == 503 and sleeps == [1, 1, 1]


def test_a_server_error_is_not_repeated():
    """The original logged in again and repeated the call on 500, creating twice."""
    appliance = Appliance()
    appliance.script.append(("POST", "/api/storage", 500))
    with pytest.raises(ApplianceError, match="500 ERR_SCRIPTED: scripted 500"):
        client(appliance).call("POST", "/storage/v1/pools/p1/projects", {"name": "x"}, ok=(201,))
    assert [r.method for r in appliance.requests] == ["POST", "POST"]  # login, the call


def test_not_found_and_the_fault_name():
    appliance = Appliance()
    appliance.script.append(("GET", "/api/storage", 404))
    with pytest.raises(ApplianceNotFound) as raised:
        client(appliance).call("GET", "/storage/v1/pools/nope")
    assert raised.value.fault == "ERR_SCRIPTED" and "GET /storage/v1/pools/nope: 404" in str(raised.value)


def test_a_wrong_password_names_the_fix_and_never_the_password(caplog):
    appliance = Appliance()
    appliance.login_status = 401
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ApplianceError, match="login as 'admin' refused.*fix: check user and password") as raised:
        client(appliance).call("GET", "/system/v1/version")
    assert PASSWORD not in str(raised.value) and PASSWORD not in caplog.text
    assert PASSWORD not in repr(ACCESS)


def test_no_rest_api_on_login_is_named():
    appliance = Appliance()
    appliance.login_status = 404
    with pytest.raises(ApplianceError, match="REST API is not available"):
        client(appliance).call("GET", "/system/v1/version")


def test_every_request_carries_the_timeout_and_a_timeout_is_an_error():
    seen = []

    def slow(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        if request.url.path != "/api/access/v1":
            raise httpx.ReadTimeout("too slow", request=request)
        return httpx.Response(201, headers={"x-auth-session": "s"})

    rest = RestClient(ACCESS, transport=httpx.MockTransport(slow))
    with pytest.raises(ApplianceUnreachable, match="no answer within 7.5 s"):
        rest.call("GET", "/system/v1/version")
    assert seen and all(t == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5} for t in seen)


def test_a_refused_connection_is_unreachable():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(ApplianceUnreachable, match="cannot reach the REST API at https://zfssa.example:215"):
        RestClient(ACCESS, transport=httpx.MockTransport(refuse)).call("GET", "/system/v1/version")


def test_a_session_is_shared_by_concurrent_callers_and_renewed_once():
    appliance = Appliance()
    rest = client(appliance)
    rest.call("GET", "/system/v1/version")
    appliance.expired.add("session-1")

    threads = [threading.Thread(target=rest.call, args=("GET", "/storage/v1/pools/p1")) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert appliance.sessions == 2  # both refused with session-1; only one renewed it


def test_tls_is_verified_unless_turned_off():
    assert tls_verify(ACCESS) is True
    assert tls_verify(ACCESS.model_copy(update={"verify": False})) is False
    with pytest.raises((FileNotFoundError, ssl.SSLError)):
        tls_verify(ACCESS.model_copy(update={"ca_file": "/nonexistent/ca.pem"}))


def test_logout_ends_the_session():
    appliance = Appliance()
    rest = client(appliance)
    rest.call("GET", "/system/v1/version")
    rest.logout()
    last = appliance.requests[-1]
    assert (last.method, last.url.path, last.headers["x-auth-session"]) == ("DELETE", "/api/access/v1", "session-1")
