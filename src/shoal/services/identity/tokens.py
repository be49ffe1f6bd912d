"""What a validated token says about its bearer, whoever issued it (Shoal or a Keystone),
and the cache of validated tokens both validators keep."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TokenInfo:
    user_id: str
    user_name: str
    project_id: str | None  # None: an unscoped token, good for nothing but identity calls
    project_name: str | None
    roles: tuple[str, ...]  # role names, implied roles included (admin ⊃ member ⊃ reader)
    expires_at: datetime  # naive UTC
    audit_id: str = ""
    domain_id: str = "default"
    methods: tuple[str, ...] = ("password",)
    issued_at: datetime | None = None


def token_key(token: str) -> str:
    """The cache key of a token: its SHA-256, so the cache never holds a token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class TokenCache:
    """Validated tokens by key, each until its own deadline; bounded and thread-safe."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic):
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, TokenInfo]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> TokenInfo | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, info: TokenInfo, seconds: float) -> None:
        if seconds <= 0 or self.max_entries <= 0:
            return
        with self._lock:
            now = self._clock()
            self._entries[key] = (now + seconds, info)
            self._entries.move_to_end(key)
            if len(self._entries) > self.max_entries:
                for stale in [k for k, (deadline, _) in self._entries.items() if deadline <= now]:
                    del self._entries[stale]
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
