"""Resumable `zfs send | zfs receive` on kernel OpenZFS (the lane's guest).

A transfer between two datasets of the guest's pool, joined by Shoal on this
host over SSH (hosts.transfer, as replicas and migrations run it), is cut
partway by killing its `zfs send` (the exact process the transfer started,
through sshd's signal request): the target keeps a `receive_resume_token`,
and the next attempt sends only the rest with `zfs send -t` -- clearly fewer
bytes than the whole -- and ends with the same data as the source (sha256 of
its files). An `-I` stream cut in its first snapshot resumes that one and sends
the others after it. A token that no longer leads anywhere (its snapshot is
gone from the source) is dropped with `zfs receive -A` and the stream starts
over. And through the share driver: a replica's first copy (`replicate`)
cut partway is resumed by the next `replicate`, not removed and sent again;
a volume migration (zvols) cut in its second stream resumes that stream
without sending the first again; and a stream cut by a crash of Shoal
(SIGKILL of the process running it) resumes too.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from shoal.config import HostConfig
from shoal.drivers.base import DriverError, ShareRef
from shoal.drivers.volume import VolumeRef, VolumeSnapshotRef
from shoal.drivers.zfs import resumable
from shoal.drivers.zfs.zfs import Zfs
from shoal.hosts import transfer as transfer_module
from shoal.hosts.transfer import owned_by
from shoal.services.common.backends import build_drivers
from tests.fixtures.crashing_transfer import crash_partway

from .conftest import lane_settings
from .lane_tools import MiB, new_id, wait_until

pytestmark = pytest.mark.kernel


class Cut:
    """A progress callback that kills the owner's `zfs send` after `after` bytes."""

    def __init__(self, owner: str, after: int):
        self.owner, self.after = owner, after
        self.killed_at: int | None = None

    def __call__(self, moved: int) -> None:
        if self.killed_at is not None or moved < self.after:
            return
        with transfer_module._owned_lock:
            ends = list(transfer_module._owned.get(self.owner, ()))
        senders = [end for end in ends if tuple(end.argv[:2]) == ("zfs", "send")]
        assert len(senders) == 1, f"expected one zfs send of {self.owner}: {[e.describe() for e in ends]}"
        senders[0].kill()
        self.killed_at = moved


@pytest.fixture
def producers(monkeypatch):
    """The producer argv of every transfer resumable starts (the real transfer runs)."""
    seen: list[list[str]] = []
    real = resumable.transfer

    def recorded(source_host, producer, *args, **kwargs):
        seen.append(list(producer))
        return real(source_host, producer, *args, **kwargs)

    monkeypatch.setattr(resumable, "transfer", recorded)
    monkeypatch.setattr(transfer_module, "REPORT_EVERY", 0.05)
    return seen


def cut_stream(zfs: Zfs, snapshot: str, since: str | None, target: str, after: int, intermediates=False) -> int:
    owner = f"cut-{uuid.uuid4().hex[:8]}"
    cut = Cut(owner, after)
    with owned_by(owner), pytest.raises(DriverError):
        resumable.send_stream(zfs, snapshot, since, zfs, target, cut, intermediates=intermediates)
    assert cut.killed_at is not None, "the stream ended before it was cut"
    return cut.killed_at


def fill(host, path: str, mib: int) -> None:
    host.run("dd", "if=/dev/urandom", f"of={path}", "bs=1M", f"count={mib}", "status=none", timeout=600)


def mountpoint(zfs: Zfs, dataset: str) -> str:
    return zfs.get(dataset, ["mountpoint"])["mountpoint"]


def sums(host, dataset: str, names: list[str]) -> list[str]:
    """sha256 of the files of a dataset, as the guest reads them."""
    where = mountpoint(Zfs(host.ssh), dataset)
    out = host.run("sha256sum", *[f"{where}/{n}" for n in names], timeout=600).stdout.split("\n")
    return [line.split()[0] for line in out if line.strip()]


@dataclass
class ReplicaPair:
    shares: Any  # the lane's share driver, in a replication domain of its own
    active: ShareRef  # holding `data`, with the replication snapshot repl-1
    replica: ShareRef  # not made yet
    src: str
    dst: str
    whole: int  # the size of repl-1's full stream


@contextmanager
def filled_replica_pair(kernel_host, lane_root: str, tmp_path, mib: int = 192):
    """An active share of `mib` MiB of random data and its replica-to-be, on the lane's
    driver; both deleted when the test's body got through, the SSH host closed always."""
    settings = lane_settings(kernel_host, lane_root, "exportfs", tmp_path)
    backend = settings.backends["lane"].model_copy(update={"replication_domain": "lane"})
    shares = build_drivers(settings.model_copy(update={"backends": {"lane": backend}}))[0]["lane"]
    try:
        pool = lane_root.split("/")[0]
        active = ShareRef(new_id(lane_root, "active"), pool, 1)
        replica = ShareRef(new_id(lane_root, "replica"), pool, 1)
        shares.create_share(active)
        src = shares.dataset_name(active)
        fill(kernel_host, f"{mountpoint(shares.zfs, src)}/data", mib)
        shares.take_replication_snapshot(active, "repl-1")
        yield ReplicaPair(shares, active, replica, src, shares.dataset_name(replica),
                          shares.replication_estimate(active, "repl-1"))
        shares.delete_replica(replica)
        shares.delete_share(active)
    finally:
        shares.host.close()


def snapshots(zfs: Zfs, dataset: str) -> list[str]:
    return [row["name"].split("@", 1)[1] for row in zfs.snapshots(dataset)]


def test_a_cut_transfer_resumes_with_its_token(kernel_host, lane_root, producers):
    host, zfs = kernel_host, Zfs(kernel_host.ssh)
    assert zfs.features().resumable_send
    src, dst = f"{lane_root}/src", f"{lane_root}/dst"
    zfs.create(src)
    fill(host, f"/{src}/data", 256)
    zfs.snapshot(f"{src}@s1")
    whole = int(zfs.get(f"{src}@s1", ["referenced"])["referenced"])

    # a full stream, cut after 64 MiB: the partial copy stays, with its token
    first = cut_stream(zfs, f"{src}@s1", None, dst, 64 * MiB)
    assert first < whole
    assert resumable.pending(zfs, dst) and resumable.partial_copy(zfs, dst)
    assert producers[-1][:2] == ["zfs", "send"] and "-t" not in producers[-1]

    rest = resumable.send_stream(zfs, f"{src}@s1", None, zfs, dst)
    assert producers[-1][:3] == ["zfs", "send", "-t"]
    assert 0 < rest < whole - 32 * MiB, f"resumed {rest} bytes of a {whole}-byte stream cut at {first}"
    assert resumable.pending(zfs, dst) is None
    assert snapshots(zfs, dst) == ["s1"]
    assert sums(host, dst, ["data"]) == sums(host, src, ["data"])

    # an -I stream (s1 -> s3 with s2 between) cut inside s2: s2 resumes, s3 follows
    fill(host, f"/{src}/more", 128)
    zfs.snapshot(f"{src}@s2")
    fill(host, f"/{src}/last", 32)
    zfs.snapshot(f"{src}@s3")
    incremental = sum(int(zfs.get(f"{src}@{s}", ["written"])["written"]) for s in ("s2", "s3"))
    cut_stream(zfs, f"{src}@s3", f"{src}@s1", dst, 48 * MiB, intermediates=True)
    assert resumable.pending(zfs, dst) and not resumable.partial_copy(zfs, dst)
    assert snapshots(zfs, dst) == ["s1"]  # the copy as it was, the partial state beside it
    before = len(producers)
    rest = resumable.send_stream(zfs, f"{src}@s3", f"{src}@s1", zfs, dst, intermediates=True)
    assert [p[:3] for p in producers[before:]] == [["zfs", "send", "-t"], ["zfs", "send", "-I"]]
    assert producers[-1][-2:] == [f"{src}@s2", f"{src}@s3"]
    assert 0 < rest < incremental - 32 * MiB, f"resumed {rest} bytes of {incremental}"
    assert snapshots(zfs, dst) == ["s1", "s2", "s3"]
    files = ["data", "more", "last"]
    assert sums(host, dst, files) == sums(host, src, files)


def test_a_token_that_leads_nowhere_is_dropped(kernel_host, lane_root, producers):
    host, zfs = kernel_host, Zfs(kernel_host.ssh)
    src, dst = f"{lane_root}/src", f"{lane_root}/dst"
    zfs.create(src)
    fill(host, f"/{src}/data", 96)
    zfs.snapshot(f"{src}@a")
    cut_stream(zfs, f"{src}@a", None, dst, 24 * MiB)
    assert resumable.partial_copy(zfs, dst)
    zfs.destroy(f"{src}@a")  # what the token resumes is gone
    zfs.snapshot(f"{src}@b")

    before = len(producers)
    moved = resumable.send_stream(zfs, f"{src}@b", None, zfs, dst)
    assert [p[:3] for p in producers[before:]] == [["zfs", "send", f"{src}@b"]]  # no -t: started over
    assert moved >= 96 * MiB
    assert resumable.pending(zfs, dst) is None
    assert snapshots(zfs, dst) == ["b"]
    assert sums(host, dst, ["data"]) == sums(host, src, ["data"])


def test_a_replica_copy_cut_partway_is_resumed(kernel_host, lane_root, producers, tmp_path):
    with filled_replica_pair(kernel_host, lane_root, tmp_path) as pair:
        shares, active, replica, src, dst = pair.shares, pair.active, pair.replica, pair.src, pair.dst
        owner = f"cut-{uuid.uuid4().hex[:8]}"
        cut = Cut(owner, 48 * MiB)
        with owned_by(owner), pytest.raises(DriverError):
            shares.replicate(replica, shares, active, "repl-1", None, progress=cut)
        assert cut.killed_at is not None
        assert resumable.partial_copy(shares.zfs, dst)

        before = len(producers)
        rest = shares.replicate(replica, shares, active, "repl-1", None)
        assert [p[:3] for p in producers[before:]] == [["zfs", "send", "-t"]]
        assert 0 < rest < pair.whole - 24 * MiB, f"resumed {rest} bytes of {pair.whole}"
        assert shares.replication_tags(replica) == ["repl-1"]
        assert shares.zfs.get(dst, ["readonly"])["readonly"] == "on"
        assert sums(kernel_host, dst, ["data"]) == sums(kernel_host, src, ["data"])


def zvol_sum(host, dataset: str, mib: int) -> str:
    return host.run("sh", "-c", f"dd if=/dev/zvol/{dataset} bs=1M count={mib} status=none | sha256sum",
                    timeout=600).stdout.split()[0]


def test_a_volume_migration_cut_partway_is_resumed(lane_backend_exportfs, kernel_host, producers):
    b, host = lane_backend_exportfs, kernel_host
    volumes = b.volumes
    vol = VolumeRef(new_id(b.root, "vol"), b.pool, 1)
    volumes.create_volume(vol)
    origin = volumes.dataset_name(vol)
    wait_until(lambda: host.run("test", "-b", f"/dev/zvol/{origin}", check=False).returncode == 0,
               what=f"/dev/zvol/{origin}")
    host.run("dd", "if=/dev/urandom", f"of=/dev/zvol/{origin}", "bs=1M", "count=32", "conv=fsync", "status=none")
    snap = VolumeSnapshotRef(new_id(b.root, "snap"), vol)
    tag = volumes.create_snapshot(snap).provider_location.split("@", 1)[1]
    host.run("dd", "if=/dev/urandom", f"of=/dev/zvol/{origin}", "bs=1M", "seek=32", "count=224", "conv=fsync",
             "status=none", timeout=600)
    moved = VolumeRef(new_id(b.root, "moved"), b.pool, 1)
    target = volumes._new_name(moved)

    # cut at half of the estimate: inside the second stream (the migration point's, 224 MiB after 32)
    owner = f"cut-{uuid.uuid4().hex[:8]}"
    cut = Cut(owner, 50)  # receive_volume reports percentages
    with owned_by(owner), pytest.raises(DriverError):
        volumes.receive_volume(moved, volumes, vol, [snap], progress=cut)
    assert cut.killed_at is not None
    assert resumable.pending(volumes.zfs, target) and snapshots(volumes.zfs, target) == [tag]

    before, percents = len(producers), []
    result = volumes.receive_volume(moved, volumes, vol, [snap], progress=percents.append)
    assert [p[:3] for p in producers[before:]] == [["zfs", "send", "-t"]]  # the snapshot's stream is not sent again
    # The percentage goes on from the cut attempt's: the snapshot's whole stream and the part of the
    # point's the target kept count as done (counting only what the resume sent, it ended near 87)
    assert percents == sorted(percents) and percents[-1] >= 95, percents
    assert result.provider_location == target
    assert snapshots(volumes.zfs, target) == [tag]  # the migration point went on both sides
    assert not [s for s in snapshots(volumes.zfs, origin) if s.startswith("migrate-")]
    wait_until(lambda: host.run("test", "-b", f"/dev/zvol/{target}", check=False).returncode == 0,
               what=f"/dev/zvol/{target}")
    assert zvol_sum(host, target, 256) == zvol_sum(host, origin, 256)


def test_a_transfer_cut_by_a_crash_of_shoal_resumes(kernel_host, lane_root, producers):
    """Shoal killed (SIGKILL) mid-stream: its SSH connection drops, the guest's
    receive sees the stream end and keeps what it had; the next Shoal resumes."""
    host, zfs = kernel_host, Zfs(kernel_host.ssh)
    src, dst = f"{lane_root}/src", f"{lane_root}/dst"
    zfs.create(src)
    fill(host, f"/{src}/data", 192)
    zfs.snapshot(f"{src}@s1")
    whole = int(zfs.get(f"{src}@s1", ["referenced"])["referenced"])
    config = HostConfig(type="ssh", address=host.address, port=host.port, user=host.user, key_file=host.key_file)

    crash_partway(config, f"{src}@s1", dst, 64 * MiB)
    wait_until(lambda: resumable.pending(zfs, dst), timeout=120, what="the receive to keep its partial state")
    assert resumable.partial_copy(zfs, dst)

    rest = resumable.send_stream(zfs, f"{src}@s1", None, zfs, dst)
    assert [p[:3] for p in producers] == [["zfs", "send", "-t"]]
    assert 0 < rest < whole - 32 * MiB, f"resumed {rest} bytes of {whole}"
    assert snapshots(zfs, dst) == ["s1"]
    assert sums(host, dst, ["data"]) == sums(host, src, ["data"])
