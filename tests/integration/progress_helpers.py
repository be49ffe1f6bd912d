"""Helpers of the volume progress tests (tests/integration/test_volume_progress*.py):
GET /volumes/{volume_id}/progress polled while the work runs, every answer kept."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

POLL = 0.05  # seconds between reads: the work writes its percentage every half second


def progress(client: httpx.Client, volume_id: str) -> dict:
    resp = client.get(f"/volumes/{volume_id}/progress")
    assert resp.status_code == 200, f"progress of {volume_id}: {resp.status_code} {resp.text}"
    (answer,) = resp.json().values()
    return answer


def watch(client: httpx.Client, volume_id: str, over: Callable[[dict], bool], timeout: float) -> list[dict]:
    """Every progress answer from now until `over(answer)` holds (that one included)."""
    seen, deadline = [], time.monotonic() + timeout
    while True:
        seen.append(progress(client, volume_id))
        if over(seen[-1]):
            return seen
        if time.monotonic() > deadline:
            pytest.fail(f"volume {volume_id}: its work did not end within {timeout}s (last: {seen[-1]})")
        time.sleep(POLL)


def percents(seen: list[dict], operation: str) -> list[int]:
    """The percentages of the answers that name `operation`, checked to be whole numbers
    from 0 to 100 that never go back."""
    found = [a["percent"] for a in seen if a["operation"] == operation]
    assert all(isinstance(p, int) and 0 <= p <= 100 for p in found), found
    assert found == sorted(found), f"the percentage of {operation} went back: {found}"
    return found
