"""What the volume and share quota scenarios share: many creates at once, and their
clean-up (tests/integration/test_quotas_*.py)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import httpx


def race(count: int, open_client: Callable[[], httpx.Client],
         post: Callable[[httpx.Client, int], httpx.Response]) -> list[httpx.Response]:
    """`count` requests sent together (one client and thread each, released by a barrier)."""
    start = threading.Barrier(count)

    def one(index: int) -> httpx.Response:
        with open_client() as client:
            start.wait()
            return post(client, index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def settle_and_delete(client: httpx.Client, collection: str, ids: set[str], timeout: float = 180) -> None:
    """Wait until every created resource is available, then delete them all and wait until gone."""
    key = collection.rstrip("s")
    deadline = time.monotonic() + timeout
    for item in ids:
        while (status := client.get(f"/{collection}/{item}").json()[key]["status"]) != "available":
            assert status not in ("error", "deleting") and time.monotonic() < deadline, f"{item}: {status}"
            time.sleep(0.2)
    for item in ids:
        resp = client.delete(f"/{collection}/{item}")
        assert resp.status_code == 202, resp.text
    for item in ids:
        while client.get(f"/{collection}/{item}").status_code != 404:
            assert time.monotonic() < deadline, f"{item} still there after {timeout}s"
            time.sleep(0.2)
