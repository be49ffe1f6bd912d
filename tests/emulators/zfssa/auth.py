"""ZFSSA emulator: who may call. The appliance takes, on every request, any of

- ``Authorization: Basic <base64 user:password>``,
- ``X-Auth-User`` and ``X-Auth-Key``,
- ``X-Auth-Session: <id>``, an id that ``POST /api/access/v1`` (with one of
  the two above) answered in its ``X-Auth-Session`` header with 201; it is
  valid until ``DELETE /api/access/v1`` or its timeout (15 minutes).

Anything else answers 401 ERR_UNAUTHORIZED. Tests end sessions early with
``expire_all()`` to make a client log in again.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from typing import Any

SESSION_TIMEOUT = 15 * 60.0


class Sessions:
    def __init__(self, user: str, password: str, timeout: float = SESSION_TIMEOUT):
        self.user = user
        self.password = password
        self.timeout = timeout
        self._sessions: dict[str, float] = {}
        self._lock = threading.Lock()
        self.logins = 0  # how many sessions were opened (tests count re-logins)

    def credentials_ok(self, headers: Any) -> bool:
        user, key = headers.get("X-Auth-User"), headers.get("X-Auth-Key")
        auth = headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            try:
                user, _, key = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
        if user is None or key is None:
            return False
        return hmac.compare_digest(user.encode(), self.user.encode()) and \
            hmac.compare_digest(key.encode(), self.password.encode())

    def session_ok(self, headers: Any) -> bool:
        token = headers.get("X-Auth-Session")
        if not token:
            return False
        with self._lock:
            expiry = self._sessions.get(token)
            if expiry is None or expiry < time.monotonic():
                self._sessions.pop(token, None)
                return False
            return True

    def allowed(self, headers: Any) -> bool:
        return self.session_ok(headers) or self.credentials_ok(headers)

    def login(self) -> str:
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._sessions[token] = time.monotonic() + self.timeout
            self.logins += 1
        return token

    def logout(self, headers: Any) -> None:
        with self._lock:
            self._sessions.pop(headers.get("X-Auth-Session") or "", None)

    def expire_all(self) -> None:
        with self._lock:
            self._sessions.clear()
