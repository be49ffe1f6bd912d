"""ZFSSA emulator test hooks: 503 bursts and chosen calls made to fail.

``busy(times)``: the next `times` REST calls answer 503 ERR_BUSY (before
authentication, as an appliance out of resources does). ``fail_next(method,
path_regex, status, times)``: the next `times` calls whose method matches and
whose path (``/api/...`` or ``/shares/...``, WebDAV included) matches the
regex (``re.search``) answer `status` with the appliance's fault body, and
change nothing.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from tests.emulators.zfssa.faults import ApiError


@dataclass
class _Rule:
    method: str
    path: re.Pattern
    status: int
    left: int


class Injector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = 0
        self._rules: list[_Rule] = []

    def busy(self, times: int) -> None:
        with self._lock:
            self._busy += times

    def fail_next(self, method: str, path_regex: str, status: int, times: int = 1) -> None:
        with self._lock:
            self._rules.append(_Rule(method.upper(), re.compile(path_regex), status, times))

    def clear(self) -> None:
        with self._lock:
            self._busy = 0
            self._rules.clear()

    def check(self, method: str, path: str, rest: bool = True) -> ApiError | None:
        """The injected answer for this call, if any (and count it used)."""
        with self._lock:
            if rest and self._busy > 0:
                self._busy -= 1
                return ApiError(503, "the appliance is busy (injected by the ZFSSA emulator)")
            for rule in self._rules:
                if rule.method in (method, "*") and rule.path.search(path):
                    rule.left -= 1
                    if rule.left <= 0:
                        self._rules.remove(rule)
                    return ApiError(rule.status, f"{method} {path} failed (injected by the ZFSSA emulator)")
        return None
