"""Argv of a replica's stream (`zfs send -I` carries the snapshots in between,
so a replicated share's snapshots reach its secondaries) and the order of a
dataset's snapshots (by createtxg: `creation` has only whole seconds)."""

from __future__ import annotations

from shoal.drivers.zfs import commands as zc
from shoal.drivers.zfs.zfs import Zfs
from shoal.hosts import CommandResult


def test_send_incremental_with_and_without_intermediates():
    assert zc.send("t/a@2", "t/a@1") == ["zfs", "send", "-i", "t/a@1", "t/a@2"]
    assert zc.send("t/a@2", "t/a@1", intermediates=True) == ["zfs", "send", "-I", "t/a@1", "t/a@2"]
    assert zc.send("t/a@2", None, intermediates=True) == ["zfs", "send", "t/a@2"]
    assert zc.rollback("t/a@1", destroy_later=True) == ["zfs", "rollback", "-r", "t/a@1"]


class _Host:
    """Answers the one `zfs get` of Zfs.snapshots: three snapshots made in one second."""

    name = "fake"

    def run(self, argv, **kwargs):
        text = ("t/a\tcreatetxg\t6\nt/a\tcreation\t100\n"
                "t/a@b\tcreatetxg\t21\nt/a@b\tcreation\t101\nt/a@b\tused\t0\nt/a@b\treferenced\t1\n"
                "t/a@c\tcreatetxg\t11\nt/a@c\tcreation\t101\nt/a@c\tused\t0\nt/a@c\treferenced\t1\n"
                "t/a@a\tcreatetxg\t16\nt/a@a\tcreation\t101\nt/a@a\tused\t0\nt/a@a\treferenced\t1\n")
        return CommandResult(tuple(argv), 0, text, "", 0.0)


def test_snapshots_oldest_first_by_transaction_group():
    names = [row["name"] for row in Zfs(_Host()).snapshots("t/a")]
    assert names == ["t/a@c", "t/a@a", "t/a@b"]
