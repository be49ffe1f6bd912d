"""A stream cut while Shoal runs is sent again within the same call, from its
receive resume token (kernel OpenZFS, the lane's guest).

A replica's first copy (`replicate`, as the replica flow runs it) has its
`zfs send` killed in the guest partway -- from outside, by pid, as an
operator or the OOM killer would, not by Shoal's own stop -- and the call
does not fail: the retry in drivers/zfs/resumable.py sends only the rest with
`zfs send -t <token>`, clearly fewer bytes than the whole stream, and the
replica ends read-only with the same data as the active copy; progress never
went back.
"""

from __future__ import annotations

import uuid

import pytest

from shoal.drivers.zfs import resumable
from shoal.hosts import transfer as transfer_module
from shoal.hosts.transfer import owned_by

from .lane_tools import MiB
from .test_kernel_resumable_transfer import filled_replica_pair, sums

pytestmark = pytest.mark.kernel


class KillSendOnce:
    """A progress callback that, once `after` bytes went by, kills the guest's
    `zfs send` of `snapshot` (by its pid, from a command of its own)."""

    def __init__(self, host, snapshot: str, after: int):
        self.host, self.snapshot, self.after = host, snapshot, after
        self.killed_at: int | None = None
        self.seen: list[int] = []

    def __call__(self, moved: int) -> None:
        self.seen.append(moved)
        if self.killed_at is not None or moved < self.after:
            return
        found = self.host.run("pgrep", "-x", "-f", f"zfs send {self.snapshot}", check=False).stdout.split()
        assert len(found) == 1, f"expected one zfs send of {self.snapshot}: {found}"
        self.host.run("kill", "-KILL", found[0])
        self.killed_at = moved


@pytest.fixture
def streams(monkeypatch):
    """(producer argv, bytes it carried or None if it failed) of every transfer resumable starts."""
    seen: list[tuple[list[str], int | None]] = []
    real = resumable.transfer

    def recorded(source_host, producer, *args, **kwargs):
        try:
            result = real(source_host, producer, *args, **kwargs)
        except Exception:
            seen.append((list(producer), None))
            raise
        seen.append((list(producer), result.bytes))
        return result

    monkeypatch.setattr(resumable, "transfer", recorded)
    monkeypatch.setattr(resumable, "FIRST_PAUSE", 0.2)
    monkeypatch.setattr(transfer_module, "REPORT_EVERY", 0.05)
    return seen


def test_a_replica_copy_cut_once_resumes_in_the_same_call(kernel_host, lane_root, streams, tmp_path):
    with filled_replica_pair(kernel_host, lane_root, tmp_path) as pair:
        shares, active, replica, src, dst = pair.shares, pair.active, pair.replica, pair.src, pair.dst
        cut = KillSendOnce(kernel_host, f"{src}@repl-1", 48 * MiB)
        with owned_by(f"cut-{uuid.uuid4().hex[:8]}"):
            moved = shares.replicate(replica, shares, active, "repl-1", None, progress=cut)  # no error
        assert cut.killed_at is not None, "the stream ended before it was cut"

        assert [(p[:3], sent is None) for p, sent in streams] == [
            (["zfs", "send", f"{src}@repl-1"], True),  # cut
            (["zfs", "send", "-t"], False),  # the rest, from the token
        ]
        rest = streams[-1][1]
        assert 0 < rest < pair.whole - 24 * MiB, f"resumed {rest} bytes of {pair.whole}, cut at {cut.killed_at}"
        assert moved >= rest
        assert cut.seen == sorted(cut.seen), "progress went back"
        assert resumable.pending(shares.zfs, dst) is None
        assert shares.replication_tags(replica) == ["repl-1"]
        assert shares.zfs.get(dst, ["readonly"])["readonly"] == "on"
        assert sums(kernel_host, dst, ["data"]) == sums(kernel_host, src, ["data"])
