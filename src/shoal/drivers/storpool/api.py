"""The cluster's JSON API through os-brick's `StorPoolAPI` (what Cinder's
driver uses since 2.1.0), with its failures as the contract's errors.

Transient failures (an error the API marks transient, a refused or reset
connection, a broken HTTP exchange) are retried here with the client's own
policy: up to `retries` more tries after 1, 2, 4, ... s. The client is built
with no retries of its own because its loop re-encodes the JSON body on every
try: a retried POST would carry the first body's JSON text as a JSON string,
which the API refuses (os-brick 7.x, `_api_call`). Each try here calls the
client afresh with the original data.
"""

from __future__ import annotations

import errno
import http.client
import logging
import time
from collections.abc import Callable, Iterable

from os_brick.initiator.storpool_utils import StorPoolAPI, StorPoolAPIError

from shoal.drivers.base import DriverError, NotFoundOnBackend

from .cluster_conf import ApiSettings

log = logging.getLogger(__name__)

MISSING = "objectDoesNotExist"
EXISTS = "objectExists"
_RETRIED_ERRNOS = (errno.ECONNREFUSED, errno.ECONNRESET)  # the client's choice


class ApiError(DriverError):
    """The API refused a call; `name` is its error name (e.g. objectExists)."""

    def __init__(self, message: str, name: str | None = None):
        super().__init__(message)
        self.name = name


class ApiObjectMissing(ApiError, NotFoundOnBackend):
    pass


class Api:
    def __init__(self, settings: ApiSettings, timeout: float = 300.0, retries: int = 5,
                 client=None, sleep: Callable[[float], None] | None = None):
        self.address = settings.address
        self.client = client or StorPoolAPI(settings.host, settings.port, settings.token, timeout=timeout,
                                            transient_retries=0)
        self.retries = retries
        self._sleep = sleep or time.sleep

    def call(self, method: str, *args, ignore: Iterable[str] = (), retries: int | None = None):
        """`client.method(*args)`; None when the API answers with an error named in `ignore`.
        `retries` overrides the configured count (a health probe wants none)."""
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                return getattr(self.client, method)(*args)
            except StorPoolAPIError as exc:
                if exc.name in ignore:
                    return None
                if not exc.transient or last:
                    kind = ApiObjectMissing if exc.name == MISSING else ApiError
                    raise kind(f"StorPool API {method}{_on(args)}: {exc.name}: {exc.desc}", exc.name) from None
                reason = f"{exc.name}: {exc.desc}"
            except (OSError, http.client.HTTPException) as exc:
                transient = isinstance(exc, http.client.HTTPException) or exc.errno in _RETRIED_ERRNOS
                if not transient or last:
                    tries = f" after {attempt + 1} tries" if transient and attempt else ""
                    raise ApiError(f"StorPool API at {self.address} did not answer {method}{tries}: "
                                   f"{exc or type(exc).__name__}") from None
                reason = str(exc) or type(exc).__name__
            except ValueError as exc:  # not JSON: something else answers on that port
                raise ApiError(f"StorPool API at {self.address} sent no JSON for {method}: {exc}") from None
            log.warning("StorPool API %s: %s; trying again in %d s", method, reason, 2**attempt)
            self._sleep(2**attempt)
        raise AssertionError("unreachable")


def _on(args: tuple) -> str:
    """The object a call names, for its error message."""
    return f" {args[0]}" if args and isinstance(args[0], str) else ""
