"""Deferred destroy decisions on recorded `zfs get -r` output (no ZFS needed):
what counts as hidden, what is still needed, and how far a walk goes."""

from __future__ import annotations

from shoal.drivers.zfs import commands as zc
from shoal.drivers.zfs.gc import Collector, Tree
from shoal.drivers.zfs.zfs import BUSY_PATIENTLY, ZfsBusy, ZfsError

RECORDED = """\
tank/r\ttype\tfilesystem\t-
tank/r/volume-a\ttype\tfilesystem\t-
tank/r/volume-a\tshoal:deleted\tyes\tlocal
tank/r/volume-a\tcreatetxg\t10\t-
tank/r/volume-a@snap-1\ttype\tsnapshot\t-
tank/r/volume-a@snap-1\tshoal:deleted\tyes\tinherited from tank/r/volume-a
tank/r/volume-a@snap-1\tcreatetxg\t12\t-
tank/r/volume-a@clone-b\ttype\tsnapshot\t-
tank/r/volume-a@clone-b\tcreatetxg\t11\t-
tank/r/volume-b\ttype\tfilesystem\t-
tank/r/volume-b\torigin\ttank/r/volume-a@clone-b\t-
tank/r/volume-b\tshoal:deleted\tyes\tinherited from tank/r
tank/r/volume-c\ttype\tfilesystem\t-
tank/r/volume-c\torigin\ttank/r/volume-a@snap-1\t-
tank/r/volume-c@keep\ttype\tsnapshot\t-
tank/r/volume-c-reverted-0a1b2c3d\ttype\tfilesystem\t-
tank/r/foreign\ttype\tfilesystem\t-
tank/r/foreign@clone-x\ttype\tsnapshot\t-
tank/r/foreign-reverted-0a1b2c3d\ttype\tfilesystem\t-
tank/r/unmanaged-volume-d@clone-e\ttype\tsnapshot\t-
"""


def tree() -> Tree:
    return Tree("tank/r", zc.parse_get_sourced(RECORDED), "volume-")


def test_hidden_rules():
    t = tree()
    assert t.get("tank/r/volume-a").hidden  # local mark
    assert t.get("tank/r/volume-a@snap-1").hidden  # inherited from its own dataset
    assert t.get("tank/r/volume-a@clone-b").hidden  # internal by name
    assert not t.get("tank/r/volume-b").hidden  # inherited from elsewhere does not count
    assert not t.get("tank/r/volume-c@keep").hidden
    assert t.get("tank/r/volume-c-reverted-0a1b2c3d").hidden
    # Name rules hold only below Shoal's names: a foreign dataset is never collected by name.
    assert not t.get("tank/r/foreign@clone-x").hidden
    assert not t.get("tank/r/foreign-reverted-0a1b2c3d").hidden
    assert t.get("tank/r/unmanaged-volume-d@clone-e").hidden


def test_snapshots_oldest_first_clones_and_needs():
    t = tree()
    assert [s.name for s in t.snapshots("tank/r/volume-a")] == ["tank/r/volume-a@clone-b", "tank/r/volume-a@snap-1"]
    assert t.clones("tank/r/volume-a@snap-1") == ["tank/r/volume-c"]
    assert t.needed("tank/r/volume-a") and t.needed("tank/r/volume-a@clone-b")
    assert not t.needed("tank/r/volume-b")
    assert [e.name for e in t.datasets()][:1] == ["tank/r/volume-a"]


class FakeZfs:
    def __init__(self, refuse=(), fail=(), busy=()):
        self.destroyed, self.set_calls, self.retries = [], [], []
        self.refuse, self.fail, self.busy = set(refuse), set(fail), set(busy)

    def destroy_unless_needed(self, name, retry=None):
        self.retries.append((name, retry))
        if name in self.busy:
            raise ZfsBusy("cannot destroy: dataset is busy")
        if name in self.fail:
            raise ZfsError("dataset is busy")
        if name in self.refuse:
            return False
        self.destroyed.append(name)
        return True

    def set(self, name, props):
        self.set_calls.append((name, props))


def test_walk_goes_up_the_origin_chain_until_something_is_needed():
    t, zfs = tree(), FakeZfs()
    t.discard("tank/r/volume-b")  # the clone just went
    assert Collector(zfs).collect(t, "tank/r/volume-a@clone-b") == ["tank/r/volume-a@clone-b"]
    # volume-a still has snap-1, which volume-c needs: the walk stops there.
    assert "tank/r/volume-a" in t


def test_walk_stops_at_visible_objects_and_failures():
    t, zfs = tree(), FakeZfs(fail={"tank/r/volume-a@clone-b"})
    t.discard("tank/r/volume-b")
    assert Collector(zfs).collect(t, "tank/r/volume-a@clone-b") == []  # logged, retried by a later sweep
    assert Collector(FakeZfs()).collect(tree(), "tank/r/volume-c") == []  # not hidden


def test_drop_destroys_what_nothing_needs_and_hides_the_rest():
    t, zfs = tree(), FakeZfs()
    assert Collector(zfs).drop(t, "tank/r/volume-c@keep") is True
    assert zfs.destroyed == ["tank/r/volume-c@keep"] and "tank/r/volume-c@keep" not in t
    # Needed by volume-c: not even tried; already hidden (inherited): nothing to set.
    assert Collector(zfs).drop(t, "tank/r/volume-a@snap-1") is False
    assert zfs.destroyed == ["tank/r/volume-c@keep"] and zfs.set_calls == []


def test_drop_hides_when_zfs_refuses_a_stale_tree():
    """A clone outside the pool root (not in the tree): ZFS refuses, the object is hidden."""
    t, zfs = tree(), FakeZfs(refuse={"tank/r/volume-c@keep"})
    assert Collector(zfs).drop(t, "tank/r/volume-c@keep") is False
    assert zfs.set_calls == [("tank/r/volume-c@keep", {"shoal:deleted": "yes"})]
    assert t.get("tank/r/volume-c@keep").hidden


def test_sweep_collects_everything_collectable():
    t, zfs = tree(), FakeZfs()
    t.discard("tank/r/volume-b")
    t.discard("tank/r/volume-c@keep")
    t.discard("tank/r/volume-c")
    destroyed = Collector(zfs).sweep(t)
    assert set(destroyed) == {
        "tank/r/volume-a@clone-b", "tank/r/volume-a@snap-1", "tank/r/volume-a", "tank/r/volume-c-reverted-0a1b2c3d",
        "tank/r/unmanaged-volume-d@clone-e",
    }


def test_drop_hides_what_stays_busy_and_a_later_sweep_destroys_it():
    """zfs-fuse calling a dataset busy past the patient retry: the delete still
    succeeds, the dataset is hidden and pending; the sweep that finds it free
    destroys it and forgets it."""
    t, zfs = tree(), FakeZfs(busy={"tank/r/volume-c@keep"})
    collector = Collector(zfs)
    assert collector.drop(t, "tank/r/volume-c@keep") is False
    assert zfs.retries == [("tank/r/volume-c@keep", BUSY_PATIENTLY)]
    assert zfs.set_calls == [("tank/r/volume-c@keep", {"shoal:deleted": "yes"})]
    assert t.get("tank/r/volume-c@keep").hidden and collector.pending == {"tank/r/volume-c@keep"}

    assert "tank/r/volume-c@keep" not in collector.sweep(t)  # still busy: stays hidden and pending
    assert collector.pending == {"tank/r/volume-c@keep"}
    zfs.busy.clear()
    assert "tank/r/volume-c@keep" in collector.sweep(t)
    assert collector.pending == set() and "tank/r/volume-c@keep" not in t


def test_pending_is_forgotten_once_gone_some_other_way():
    t, collector = tree(), Collector(FakeZfs())
    collector.pending = {"tank/r/volume-gone", "tank/other/volume-x"}
    collector.sweep(t)
    assert collector.pending == {"tank/other/volume-x"}  # another root's: its own sweep decides
