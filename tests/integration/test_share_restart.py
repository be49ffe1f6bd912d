"""Shoal survives its NFS server dying, its own restart, and a crash in the middle
of work: exports come back with exactly their rules, and nothing is left in a
transitional status.

Shoal's ganesha is the one whose pidfile is under the server's state dir; it is
killed with SIGKILL as a crash would. The crash of Shoal itself is simulated by
stopping it and putting rows back into `creating`/`deleting` with sqlite3.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fixtures.shoal import start_server, stop_server

from .share_helpers import (
    assert_mount_refused,
    assert_nfs_writable,
    nfs_write,
    share_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
    wait_until,
    zfs_exists,
)

pytestmark = pytest.mark.integration


def ganesha_pid(server) -> int | None:
    """The pid in Shoal's ganesha pidfile, if that process is alive (not a zombie)."""
    try:
        pid = int((server.state_dir / "ganesha" / "ganesha.pid").read_text().split()[0])
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError):
        return None
    return pid if state not in ("Z", "X") else None


@contextmanager
def shoal_stopped(server):
    """Stop the session's Shoal for the block; it is started again afterwards, whatever happens."""
    stop_server(server.process)
    try:
        yield server.state_dir / "shoal.db"
    finally:
        server.process = start_server(server.config, server.state_dir, server.url)


@pytest.fixture
def two_shares(share_api):
    """`open` has a rw rule for 127.0.0.1 and is writable; `closed` has no rule."""
    api, server = share_api, share_api.server
    opened, closed = api.create_share(name="open"), api.create_share(name="closed")
    rule = api.allow(opened["id"])
    paths = {"open": api.mountpoint(opened["id"]), "closed": api.mountpoint(closed["id"])}
    assert_nfs_writable(server, paths["open"], "before.txt")
    assert_mount_refused(server, paths["closed"])
    yield {"open": opened, "closed": closed, "rule": rule, "paths": paths}


def test_a_killed_ganesha_is_restarted_with_every_export_and_rule(share_api, two_shares):
    api, server = share_api, share_api.server
    paths = two_shares["paths"]
    old = ganesha_pid(server)
    assert old is not None, "Shoal's ganesha is not running"

    os.kill(old, signal.SIGKILL)
    killed = time.monotonic()
    wait_until(lambda: ganesha_pid(server) != old, timeout=10, what="the old ganesha to die")

    # Within the periodic interval (2 s here) plus a start, it serves again, with the rules.
    wait_until(lambda: ganesha_pid(server) not in (None, old), timeout=30, what="Shoal to start ganesha again")
    wait_until(lambda: nfs_write(server, paths["open"], f"back-{time.monotonic_ns()}.txt", "x").returncode == 0,
               timeout=30, what="the open share to be writable again", poll=0.25)
    took = time.monotonic() - killed
    assert took < 15, f"exports came back only after {took:.1f}s"
    assert_nfs_writable(server, paths["open"], "after.txt")
    assert_mount_refused(server, paths["closed"])
    assert [r["state"] for r in api.rules(two_shares["open"]["id"])] == ["active"]


def test_a_restart_of_shoal_keeps_exports_and_rules(share_api, two_shares):
    api, server = share_api, share_api.server
    paths = two_shares["paths"]
    with shoal_stopped(server):
        # Shoal is down; its ganesha keeps serving what it served.
        assert_nfs_writable(server, paths["open"], "while-down.txt")
    with server.client() as client:
        assert wait_for_status(client, f"/shares/{two_shares['open']['id']}", "available")
        rules = client.get("/share-access-rules", params={"share_id": two_shares["open"]["id"]}).json()
    assert [(r["id"], r["state"]) for r in rules["access_list"]] == [(two_shares["rule"]["id"], "active")]
    assert_nfs_writable(server, paths["open"], "after-restart.txt")
    assert_mount_refused(server, paths["closed"])


def test_work_interrupted_by_a_crash_ends_steady(share_api):
    api, server = share_api, share_api.server
    creating, deleting, bystander = (api.create_share(name=n) for n in ("creating", "deleting", "bystander"))
    api.allow(bystander["id"])
    bystander_path = api.mountpoint(bystander["id"])
    deleting_dataset = api.dataset(deleting["id"])

    with shoal_stopped(server) as db:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE shares SET status='creating', task='create' WHERE id=?", (creating["id"],))
            conn.execute("UPDATE shares SET status='deleting', task='delete' WHERE id=?", (deleting["id"],))
        conn.close()

    with server.client() as client:
        # A create that was cut short is not guessed at: it ends in error, with the reason.
        ended = wait_for_status(client, f"/shares/{creating['id']}", "error")
        assert "restart" in ended["status_reason"]
        # A delete is safe to redo: the share and its dataset go.
        wait_gone(client, f"/shares/{deleting['id']}")
        assert not zfs_exists(deleting_dataset)
        # Others are untouched.
        assert wait_for_status(client, f"/shares/{bystander['id']}", "available")
        transitional = [s for s in client.get("/shares/detail", params={"all_tenants": 1}).json()["shares"]
                        if s["status"] in ("creating", "deleting")]
        assert transitional == []
    assert_nfs_writable(server, bystander_path, "after-crash.txt")

    # The share left in error can be deleted like any other.
    api.delete_share(creating["id"])
    assert not zfs_exists(api.dataset(creating["id"]))
