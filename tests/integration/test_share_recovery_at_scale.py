"""Many shares, and the export files lost: every export comes back in one pass.

A Shoal of its own (its own ganesha) holds SHARES shares, each with one rule and
a file written over NFS. Then the ganesha config directory's export files are
removed -- a lost or corrupted state directory -- in two ways:

- with Shoal stopped and its ganesha still serving from memory: the restarted
  Shoal writes the exports again with the Export_Ids ganesha still holds
  (they come from Shoal's database, not from the files), so ganesha takes
  them in one reload, and no share is given another's id;
- with ganesha killed and its whole directory wiped while Shoal runs: the
  periodic check starts ganesha again and brings every export back in one pass.

Each time, every share is read back over NFS (libnfs) from outside, its rule
in force, and every share is `available`.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.shoal import running_shoal, start_server, stop_server

from .share_helpers import ShareApi, nfs_read, nfs_write, wait_for_status, wait_until

pytestmark = pytest.mark.integration

SHARES = 40


@pytest.fixture(scope="module")
def many_shares(zpool, tmp_path_factory):
    with running_shoal(zpool, tmp_path_factory, name="scale") as server, server.client() as client:
        api = ShareApi(server, client)
        made = [api.create_share(name=f"s{i}", wait=None) for i in range(SHARES)]
        shares = [wait_for_status(client, f"/shares/{s['id']}", "available") for s in made]
        for share in shares:
            api.allow(share["id"])
        paths = {share["id"]: api.mountpoint(share["id"]) for share in shares}
        for share_id, path in paths.items():
            res = nfs_write(server, path, "mark.txt", share_id)
            assert res.returncode == 0, res.stderr
        yield server, api, paths


def readable(server, item) -> bool:
    share_id, path = item
    res = nfs_read(server, path, "mark.txt")
    return res.returncode == 0 and res.stdout == share_id


def unreadable(server, paths: dict[str, str]) -> list[str]:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda item: readable(server, item), paths.items()))
    return [share_id for share_id, ok in zip(paths, answers) if not ok]


def export_ids(server) -> dict[str, int]:
    ids = {}
    for conf in (server.state_dir / "ganesha" / "exports.d").glob("*.conf"):
        for line in conf.read_text().splitlines():
            if line.strip().startswith("Export_Id"):
                ids[conf.stem] = int(line.split("=")[1].strip(" ;"))
    return ids


def all_available(api: ShareApi, paths: dict[str, str]) -> list[str]:
    return [share_id for share_id in paths if api.share(share_id)["status"] != "available"]


def test_export_files_lost_while_ganesha_serves(many_shares):
    """(emulates nothing: real ganesha, real libnfs)"""
    server, api, paths = many_shares
    before = export_ids(server)
    assert set(before) == set(paths)
    stop_server(server.process)
    try:
        for conf in (server.state_dir / "ganesha" / "exports.d").glob("*.conf"):
            conf.unlink()
        # Recovery writes the exports in another order than they were made: ids from the
        # files (now gone) would be handed out afresh and clash with ganesha's memory.
    finally:
        server.process = start_server(server.config, server.state_dir, server.url)
    wait_until(lambda: set(export_ids(server)) == set(paths), timeout=60, what="every export file written again")
    assert export_ids(server) == before, "an export was given another Export_Id than ganesha holds"
    assert unreadable(server, paths) == []
    assert all_available(api, paths) == []
    log = (server.state_dir / "ganesha" / "ganesha.log").read_text()
    assert "doesn't match" not in log


def test_ganesha_killed_and_its_directory_wiped(many_shares):
    server, api, paths = many_shares
    pid = int((server.state_dir / "ganesha" / "ganesha.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    shutil.rmtree(server.state_dir / "ganesha" / "exports.d")
    started = time.monotonic()
    wait_until(lambda: unreadable(server, paths) == [], timeout=60, poll=0.5,
               what="every share readable over NFS again")
    assert all_available(api, paths) == []
    print(f"{SHARES} exports back {time.monotonic() - started:.1f}s after ganesha was killed")
