"""The harness's own rules, without daemons: which hidden ZFS objects may stay without a
row, which kinds a run kills, how a violation seen again is counted."""

from __future__ import annotations

import random

from tests.chaos.harness import kill_plan
from tests.chaos.invariants import Needs, Violation
from tests.chaos.report import Report

ROOT = "pool/chaos"


def test_a_hidden_origin_may_stay_while_a_live_clone_needs_it():
    needs = Needs({
        f"{ROOT}/volume-a": {"shoal:deleted": "yes"},
        f"{ROOT}/volume-a@snap-s": {"shoal:deleted": "yes"},
        f"{ROOT}/volume-b": {"origin": f"{ROOT}/volume-a@snap-s"},
    })
    assert needs.hidden(f"{ROOT}/volume-a") and needs.needed(f"{ROOT}/volume-a")
    assert needs.needed(f"{ROOT}/volume-a@snap-s")


def test_a_hidden_object_nothing_live_needs_is_a_leak():
    needs = Needs({
        f"{ROOT}/volume-a": {"shoal:deleted": "yes"},
        f"{ROOT}/volume-a@clone-b": {},
        f"{ROOT}/volume-b": {"origin": f"{ROOT}/volume-a@clone-b", "shoal:deleted": "yes"},
    })
    assert needs.hidden(f"{ROOT}/volume-a@clone-b")  # internal clone snapshots are hidden from birth
    assert not needs.needed(f"{ROOT}/volume-b")
    assert not needs.needed(f"{ROOT}/volume-a@clone-b")
    assert not needs.needed(f"{ROOT}/volume-a")


def test_a_chain_of_hidden_origins_is_needed_by_the_live_end():
    needs = Needs({
        f"{ROOT}/volume-a": {"shoal:deleted": "yes"},
        f"{ROOT}/volume-a@clone-b": {},
        f"{ROOT}/volume-b": {"origin": f"{ROOT}/volume-a@clone-b", "shoal:deleted": "yes"},
        f"{ROOT}/volume-b@clone-c": {},
        f"{ROOT}/volume-c": {"origin": f"{ROOT}/volume-b@clone-c"},
    })
    assert all(needs.needed(f"{ROOT}/{n}") for n in ("volume-a", "volume-a@clone-b", "volume-b", "volume-b@clone-c"))


def test_every_kind_is_killed_before_any_is_killed_twice():
    plan = kill_plan(["shoal", "ganesha", "tgtd"], 7, random.Random(1))
    assert len(plan) == 7
    assert sorted(plan[:3]) == sorted(plan[3:6]) == ["ganesha", "shoal", "tgtd"]
    assert kill_plan([], 3, random.Random(1)) == []
    assert kill_plan(["tgtd"], 2, random.Random(1)) == ["tgtd", "tgtd"]


def test_the_same_plan_for_the_same_seed():
    kinds = ["shoal", "ganesha", "tgtd", "zfs-fuse"]
    assert kill_plan(kinds, 9, random.Random("5:kills")) == kill_plan(kinds, 9, random.Random("5:kills"))


def test_a_violation_seen_again_is_reported_once_and_counted():
    report = Report(seed=1, replay="scripts/chaos --seed 1")
    leak = Violation("backend object without row", "dataset pool/chaos/volume-x")
    assert report.add(0, "kill of shoal", [leak]) == [leak]
    assert report.add(1, "kill of tgtd", [Violation(leak.kind, leak.detail)]) == []
    assert len(report.violations) == 1 and report.seen[str(leak)] == 2
    assert "in 2 of the checks" in report.render({}, [], [], 0)
