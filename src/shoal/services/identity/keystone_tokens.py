"""Callers' tokens validated by an external Keystone (`api.auth = "keystone"`).

Shoal authenticates to Keystone as its own service user (`[keystone]`: a user with
the `service` or `admin` role, so Keystone lets it validate other users' tokens) and
asks `GET {auth_url}/auth/tokens?nocatalog` with the caller's token in
`X-Subject-Token`, the way keystonemiddleware's auth_token does. The keystoneauth1
session keeps the service token and fetches a new one when it expires or Keystone
answers 401.

A valid answer is trusted for `cache_seconds` (never past the token's own
`expires_at`), so a token revoked at Keystone stops working at most that long
afterwards. The cache is keyed by a SHA-256 of the token: no token is kept, and
none (nor the service password) is ever logged.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from shoal.config import KeystoneConfig

from ..common.errors import ServiceUnavailable, Unauthorized
from .tokens import TokenCache, TokenInfo, token_key

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds for one request to Keystone
MAX_CACHED = 4096  # validated tokens kept at most; the least recently used go first
# What a token may look like: Fernet and JWS tokens are URL-safe base64 (well
# under 1 KiB); anything else is refused without asking Keystone.
_TOKEN = re.compile(r"^[A-Za-z0-9_.~+/=-]{1,8192}$")


def identity_url(auth_url: str) -> str:
    """Keystone's v3 root from `auth_url`, given with or without the trailing /v3."""
    url = auth_url.rstrip("/")
    return url if url.endswith("/v3") else f"{url}/v3"


def build_session(cfg: KeystoneConfig):
    """A keystoneauth1 session authenticated as Shoal's service user."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(auth_url=identity_url(cfg.auth_url or ""), username=cfg.username, password=cfg.password,
                       project_name=cfg.project_name, user_domain_name=cfg.user_domain_name,
                       project_domain_name=cfg.project_domain_name)
    return session.Session(auth=auth, timeout=TIMEOUT)


def _naive_utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def token_info(body: dict) -> TokenInfo:
    """A TokenInfo from Keystone's `{"token": {...}}` validation answer."""
    token = body["token"]
    user = token["user"]
    project = token.get("project") or {}
    return TokenInfo(
        user_id=user["id"],
        user_name=user.get("name", ""),
        project_id=project.get("id"),
        project_name=project.get("name"),
        roles=tuple(role["name"] for role in token.get("roles") or ()),
        expires_at=_naive_utc(token["expires_at"]),
        audit_id=(token.get("audit_ids") or [""])[0],
        domain_id=(user.get("domain") or {}).get("id", "default"),
    )


class KeystoneTokens:
    """Validates callers' tokens against the configured Keystone, with a short cache."""

    def __init__(self, cfg: KeystoneConfig, session=None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, max_entries: int = MAX_CACHED):
        self.cfg = cfg
        self.url = f"{identity_url(cfg.auth_url or '')}/auth/tokens?nocatalog"
        self.cache = TokenCache(max_entries, clock)
        self._session = session
        self._session_lock = threading.Lock()
        self._wall = wall

    @property
    def session(self):
        with self._session_lock:
            if self._session is None:
                self._session = build_session(self.cfg)
            return self._session

    def validate(self, token: str) -> TokenInfo:
        """The bearer of `token`; Unauthorized if Keystone does not know it (or it is
        malformed), ServiceUnavailable if Keystone cannot be asked."""
        if not token or not _TOKEN.match(token):
            raise Unauthorized("The token is malformed.")
        info = self.cached(token)
        if info is not None:
            return info
        key = token_key(token)
        info = self._ask_keystone(token)
        remaining = info.expires_at.replace(tzinfo=UTC).timestamp() - self._wall()
        if remaining <= 0:
            raise Unauthorized("The token has expired.")
        self.cache.put(key, info, min(self.cfg.cache_seconds, remaining))
        return info

    def cached(self, token: str) -> TokenInfo | None:
        """The bearer of a token validated recently, without asking Keystone; else None."""
        if not token or not _TOKEN.match(token):
            return None
        return self.cache.get(token_key(token))

    def _ask_keystone(self, token: str) -> TokenInfo:
        from keystoneauth1 import exceptions as ks

        try:
            response = self.session.get(self.url, headers={"X-Subject-Token": token}, raise_exc=False, log=False)
        except ks.Unauthorized:
            # Raised while the session authenticates itself: the service user's problem, not the caller's.
            log.error("Keystone at %s refused Shoal's service user %r", self.cfg.auth_url, self.cfg.username)
            raise ServiceUnavailable("Keystone refused Shoal's service credentials; tokens cannot be "
                                     "validated.") from None
        except (ks.ConnectionError, ks.RequestTimeout) as exc:
            log.error("Keystone at %s is unreachable: %s", self.cfg.auth_url, type(exc).__name__)
            raise ServiceUnavailable("The identity service (Keystone) is unreachable; tokens cannot be "
                                     "validated.") from None
        except ks.ClientException as exc:
            log.error("Keystone at %s failed while Shoal authenticated to it: %s", self.cfg.auth_url,
                      type(exc).__name__)
            raise ServiceUnavailable("The identity service (Keystone) failed; tokens cannot be validated.") from None
        status = response.status_code
        if status == 200:
            try:
                info = token_info(response.json())
            except (ValueError, KeyError, TypeError) as exc:
                log.error("Keystone at %s answered a token validation with an unexpected body (%s)",
                          self.cfg.auth_url, type(exc).__name__)
                raise ServiceUnavailable("The identity service (Keystone) gave an unexpected answer.") from None
            log.debug("Keystone validated a token of user %s, project %s", info.user_id, info.project_id)
            return info
        if status in (401, 404):
            raise Unauthorized("The token is unknown, expired or revoked.")
        if status == 403:
            log.error("Keystone at %s does not let Shoal's service user %r validate tokens (403); give it "
                      "the service or admin role", self.cfg.auth_url, self.cfg.username)
        else:
            log.error("Keystone at %s answered a token validation with %s", self.cfg.auth_url, status)
        raise ServiceUnavailable(f"The identity service (Keystone) could not validate the token "
                                 f"(it answered {status}).")
