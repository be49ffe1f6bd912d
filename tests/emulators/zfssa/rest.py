"""The ZFSSA emulator's REST side: ``https://127.0.0.1:<port>/api/<service>/v1/...``.

Every answer carries ``X-Zfssa-Version`` and ``X-Zfssa-<Service>-Api`` headers
and, for a refusal, the appliance's fault body (``faults``). Paths are matched
after ``/api``; an unknown path is 404 (a client reads a 404 on login as "REST
not available"), a known path with another method 405. Calls run one at a
time under the appliance's lock.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.emulators.zfssa import filesystems, luns, projects, san, services, snapshots
from tests.emulators.zfssa.appliance import Appliance
from tests.emulators.zfssa.auth import Sessions
from tests.emulators.zfssa.faults import ApiError
from tests.emulators.zfssa.injection import Injector

log = logging.getLogger("tests.emulators.zfssa")
Handler = Callable[[Appliance, dict, Any], tuple[int, Any]]
API_VERSIONS = {"access": "1.0", "storage": "1.1", "san": "1.0", "service": "1.0", "system": "1.0", "hardware": "1.0"}


class Router:
    def __init__(self, extra: list[tuple[str, str, Handler]] = ()):
        self.routes: list[tuple[str, re.Pattern, Handler]] = []
        for module in (projects, luns, filesystems, snapshots, san, services):
            self.add(module.ROUTES)
        self.add(extra)

    def add(self, routes) -> None:
        self.routes += [(m, re.compile(p), h) for m, p, h in routes]

    def find(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed = False
        for route_method, pattern, handler in self.routes:
            m = pattern.fullmatch(path)
            if m:
                if route_method == method:
                    return handler, {k: unquote(v) for k, v in m.groupdict().items()}
                allowed = True
        if allowed:
            raise ApiError(405, f"{method} is not supported on {path}", "ERR_NOT_IMPLEMENTED")
        raise ApiError(404, f"no such resource: /api{path}")


class RestFront:
    """Authentication, injected failures and dispatch of one REST call."""

    def __init__(self, app: Appliance, router: Router, sessions: Sessions, injector: Injector):
        self.app = app
        self.router = router
        self.sessions = sessions
        self.injector = injector
        self.calls: list[tuple[str, str, Any]] = []

    def headers_for(self, path: str) -> dict[str, str]:
        service = path.split("/")[2] if path.count("/") >= 2 else "access"
        out = {"X-Zfssa-Version": f"{self.app.nodename}/generic@{projects.VERSION}"}
        if service in API_VERSIONS:
            out[f"X-Zfssa-{service.capitalize()}-Api"] = API_VERSIONS[service]
        return out

    def call(self, method: str, raw_path: str, headers: Any, raw_body: bytes) -> tuple[int, Any, dict[str, str]]:
        path = urlsplit(raw_path).path
        extra = self.headers_for(path)
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            body = raw_body
        self.calls.append((method, path, body))
        try:
            injected = self.injector.check(method, path)
            if injected is not None:
                raise injected
            if not path.startswith("/api/"):
                raise ApiError(404, f"no such resource: {path}")
            if path.rstrip("/") == "/api/access/v1":
                return self._access(method, headers, extra)
            if not self.sessions.allowed(headers):
                raise ApiError(401, "authentication required: a valid session or user credentials")
            handler, args = self.router.find(method, path[len("/api"):].rstrip("/"))
            if body is not None and not isinstance(body, dict):
                raise ApiError(400, "the request body must be a JSON object")
            with self.app.lock:
                status, answer = handler(self.app, args, body)
            return status, answer, extra
        except ApiError as err:
            return err.status, err.body(), extra
        except Exception as exc:
            log.exception("ZFSSA emulator: %s %s failed", method, path)
            return 500, ApiError(500, f"ZFSSA emulator failure: {type(exc).__name__}: {exc}").body(), extra

    def _access(self, method: str, headers: Any, extra: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        services_list = [{"name": n, "version": v, "href": f"/api/{n}/v{v.split('.')[0]}"} for n, v in API_VERSIONS.items()]
        if method == "POST":
            if not self.sessions.credentials_ok(headers):
                raise ApiError(401, "invalid user name or password")
            return 201, {"access": {"services": services_list}}, {**extra, "X-Auth-Session": self.sessions.login()}
        if not self.sessions.allowed(headers):
            raise ApiError(401, "authentication required")
        if method == "DELETE":
            self.sessions.logout(headers)
            return 204, None, extra
        if method == "GET":
            return 200, {"access": {"services": services_list}}, extra
        raise ApiError(405, f"{method} is not supported on /api/access/v1", "ERR_NOT_IMPLEMENTED")


def handler_class(front: RestFront) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """One connection to the ZFSSA emulator's REST API."""

        protocol_version = "HTTP/1.1"
        server_version = "ZFSSA-emulator/1.0"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, answer, headers = front.call(self.command, self.path, self.headers, raw)
            payload = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if payload:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
