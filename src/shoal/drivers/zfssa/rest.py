"""The appliance's REST transport (reference §3.1), on httpx.

What it keeps of the original: a session (`POST /api/access/v1` with Basic
auth, the `x-auth-session` header on every later call), a fresh login when a
call answers 401 (the session expired or the appliance restarted), and 503
("busy") answers retried 1 s apart, up to `busy_retries` times. What it fixes:
the certificate is verified unless `verify = false`; every call has a
timeout; neither the password nor request bodies (which carry CHAP secrets)
are ever logged; an error says which call failed and what the appliance said.
A 500 is an error, not a reason to log in again and repeat the call (the
original did both, repeating a non-idempotent POST up to ten times).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from shoal.drivers.base import DriverError, NotFoundOnBackend

from .config import ApplianceAccess

log = logging.getLogger(__name__)

LOGIN_PATH = "/api/access/v1"
SESSION_HEADER = "x-auth-session"
VERSION_HEADER = "x-zfssa-version"
RELOGINS = 2  # per call: a session lost twice in one call is not an expiry


class ApplianceError(DriverError):
    """The appliance refused a call or could not be reached; the message says which and why."""

    def __init__(self, message: str, status: int | None = None, fault: str | None = None):
        super().__init__(message)
        self.status = status
        self.fault = fault  # the appliance's error name, e.g. ERR_NOT_FOUND


class ApplianceNotFound(ApplianceError, NotFoundOnBackend):
    pass


class ApplianceUnreachable(ApplianceError):
    pass


@dataclass(frozen=True)
class Reply:
    status: int
    data: dict
    headers: httpx.Headers


def tls_verify(access: ApplianceAccess) -> ssl.SSLContext | bool:
    """httpx's `verify`: off only when asked, the configured CA when one is named."""
    if not access.verify:
        return False
    if access.ca_file:
        return ssl.create_default_context(cafile=access.ca_file)
    return True


def api_path(path: str) -> str:
    """Every path lives under /api (the original prefixed it the same way)."""
    return path if path.startswith("/api/") else "/api" + path


def fault_of(response: httpx.Response) -> tuple[str | None, str]:
    """The appliance's error body as (error name, text). The guide's shape is
    `{"fault": {"message": "ERR_NOT_FOUND", "details": "...", "code": 404}}`;
    a `name` key is read too."""
    try:
        fault = response.json().get("fault") or {}
    except (ValueError, AttributeError):
        fault = {}
    if not isinstance(fault, dict):
        fault = {}
    message, details = str(fault.get("message") or ""), str(fault.get("details") or "")
    name = fault.get("name") or (message if message.startswith("ERR_") else None)
    text = ": ".join(part for part in (message, details) if part) or response.reason_phrase or "no reason given"
    return name, text


class RestClient:
    """One appliance's REST API. Thread-safe: one session shared by every call,
    renewed under a lock when it expires."""

    def __init__(self, access: ApplianceAccess, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.access = access
        self.base_url = f"https://{access.address}:{access.rest_port}"
        self._http = httpx.Client(base_url=self.base_url, verify=tls_verify(access), timeout=access.rest_timeout,
                                  transport=transport, headers={"accept": "application/json"})
        self._sleep = sleep
        self._session: str | None = None
        self._session_lock = threading.Lock()
        self.version: str | None = None  # x-zfssa-version of the last login

    # ---- session -------------------------------------------------------------------------------

    def login(self) -> None:
        """A new session; ApplianceError when the appliance refuses it."""
        response = self._send("POST", LOGIN_PATH, auth=(self.access.user, self.access.password))
        if response.status_code == 201 and response.headers.get(SESSION_HEADER):
            self._session = response.headers[SESSION_HEADER]
            self.version = response.headers.get(VERSION_HEADER)
            log.info("ZFSSA %s: logged in as %s (version %s)", self.access.address, self.access.user, self.version)
            return
        if response.status_code == 404:
            raise ApplianceError(f"ZFSSA {self.access.address}: the REST API is not available (404 on login); "
                                 "fix: upgrade the appliance's software, or check address and rest_port", 404)
        if response.status_code in (401, 403):
            raise ApplianceError(f"ZFSSA {self.access.address}: login as {self.access.user!r} refused "
                                 f"({response.status_code}); fix: check user and password", response.status_code)
        name, message = fault_of(response)
        raise ApplianceError(f"ZFSSA {self.access.address}: login failed: {response.status_code} {message}",
                             response.status_code, name)

    def _ensure_session(self, stale: str | None = None) -> str:
        """The current session, logging in when there is none or when `stale`
        (the one a call was refused with) is still the current one."""
        with self._session_lock:
            if self._session is None or self._session == stale:
                self._session = None
                self.login()
            return self._session  # type: ignore[return-value]

    def logout(self) -> None:
        with self._session_lock:
            session, self._session = self._session, None
        if session:
            try:
                self._send("DELETE", LOGIN_PATH, headers={SESSION_HEADER: session})
            except ApplianceError as exc:
                log.warning("ZFSSA %s: logout failed: %s", self.access.address, exc)

    def close(self) -> None:
        self.logout()
        self._http.close()

    # ---- calls ---------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        """One HTTP exchange, with transport failures as ApplianceUnreachable."""
        try:
            return self._http.request(method, api_path(path), **kwargs)
        except httpx.TimeoutException:
            raise ApplianceUnreachable(f"ZFSSA {self.access.address}: {method} {path} got no answer within "
                                       f"{self.access.rest_timeout:g} s (rest_timeout)") from None
        except httpx.TransportError as exc:
            hint = ""
            if "CERTIFICATE" in str(exc).upper():
                hint = "; fix: name the appliance's CA in ca_file (or set verify = false to skip the check)"
            raise ApplianceUnreachable(f"ZFSSA {self.access.address}: cannot reach the REST API at "
                                       f"{self.base_url} ({exc or type(exc).__name__}){hint}") from None

    def call(self, method: str, path: str, body: dict | None = None, ok: Iterable[int] = (200,)) -> Reply:
        """`method path` with the session; the reply when its status is in `ok`,
        else ApplianceError (ApplianceNotFound for a 404)."""
        session = self._ensure_session()
        relogins = busy = 0
        while True:
            response = self._send(method, path, json=body, headers={SESSION_HEADER: session})
            status = response.status_code
            if status == 401 and relogins < RELOGINS:
                relogins += 1
                log.info("ZFSSA %s: session refused on %s %s; logging in again", self.access.address, method, path)
                session = self._ensure_session(stale=session)
                continue
            if status == 503 and busy < self.access.busy_retries:
                busy += 1
                log.warning("ZFSSA %s: busy (503) on %s %s; try %d again in 1 s", self.access.address, method,
                            path, busy)
                self._sleep(1)
                continue
            break
        log.debug("ZFSSA %s: %s %s -> %d", self.access.address, method, path, status)
        if status in ok:
            try:
                data = response.json() if response.content else {}
            except ValueError:
                data = {}
            return Reply(status, data if isinstance(data, dict) else {}, response.headers)
        name, message = fault_of(response)
        after = f" after {busy} retries" if status == 503 and busy else ""
        kind = ApplianceNotFound if status == 404 else ApplianceError
        raise kind(f"ZFSSA {self.access.address}: {method} {path}: {status} {message}{after}", status, name)
