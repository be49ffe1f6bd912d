"""What resumable.send_stream does when a stream is cut while Shoal runs
(hosts.transfer.TransferCut): it sends again, a bounded number of times,
from the token where ZFS keeps one, from where a cut -I stream got to, not
at all when the cut stream arrived whole; a command's own failure is not
retried, and a stop (cancel) ends the back-off at once with no retry. The ZFS
answers come from the stand-in host of test_zfs_resumable.py; real cut
streams are in tests/integration/test_share_replica_cut.py (zfs-fuse) and
tests/kernel/test_kernel_replica_cut_retry.py (tokens)."""

from __future__ import annotations

import threading

import pytest

from shoal.drivers.base import DriverError
from shoal.drivers.zfs import resumable
from shoal.hosts import CommandError, CommandResult
from shoal.hosts import transfer as transfer_module
from shoal.hosts.transfer import TransferCut, TransferResult

from .test_zfs_resumable import Host, zfs


def cut(producer, moved: int = 5) -> TransferCut:
    error = TransferCut(CommandResult(tuple(producer), -9, "", "", 0.0), "cut: producer exit -9, consumer exit 1")
    error.bytes = moved
    return error


class Streams:
    """A stand-in transfer: each stream moves 10 bytes, unless `plan` (one entry
    per stream started: None, or a callable run instead) says otherwise."""

    def __init__(self, plan=()):
        self.plan = list(plan)
        self.seen: list[list[str]] = []

    def __call__(self, source_host, producer, target_host, consumer, progress=None):
        self.seen.append(list(producer))
        step = self.plan.pop(0) if self.plan else None
        if step is not None:
            step(producer, progress)
        if progress is not None:
            progress(10)
        return TransferResult(10, 0.0)


def cut_after(moved: int, then=None):
    def step(producer, progress):
        if progress is not None:
            progress(moved)
        if then is not None:
            then()
        raise cut(producer, moved)
    return step


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(resumable, "FIRST_PAUSE", 0.0)


def use(monkeypatch, streams: Streams) -> Streams:
    monkeypatch.setattr(resumable, "transfer", streams)
    return streams


def test_a_cut_stream_without_tokens_goes_again_from_the_start(monkeypatch, quick):
    host = Host(target_held=())
    streams = use(monkeypatch, Streams([cut_after(7)]))
    reported: list[int] = []
    moved = resumable.send_stream(zfs(host, tokens=False), "p/src@s1", None, zfs(host, tokens=False), "p/dst",
                                  reported.append)
    assert streams.seen == [["zfs", "send", "p/src@s1"]] * 2
    assert moved == 7 + 10  # the cut attempt's bytes count too
    assert reported == [7, 10]  # and progress never went back to 0


def test_a_cut_stream_resumes_from_its_token(monkeypatch, quick):
    host = Host(target_held=())
    streams = use(monkeypatch, Streams([cut_after(7, then=lambda: setattr(host, "token", "1-abc"))]))
    resumable.send_stream(zfs(host), "p/src@s2", None, zfs(host), "p/dst")
    assert [p[:3] for p in streams.seen] == [["zfs", "send", "p/src@s2"], ["zfs", "send", "-t"]]


def test_a_cut_stream_that_arrived_whole_is_not_sent_again(monkeypatch, quick):
    host = Host(target_held=())
    streams = use(monkeypatch, Streams([cut_after(7, then=lambda: host.held["p/dst"].append("s1"))]))
    assert resumable.send_stream(zfs(host, False), "p/src@s1", None, zfs(host, False), "p/dst") == 7
    assert len(streams.seen) == 1


def test_a_cut_intermediate_stream_goes_on_from_the_last_snapshot_received(monkeypatch, quick):
    host = Host(target_held=("s1",))
    streams = use(monkeypatch, Streams([cut_after(7, then=lambda: host.held["p/dst"].append("s2"))]))
    resumable.send_stream(zfs(host, False), "p/src@s3", "p/src@s1", zfs(host, False), "p/dst", intermediates=True)
    assert streams.seen == [["zfs", "send", "-I", "p/src@s1", "p/src@s3"],
                            ["zfs", "send", "-I", "p/src@s2", "p/src@s3"]]


def test_a_stream_cut_every_time_fails_after_the_retries(monkeypatch, quick):
    host = Host(target_held=())
    streams = use(monkeypatch, Streams([cut_after(1)] * 10))
    with pytest.raises(DriverError, match=f"cut {resumable.RETRIES + 1} times"):
        resumable.send_stream(zfs(host, False), "p/src@s1", None, zfs(host, False), "p/dst", what="the copy")
    assert len(streams.seen) == resumable.RETRIES + 1


def test_a_commands_own_failure_is_not_retried(monkeypatch, quick):
    def refused(producer, progress):
        raise CommandError(CommandResult(tuple(producer), 1, "", "cannot receive: destination exists", 0.0))

    host = Host(target_held=())
    streams = use(monkeypatch, Streams([refused]))
    with pytest.raises(DriverError, match="destination exists"):
        resumable.send_stream(zfs(host, False), "p/src@s1", None, zfs(host, False), "p/dst")
    assert len(streams.seen) == 1


def test_a_stop_ends_the_back_off_at_once_with_no_retry(monkeypatch):
    """The pause before the retry is an hour long: only the stop ends it (a
    failure to would hang until the test run's timeout)."""
    monkeypatch.setattr(resumable, "FIRST_PAUSE", 3600.0)
    owner = "unit-stop-during-pause"
    host = Host(target_held=())
    pausing = threading.Event()
    real_pause = transfer_module.pause

    def noted_pause(seconds):
        pausing.set()
        return real_pause(seconds)

    monkeypatch.setattr(resumable, "transfer_pause", noted_pause)
    streams = use(monkeypatch, Streams([cut_after(1)]))
    outcome: list[BaseException] = []

    def copy():
        with transfer_module.owned_by(owner):
            try:
                resumable.send_stream(zfs(host, False), "p/src@s1", None, zfs(host, False), "p/dst")
            except BaseException as exc:
                outcome.append(exc)

    worker = threading.Thread(target=copy)
    worker.start()
    try:
        pausing.wait()
        transfer_module.stop(owner)
        worker.join()
    finally:
        transfer_module.release(owner)
    assert len(outcome) == 1 and isinstance(outcome[0], transfer_module.Stopped), outcome
    assert len(streams.seen) == 1
