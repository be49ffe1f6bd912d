"""Waiting on a Shoal API and looking at ZFS from the outside: what the share and
the volume integration helpers (share_helpers.py, volume_helpers.py) both use."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable

import httpx
import pytest

STEADY_TIMEOUT = 60.0
POLL = 0.1


def _resource(body: dict) -> dict:
    """The one object in a show answer: {"share": {...}} -> {...}."""
    (value,) = body.values()
    return value


def get(client: httpx.Client, path: str) -> dict | None:
    """The resource at `path`, or None when it answers 404."""
    resp = client.get(path)
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
    return _resource(resp.json())


def _is_error(status: object) -> bool:
    """Cinder's error statuses start with "error", some of Manila's end with it (extending_error)."""
    return str(status).startswith("error") or str(status).endswith("error")


def wait_for_status(client: httpx.Client, path: str, status: str | Iterable[str],
                    timeout: float = STEADY_TIMEOUT, key: str = "status") -> dict:
    """Poll GET `path` until the resource's `key` is `status` (or one of them).

    Fails at once, with the resource in the message, when it reaches an error
    status which was not asked for, and when it disappears."""
    wanted = {status} if isinstance(status, str) else set(status)
    deadline = time.monotonic() + timeout
    while True:
        last = get(client, path)
        assert last is not None, f"{path} disappeared while waiting for {key} in {sorted(wanted)}"
        if last.get(key) in wanted:
            return last
        if _is_error(last.get(key, "")) and not any(_is_error(w) for w in wanted):
            pytest.fail(f"{path} went to {key}={last.get(key)!r} while waiting for {sorted(wanted)}: {last}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not reach {key} in {sorted(wanted)} within {timeout}s: {last}")
        time.sleep(POLL)


def wait_gone(client: httpx.Client, path: str, timeout: float = STEADY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get(path)
        if resp.status_code == 404:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{path} still there after {timeout}s: {resp.status_code} {resp.text}")
        time.sleep(POLL)


def wait_until(predicate, timeout: float = STEADY_TIMEOUT, what: str = "condition", poll: float = POLL):
    """Poll `predicate()` until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not met within {timeout}s (last: {value!r})")
        time.sleep(poll)


def fault(resp: httpx.Response, code: int, name: str | None = None) -> str:
    """Assert an OpenStack error answer `{"<name>": {"code": code, "message": ...}}`; returns the message."""
    assert resp.status_code == code, f"expected {code}, got {resp.status_code}: {resp.text}"
    body = resp.json()
    assert isinstance(body, dict) and len(body) == 1, body
    ((fault_name, inner),) = body.items()
    if name is not None:
        assert fault_name == name, body
    assert inner["code"] == code and isinstance(inner["message"], str) and inner["message"], body
    return inner["message"]


# ---- ZFS from the outside ---------------------------------------------------------------


def zfs(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["zfs", *args], capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert res.returncode == 0, f"zfs {' '.join(args)}: {res.stderr.strip()}"
    return res


def zfs_get(name: str, prop: str) -> str:
    return zfs("get", "-H", "-p", "-o", "value", prop, name).stdout.strip()


def zfs_exists(name: str) -> bool:
    return zfs("list", "-H", "-o", "name", "-t", "all", name, check=False).returncode == 0
