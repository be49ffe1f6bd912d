"""A share replica's first copy cut while Shoal runs, to a second ZFS host
reached over SSH (tests/fixtures/ssh_replication.py; zfs-fuse, so no resume
tokens: a cut stream is sent again from a clean start).

Once: the copy's `zfs receive` on the SSH host is killed mid-copy; the flow
does not revert: the stream goes again (drivers/zfs/resumable.py), the
replica ends `in_sync` with the same bytes read over NFS (libnfs) from the SSH
host's export, and once replica and share are deleted nothing is left on
either pool and no process of the copy runs.

Every time: the SSH connection carrying the copy is dropped (its sshd session
killed) at each attempt; after the bounded retries the replica ends `error`
with the reason, its partial copy removed, and again nothing is left.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from shoal.drivers.zfs.resumable import RETRIES
from tests.fixtures.replication import second_zpool  # noqa: F401 - fixture
from tests.fixtures.ssh_replication import LOCAL_ZONE, REMOTE_ZONE, replica_sshd, ssh_replica_server  # noqa: F401

from .replica_helpers import SUSPENDED, VERSION, ReplicaApi, leftovers, read_secondary, write
from .share_helpers import wait_for_status, wait_gone, wait_until

pytestmark = pytest.mark.integration

MiB = 1024**2
DATA_MIB = 192  # long enough a copy to be cut in the middle
CUT_AFTER = 16 * MiB


@pytest.fixture
def api(ssh_replica_server):
    server = ssh_replica_server.server
    with server.client(VERSION) as client:
        yield ReplicaApi(server, client)


def cmdlines() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace").strip()
            except OSError:
                continue
    return found


def receives_into(dataset: str) -> list[int]:
    """The `zfs receive` processes writing into `dataset` (the SSH host's, on this machine)."""
    return [pid for pid, line in cmdlines().items() if line.startswith("zfs receive") and line.endswith(dataset)]


def processes_naming(text: str) -> list[str]:
    return [f"{pid}: {line}" for pid, line in cmdlines().items() if text in line]


def parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def connection_of(sshd, pid: int) -> int | None:
    """The test sshd's session process (one per client connection) running `pid`."""
    sessions = set(sshd.sessions())
    while pid > 1:
        if pid in sessions:
            return pid
        try:
            pid = parent(pid)
        except (OSError, ValueError, IndexError):
            return None
    return None


def bytes_sent(api: ReplicaApi, replica_id: str) -> int:
    state = api.replica(replica_id).get("task_state") or ""
    return int(state.split()[1]) if state.startswith("copying: ") else 0


def shoal_log(server) -> str:
    return (Path(server.state_dir) / "shoal.log").read_text(errors="replace")


def start_replica(api: ReplicaApi, env, name: str) -> tuple[dict, dict, str, str]:
    """A replicated share (local) holding DATA_MIB of random bytes and a small
    file, and its replica's creation on the SSH host started: (share, replica,
    the share's path, the data's sha256)."""
    share = api.replicated_share(name=name, availability_zone=LOCAL_ZONE)
    first = api.mountpoint(share["id"])
    # The bulk is put in place directly (test set-up); what counts is read back over NFS.
    subprocess.run(["dd", "if=/dev/urandom", f"of={first}/big.bin", "bs=1M", f"count={DATA_MIB}", "status=none"],
                   check=True, timeout=600)
    expected = hashlib.sha256(Path(first, "big.bin").read_bytes()).hexdigest()
    write(env.server, first, "a.txt", "written before the replica\n")
    resp = api.client.post("/share-replicas", json={"share_replica": {"share_id": share["id"],
                                                                      "availability_zone": REMOTE_ZONE}})
    assert resp.status_code == 202, f"replica create: {resp.status_code} {resp.text}"
    return share, resp.json()["share_replica"], first, expected


def secondary_sha256(server, path: str, name: str) -> str:
    """The file's digest as read over NFS (nfs-cp to a local file), waiting out
    the short gaps of a sync (on zfs-fuse a secondary steps out of its export
    for each: a read finds no export, or loses it halfway, and goes again)."""
    local = Path(f"/tmp/shoal-cut-{os.getpid()}-{name}")

    def attempt():
        res = subprocess.run(["nfs-cp", server.nfs_url(f"{path}/{name}"), str(local)],
                             capture_output=True, text=True, timeout=300)
        gap = SUSPENDED in res.stderr or "Failed to read from source file" in res.stderr
        assert res.returncode == 0 or gap, f"nfs-cp of {path}/{name}: {res.stderr}"
        return hashlib.sha256(local.read_bytes()).hexdigest() if res.returncode == 0 else None

    try:
        return wait_until(attempt, timeout=120, what=f"{path}/{name} over NFS", poll=0.2)
    finally:
        local.unlink(missing_ok=True)


def test_a_receive_killed_mid_copy_is_sent_again(api, ssh_replica_server):
    env = ssh_replica_server
    before = leftovers(env.roots)
    share, replica, _, expected = start_replica(api, env, "cut-once")
    target = f"{env.roots[1]}/share-{replica['id']}"

    wait_until(lambda: bytes_sent(api, replica["id"]) >= CUT_AFTER, timeout=180, what="the copy to be under way",
               poll=0.05)
    pids = receives_into(target)
    assert len(pids) == 1, f"expected the copy's one zfs receive: {processes_naming(replica['id'])}"
    os.kill(pids[0], signal.SIGKILL)  # the SSH host's receive (started by the test's own sshd)

    done = wait_for_status(api.client, f"/share-replicas/{replica['id']}", "available", timeout=300)
    assert done["replica_state"] == "in_sync" and done["progress"] == "100%", done
    assert not done.get("status_reason"), done
    # The flow went on past the cut (it did not revert and start over).
    assert "stream cut" in shoal_log(env.server) and target in shoal_log(env.server)
    second = api.replica_path(replica["id"])
    assert secondary_sha256(env.remote, second, "big.bin") == expected
    assert read_secondary(env.remote, second, "a.txt") == "written before the replica\n"

    api.remove_replicated(share["id"])
    assert leftovers(env.roots) == before
    assert not processes_naming(f"share-{replica['id']}")


class ConnectionDropper:
    """Drops the SSH connection of each `zfs receive` into `dataset` as it appears
    (kills the test sshd's session process carrying it), in a thread."""

    def __init__(self, sshd, dataset: str):
        self.sshd, self.dataset = sshd, dataset
        self.killed: set[int] = set()
        self.first = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in receives_into(self.dataset):
                session = connection_of(self.sshd, pid)
                if pid not in self.killed and session is not None:
                    self.killed.add(pid)
                    os.kill(session, signal.SIGKILL)
                    self.first.set()
            self._stop.wait(0.05)

    def __enter__(self) -> "ConnectionDropper":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_a_copy_cut_every_time_ends_in_error(api, ssh_replica_server):
    env = ssh_replica_server
    before = leftovers(env.roots)
    share, replica, _, _ = start_replica(api, env, "cut-always")
    target = f"{env.roots[1]}/share-{replica['id']}"

    with ConnectionDropper(env.sshd, target) as dropper:
        failed = wait_for_status(api.client, f"/share-replicas/{replica['id']}", "error", timeout=300)
    reason = failed.get("status_reason") or ""
    assert "replica creation failed" in reason and f"cut {RETRIES + 1} times" in reason, failed
    assert len(dropper.killed) == RETRIES + 1, f"{len(dropper.killed)} attempts cut"
    assert failed["replica_state"] == "error", failed
    wait_until(lambda: not processes_naming(f"share-{replica['id']}"), timeout=60,
               what="the copy's processes to be gone")
    assert target not in leftovers(env.roots)  # the revert removed the partial copy

    api.remove_replicated(share["id"])
    assert leftovers(env.roots) == before


def test_a_force_delete_stops_the_retries(api, ssh_replica_server):
    """Cut every time, but force-deleted after the first cut: the flow's cancel
    ends the back-off (or the attempt under way) and nothing is sent again."""
    env = ssh_replica_server
    before = leftovers(env.roots)
    share, replica, _, _ = start_replica(api, env, "cut-cancel")
    target = f"{env.roots[1]}/share-{replica['id']}"

    with ConnectionDropper(env.sshd, target) as dropper:
        assert dropper.first.wait(timeout=180), "the copy never started"
        resp = api.replica_action(replica["id"], "force_delete")
        assert resp.status_code == 202, f"force delete: {resp.status_code} {resp.text}"
        wait_gone(api.client, f"/share-replicas/{replica['id']}", timeout=120)
    assert len(dropper.killed) < RETRIES + 1, f"{len(dropper.killed)} attempts: the retries went on"
    assert not [line for line in shoal_log(env.server).splitlines()
                if target in line and f"cut {RETRIES + 1} times" in line]
    wait_until(lambda: not processes_naming(f"share-{replica['id']}"), timeout=60,
               what="the copy's processes to be gone")

    api.delete_share(share["id"])
    assert leftovers(env.roots) == before
