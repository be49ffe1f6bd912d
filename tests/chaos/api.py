"""The harness's HTTP clients (noauth, as the test Shoal uses) and what "steady" means.

Every wait here survives a Shoal that is down for a while (killed and being
restarted): transport errors are retried until the wait's own deadline.
"""

from __future__ import annotations

import threading
import time

import httpx

from tests.integration.volume_helpers import cinder

SHARE_VERSION = "2.84"
POLL = 0.25


def steady(status: str | None) -> bool:
    """A status no work is under way in: available, in-use, active, or any error."""
    return status is not None and (status in ("available", "in-use", "active") or "error" in status)


class Api:
    """Manila and Cinder clients for the run's project, one pair per thread."""

    def __init__(self, server):
        self.server = server
        self._local = threading.local()

    @property
    def share(self) -> httpx.Client:
        if not hasattr(self._local, "share"):
            self._local.share = self.server.client(SHARE_VERSION)
        return self._local.share

    @property
    def volume(self) -> httpx.Client:
        if not hasattr(self._local, "volume"):
            self._local.volume = cinder(self.server)
        return self._local.volume

    @staticmethod
    def fetch(client: httpx.Client, url: str, deadline: float, params: dict | None = None) -> httpx.Response:
        """GET `url` until it answers 200 or 404; transport errors and 5xx are retried until `deadline`."""
        while True:
            try:
                resp = client.get(url, params=params)
                if resp.status_code in (200, 404):
                    return resp
                problem = f"{resp.status_code} {resp.text[:200]}"
            except httpx.TransportError as exc:
                problem = repr(exc)
            if time.monotonic() > deadline:
                raise TimeoutError(f"GET {url}: {problem}")
            time.sleep(POLL)

    def get(self, client: httpx.Client, path: str, deadline: float) -> dict | None:
        """The one resource at `path`, None on 404."""
        resp = self.fetch(client, path, deadline)
        if resp.status_code == 404:
            return None
        (value,) = resp.json().values()
        return value

    def wait(self, client: httpx.Client, path: str, timeout: float, key: str = "status") -> dict | None:
        """Poll until the resource's `key` is steady (returned) or it is gone (None)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.get(client, path, deadline)
            if value is None or steady(value.get(key)):
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} still {key}={value.get(key)!r} after {timeout:.0f}s")
            time.sleep(POLL)

    def wait_gone(self, client: httpx.Client, path: str, timeout: float) -> dict | None:
        """Poll until `path` is 404 (None) or steady in an error status (returned)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.get(client, path, deadline)
            if value is None or "error" in str(value.get("status", value.get("state", ""))):
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} still there after {timeout:.0f}s: {value}")
            time.sleep(POLL)

    def listing(self, client: httpx.Client, path: str, key: str, timeout: float = 60, **params) -> list[dict]:
        """Every item of a collection (admin, all projects), following `next` links."""
        deadline = time.monotonic() + timeout
        items: list[dict] = []
        params = {"all_tenants": 1, **params}
        url: str | None = path
        while url:
            resp = self.fetch(client, url, deadline, params)
            if resp.status_code != 200:
                raise TimeoutError(f"GET {path}: 404")
            body = resp.json()
            items += body[key]
            nxt = [link["href"] for link in body.get(f"{key}_links", []) if link.get("rel") == "next"]
            url, params = (nxt[0], None) if nxt else (None, None)
        return items
