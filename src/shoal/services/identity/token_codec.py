"""Shoal's own tokens: Fernet-encrypted (signed and opaque), self-describing and expiring.

A token carries who (user), where (project, or none for an unscoped token), how
(auth methods), until when, and an audit id. Nothing about roles: they are read at
validation time, so removing a role takes effect on tokens already handed out.
Revocation is by audit id (a token) or by time (every token of a user issued before
a password change or a disable).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ..common.errors import Unauthorized


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    project_id: str | None
    methods: tuple[str, ...]
    issued_at: datetime  # naive UTC
    expires_at: datetime  # naive UTC
    audit_id: str


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None)


def load_or_create_key(path: Path) -> bytes:
    """The Fernet key in `path`, made (0600, in a 0700 directory) on first use."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Fernet.generate_key()
    # O_EXCL: two processes starting at once agree on the first key written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(key + b"\n")
    return key


class TokenCodec:
    def __init__(self, key: bytes, ttl_seconds: int):
        self._fernet = Fernet(key)
        self.ttl = ttl_seconds

    def issue(self, user_id: str, project_id: str | None, methods: tuple[str, ...],
              expires_at: datetime | None = None, audit_id: str | None = None) -> tuple[str, TokenClaims]:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        expires = expires_at or _utc(int(now.replace(tzinfo=timezone.utc).timestamp()) + self.ttl)
        claims = TokenClaims(user_id, project_id, tuple(methods), now, expires,
                             audit_id or base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("="))
        payload = {"u": user_id, "p": project_id, "m": list(methods), "a": claims.audit_id,
                   # microseconds: a token made right after a password change must outlive it
                   "i": round(now.replace(tzinfo=timezone.utc).timestamp(), 6),
                   "e": int(expires.replace(tzinfo=timezone.utc).timestamp())}
        token = self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode()
        return token, claims

    def read(self, token: str) -> TokenClaims:
        """The claims of a token this codec issued and that has not expired, or Unauthorized."""
        try:
            payload = json.loads(self._fernet.decrypt(token.encode("ascii")))
            claims = TokenClaims(payload["u"], payload["p"], tuple(payload["m"]), _utc(payload["i"]),
                                 _utc(payload["e"]), payload["a"])
        except (InvalidToken, UnicodeError, ValueError, KeyError, TypeError):
            raise Unauthorized("The token is not valid.") from None
        if claims.expires_at <= datetime.now(timezone.utc).replace(tzinfo=None):
            raise Unauthorized("The token has expired.")
        return claims
