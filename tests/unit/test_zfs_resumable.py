"""What resumable.send_stream decides before it streams: whether the receive
runs with -s, which token it resumes and which it drops, and how the rest of
an -I stream follows a resumed snapshot. The ZFS answers come from a stand-in
host that replies as kernel OpenZFS 2.1 / zfs-fuse do (their text captured in
the lane and here); the streams themselves are tested for real in
tests/kernel/test_kernel_resumable_transfer.py and
tests/integration/test_zfs_resumable_transfer.py."""

from __future__ import annotations

import pytest

from shoal.drivers.base import DriverError
from shoal.drivers.zfs import resumable
from shoal.drivers.zfs.zfs import Features, Zfs
from shoal.hosts import CommandError, CommandResult
from shoal.hosts.transfer import TransferResult

# `zfs send -nv -t` of OpenZFS 2.1.11 (the lane's guest)
DRY_RUN = """resume token contents:
nvlist version: 0
\tobject = 0x2
\toffset = 0x25e0000
\tbytes = 0x2617c80
\ttoguid = 0x2dfd3896c4e90547
\ttoname = p/src@s2
full send of p/src@s2 estimated size is 62.1M
total estimated size is 62.1M
"""
GONE = "cannot resume send: 'p/src@s2' used in the initial send no longer exists\n"


class Host:
    """Answers the commands resumable runs; `token`/`dry_run` say what ZFS holds."""

    name = "stand-in"

    def __init__(self, token="-", dry_run=DRY_RUN, abort_fails=False, target_held=("s1",)):
        self.token, self.dry_run, self.abort_fails = token, dry_run, abort_fails
        self.held = {"p/src": ["s1", "s2", "s3"], "p/dst": list(target_held)}
        self.calls: list[tuple[str, ...]] = []

    def run(self, argv, check=True, **kwargs):
        argv = tuple(argv)
        self.calls.append(argv)
        out, rc, err = "", 0, ""
        if argv[:2] == ("zfs", "get") and "receive_resume_token" in argv:
            out = f"{argv[-1]}\treceive_resume_token\t{self.token}\n"
        elif argv[:2] == ("zfs", "get"):  # Zfs.snapshots
            name = argv[-1]
            out = "".join(f"{name}@{s}\tcreatetxg\t{n}\n" for n, s in enumerate(self.held[name], 1))
        elif argv[:4] == ("zfs", "send", "-nv", "-t"):
            out, rc = (self.dry_run, 0) if self.dry_run != GONE else ("", 255)
            err = GONE if rc else ""
        elif argv[:3] == ("zfs", "receive", "-A") and self.abort_fails:
            rc, err = 1, "cannot abort\n"
        result = CommandResult(argv, rc, out, err, 0.0)
        if rc and check:
            raise CommandError(result)
        return result


def zfs(host: Host, tokens: bool = True) -> Zfs:
    z = Zfs(host)
    z._features = Features.of(kernel=tokens, version_known=tokens)
    return z


@pytest.fixture
def streams(monkeypatch):
    """The (producer, consumer) of every stream started, each moving 10 bytes."""
    seen = []

    def transfer(source_host, producer, target_host, consumer, progress=None):
        seen.append((list(producer), list(consumer)))
        if progress is not None:
            progress(10)
        return TransferResult(10, 0.0)

    monkeypatch.setattr(resumable, "transfer", transfer)
    return seen


def test_receives_with_s_only_where_both_ends_have_tokens(streams):
    host = Host()
    resumable.send_stream(zfs(host), "p/src@s1", None, zfs(host), "p/dst")
    resumable.send_stream(zfs(host), "p/src@s2", "p/src@s1", zfs(host, tokens=False), "p/dst")
    assert streams == [(["zfs", "send", "p/src@s1"], ["zfs", "receive", "-s", "p/dst"]),
                       (["zfs", "send", "-i", "p/src@s1", "p/src@s2"], ["zfs", "receive", "-F", "p/dst"])]


def test_zfs_fuse_reads_no_token():
    host = Host()
    assert resumable.pending(zfs(host, tokens=False), "p/dst") is None
    assert host.calls == []  # not even asked: zfs-fuse has no such property


def test_a_token_for_the_snapshot_wanted_is_resumed(streams):
    host = Host(token="1-abc")
    assert resumable.send_stream(zfs(host), "p/src@s2", "p/src@s1", zfs(host), "p/dst") == 10
    assert streams == [(["zfs", "send", "-t", "1-abc"], ["zfs", "receive", "-s", "-F", "p/dst"])]


def test_an_intermediate_resumed_then_the_rest_of_the_stream(streams):
    host = Host(token="1-abc")
    reported = []
    moved = resumable.send_stream(zfs(host), "p/src@s3", "p/src@s1", zfs(host), "p/dst", reported.append,
                                  intermediates=True)
    assert moved == 20  # this call's bytes; its progress goes on from what the cut attempt had sent
    assert reported == [0x2617c80 + 10, 0x2617c80 + 20]
    assert streams == [(["zfs", "send", "-t", "1-abc"], ["zfs", "receive", "-s", "-F", "p/dst"]),
                       (["zfs", "send", "-I", "p/src@s2", "p/src@s3"], ["zfs", "receive", "-s", "-F", "p/dst"])]


@pytest.mark.parametrize("snapshot, since, intermediates", [
    ("p/src@s3", "p/src@s2", False),  # a token for another snapshot than the one wanted
    ("p/src@s3", "p/src@s2", True),  # s2 is the start of the stream, not on its way
    ("p/src@s1", None, True),  # s2 comes after s1
])
def test_a_token_off_the_way_is_dropped(streams, snapshot, since, intermediates):
    host = Host(token="1-abc")
    resumable.send_stream(zfs(host), snapshot, since, zfs(host), "p/dst", intermediates=intermediates)
    assert ("zfs", "receive", "-A", "p/dst") in host.calls
    flag = ["-I" if intermediates else "-i"] if since else []
    assert [producer[:2 + len(flag)] for producer, _ in streams] == [["zfs", "send", *flag]]  # no -t


def test_a_token_whose_snapshot_is_gone_is_dropped(streams):
    host = Host(token="1-abc", dry_run=GONE)
    resumable.send_stream(zfs(host), "p/src@s2", None, zfs(host), "p/dst")
    assert ("zfs", "receive", "-A", "p/dst") in host.calls
    assert streams == [(["zfs", "send", "p/src@s2"], ["zfs", "receive", "-s", "p/dst"])]


def test_a_token_is_dropped_when_the_source_cannot_resume(streams):
    host = Host(token="1-abc")
    resumable.send_stream(zfs(host, tokens=False), "p/src@s2", None, zfs(host), "p/dst")
    assert not any(call[:3] == ("zfs", "send", "-nv") for call in host.calls)
    assert ("zfs", "receive", "-A", "p/dst") in host.calls
    assert streams == [(["zfs", "send", "p/src@s2"], ["zfs", "receive", "p/dst"])]


def test_an_abort_refused_on_a_copy_with_snapshots_fails():
    host = Host(token="1-abc", abort_fails=True)
    with pytest.raises(DriverError, match="could not drop the partial receive"):
        resumable.abort(zfs(host), "p/dst")
    assert not any(call[:2] == ("zfs", "destroy") for call in host.calls)  # it held snapshots: kept


def test_an_abort_refused_on_a_partial_new_copy_destroys_it():
    host = Host(token="1-abc", abort_fails=True, target_held=())
    resumable.abort(zfs(host), "p/dst")
    assert host.calls[-1][:2] == ("zfs", "destroy") and host.calls[-1][-1] == "p/dst"


def test_a_partial_copy_is_a_token_on_a_dataset_without_snapshots():
    assert resumable.partial_copy(zfs(Host(token="1-abc", target_held=())), "p/dst")
    assert not resumable.partial_copy(zfs(Host(token="1-abc")), "p/dst")  # a cut incremental: the copy is whole
    assert not resumable.partial_copy(zfs(Host(target_held=())), "p/dst")
