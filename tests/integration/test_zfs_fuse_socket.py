"""FuseSocket (zfs-fuse's ioctl protocol, spoken by Shoal for snapshots) against
the real zfs-fuse, beside the real `zfs snapshot`: the snapshot is there, the
pool's history reads the same, every refusal has the command's words, and many
at once all land. Skipped on kernel OpenZFS, which has no such socket."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import pytest

from shoal.drivers.zfs.fuse_ipc import FuseSocket
from shoal.drivers.zfs.zfs import Zfs, ZfsError, ZfsNotFound
from shoal.hosts import CommandError, LocalHost

pytestmark = pytest.mark.integration


@pytest.fixture
def fuse(zfs_available, zfs_root) -> FuseSocket:
    if zfs_available != "zfs-fuse":
        pytest.skip("zfs-fuse's socket exists only with zfs-fuse")
    return FuseSocket()


def zfs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["zfs", *args], capture_output=True, text=True, timeout=60)


def snapshots(dataset: str) -> set[str]:
    return set(zfs("list", "-H", "-o", "name", "-t", "snapshot", "-r", dataset).stdout.split())


def history(dataset: str) -> list[str]:
    pool = dataset.split("/")[0]
    out = subprocess.run(["zpool", "history", pool], capture_output=True, text=True, timeout=60).stdout
    return [line.split(" ", 1)[1] for line in out.splitlines() if dataset in line]


def refusal(fuse: FuseSocket, name: str) -> tuple[int, str]:
    with pytest.raises(CommandError) as caught:
        fuse.snapshot(name)
    return caught.value.returncode, caught.value.stderr


def test_a_snapshot_through_the_socket_is_a_snapshot(fuse, zfs_root):
    data = Path(zfs("get", "-H", "-o", "value", "mountpoint", zfs_root).stdout.strip()) / "data"
    data.write_text("kept")
    result = fuse.snapshot(f"{zfs_root}@one")
    assert result is not None and (result.returncode, result.argv) == (0, ("zfs", "snapshot", f"{zfs_root}@one"))
    assert zfs("snapshot", f"{zfs_root}@two").returncode == 0
    assert snapshots(zfs_root) == {f"{zfs_root}@one", f"{zfs_root}@two"}
    # the same history line as the command's own
    assert history(zfs_root)[-2:] == [f"zfs snapshot {zfs_root}@one", f"zfs snapshot {zfs_root}@two"]
    # and it holds the data of its moment
    data.write_text("changed")
    assert zfs("rollback", "-r", f"{zfs_root}@one").returncode == 0
    assert data.read_text() == "kept"


@pytest.mark.parametrize("make_name", [
    lambda root: f"{root}@taken",                 # exists already
    lambda root: f"{root}/missing@s",             # no such dataset
    lambda root: f"shoalnopool{root[-4:]}/x@s",   # no such pool
])
def test_refusals_are_the_commands_own(fuse, zfs_root, make_name):
    assert fuse.snapshot(f"{zfs_root}@taken") is not None
    name = make_name(zfs_root)
    theirs = zfs("snapshot", name)
    assert refusal(fuse, name) == (theirs.returncode, theirs.stderr)
    assert snapshots(zfs_root) == {f"{zfs_root}@taken"}


def test_many_snapshots_at_once_all_land(fuse, zfs_root):
    errors: list[BaseException] = []

    def take(i: int) -> None:
        try:
            FuseSocket().snapshot(f"{zfs_root}@many{i}")
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert snapshots(zfs_root) == {f"{zfs_root}@many{i}" for i in range(12)}


def test_zfs_layer_snapshots_without_a_process_and_keeps_its_error_types(fuse, zfs_root, monkeypatch):
    layer = Zfs(LocalHost())
    spawned = []
    monkeypatch.setattr(LocalHost, "run", lambda self, argv, **kw: spawned.append(argv))
    layer.snapshot(f"{zfs_root}@layer")
    assert spawned == [] and f"{zfs_root}@layer" in snapshots(zfs_root)
    with pytest.raises(ZfsNotFound):
        layer.snapshot(f"{zfs_root}/missing@s")
    with pytest.raises(ZfsError, match="dataset already exists"):
        layer.snapshot(f"{zfs_root}@layer")
    assert spawned == []


def test_no_daemon_behind_the_path_means_the_command(zfs_available, tmp_path):
    assert FuseSocket(str(tmp_path / "absent")).snapshot("pool/x@s") is None
    stale = tmp_path / "stale"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(stale))  # a socket file nobody listens on
    assert FuseSocket(str(stale)).snapshot("pool/x@s") is None
