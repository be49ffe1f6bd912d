"""The percentage of a ZFS volume migration that resumes a cut attempt (kernel
OpenZFS, receive resume tokens): the streams that attempt completed are not
sent again, yet count as done, and so does the part of a cut stream the target
kept. Resuming needs kernel OpenZFS, which this machine does not run (zfs-fuse
has no tokens): the driver runs on FakeZfsHost, the streams are stand-ins that
report bytes as hosts.transfer does, and the sizes ZFS would report are set
per dataset. The streams themselves are resumed for real in
tests/kernel/test_kernel_resumable_transfer.py."""

from __future__ import annotations

import pytest

from shoal.drivers.volume import VolumeRef, VolumeSnapshotRef
from shoal.drivers.zfs import resumable
from shoal.drivers.zfs.config import ZfsBackendConfig
from shoal.drivers.zfs.volumes import ZfsVolumeDriver

from .test_zfs_volume_fake import FakeZfsHost

ROOT = "tank/shoal"
SOURCE, TARGET = f"{ROOT}/volume-a", f"{ROOT}/volume-new"
POINT = "migrate-new"


class SizedHost(FakeZfsHost):
    """FakeZfsHost with the space figures a test sets, and `zfs get -d 1` (one level)."""

    def __init__(self):
        super().__init__(kernel=True)
        self.sizes: dict[tuple[str, str], int] = {}

    def _get(self, args):
        if "-d" in args:  # the snapshots of one dataset: its children here are only snapshots
            at = args.index("-d")
            args = [*args[:at], "-r", *args[at + 2:]]
        return super()._get(args)

    def _value(self, name, prop):
        if (name, prop) in self.sizes:
            return str(self.sizes[name, prop]), "-"
        return super()._value(name, prop)


class Streams:
    """Stand-in for resumable.send_stream: each stream lands its snapshot on the
    target; `held` says how many bytes of a cut stream the target kept (reported
    on top of this attempt's, as send_stream does, and not returned)."""

    def __init__(self, host: SizedHost, moved: dict[str, int], held: dict[str, int]):
        self.host, self.moved, self.held = host, moved, held
        self.sent: list[tuple[str, str | None]] = []

    def __call__(self, source, snapshot, since, target, dataset, progress=None, what="", intermediates=False):
        tag = snapshot.split("@", 1)[1]
        self.sent.append((tag, since.split("@", 1)[1] if since else None))
        held, moved = self.held.get(tag, 0), self.moved[tag]
        progress(held + moved // 2)
        progress(held + moved)  # hosts.transfer's last report: all of it
        self.host.add(f"{dataset}@{tag}", "snapshot")
        return moved


@pytest.fixture
def host():
    fake = SizedHost()
    fake.add(ROOT)
    return fake


@pytest.fixture
def driver(host):
    return ZfsVolumeDriver("zvols", ZfsBackendConfig(pools=[ROOT], volume_mode="auto"), host)


def cut_attempt(driver, host, monkeypatch, tags: list[str]) -> tuple[VolumeRef, list[VolumeSnapshotRef]]:
    """Volume `a` with snapshots `tags` and the migration point of an attempt cut
    short, whose target holds the first snapshot whole and a resume token."""
    origin = VolumeRef("a", "tank", 1)
    driver.create_volume(origin)
    snaps = [VolumeSnapshotRef(tag, origin) for tag in tags]
    for snap in snaps:
        driver.create_snapshot(snap)
    host.add(f"{SOURCE}@{POINT}", "snapshot")
    host.add(TARGET, "volume", volsize=str(1024**3))
    host.add(f"{TARGET}@snap-{tags[0]}", "snapshot")
    monkeypatch.setattr(resumable, "pending", lambda zfs, dataset: "token" if dataset == TARGET else None)
    # the total, on the source: the data at the point (600) plus what only snapshots hold (400)
    host.sizes[SOURCE, "usedbysnapshots"], host.sizes[f"{SOURCE}@{POINT}", "referenced"] = 400, 600
    # what the cut attempt landed whole: the first snapshot's 300 bytes
    host.sizes[TARGET, "usedbysnapshots"], host.sizes[f"{TARGET}@snap-{tags[0]}", "referenced"] = 0, 300
    return origin, snaps


def test_the_streams_a_cut_attempt_completed_count_as_done(driver, host, monkeypatch):
    origin, snaps = cut_attempt(driver, host, monkeypatch, ["s1"])
    streams = Streams(host, moved={POINT: 300}, held={POINT: 200})
    monkeypatch.setattr(resumable, "send_stream", streams)
    seen: list[int] = []

    driver.receive_volume(VolumeRef("new", "tank", 1), driver, origin, snaps, seen.append)

    assert streams.sent == [(POINT, "snap-s1")]  # the whole snapshot was not sent again
    # 300 whole at once, then the point's stream from the 200 bytes the target kept:
    # (300 + 200 + 150) and (300 + 200 + 300) of 1000
    assert seen == [30, 65, 80]


def test_a_resumed_stream_counts_what_the_cut_attempt_sent_for_the_streams_after_it(driver, host, monkeypatch):
    origin, snaps = cut_attempt(driver, host, monkeypatch, ["s1", "s2"])
    streams = Streams(host, moved={"snap-s2": 50, POINT: 100}, held={"snap-s2": 150})
    monkeypatch.setattr(resumable, "send_stream", streams)
    seen: list[int] = []

    driver.receive_volume(VolumeRef("new", "tank", 1), driver, origin, snaps, seen.append)

    assert streams.sent == [("snap-s2", "snap-s1"), (POINT, "snap-s2")]
    # s2 resumed after 150 bytes, 50 more sent: 300 + 200 done before the point's stream
    assert seen == [30, 47, 50, 55, 60]
    assert seen == sorted(seen)
