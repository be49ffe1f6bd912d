"""tests/fixtures/zfs_watch.py: a test that uses the pool and during which zfs-fuse wedged
runs once more, after the daemon is brought back; every other failure stands.

The watch runs in a pytest of its own (pytester, a subprocess) with the pool, the
daemon checks and the repair faked: `WEDGES` says after how many of the tests' ends
zfs-fuse is found wedged."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

CONFTEST = """
import os
import pytest
from tests.fixtures import zfs_watch

pytest_plugins = ["tests.fixtures.zfs_watch"]
looks = iter(os.environ["WEDGES"].split(","))


def wedged_now(pool):
    return "stopped answering file requests (faked)" if next(looks, "ok") == "wedged" else None


zfs_watch._trouble = wedged_now
zfs_watch._bring_back = lambda pool: "brought back (faked)"
zfs_watch._kernel_log_since = lambda uptime: ""
zfs_watch.zfs_wedge_report.report = lambda pids: ("nothing seen (faked)", None)


@pytest.fixture
def zfs_available():
    return "zfs-fuse"


@pytest.fixture
def zpool(zfs_available):
    return "fakepool"
"""

TESTS = """
import os
from pathlib import Path


def test_on_the_pool(zpool):
    runs = Path(os.environ["RUNS"])
    runs.write_text(runs.read_text() + "run\\n")
    assert len(runs.read_text().split()) > int(os.environ["FAILS"])


def test_elsewhere():
    runs = Path(os.environ["RUNS"])
    runs.write_text(runs.read_text() + "elsewhere\\n")
    assert os.environ["FAILS_ELSEWHERE"] == "0"
"""


def outcome(pytester, wedges: str, fails: int = 0, fails_elsewhere: bool = False):
    """(outcome counts, how often each test ran, pytest's output) of the two tests:
    one on the pool, which fails its first `fails` runs, and one that is not."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(TESTS)
    runs = pytester.path / "runs.txt"
    runs.write_text("")
    env = {"WEDGES": wedges, "FAILS": str(fails), "FAILS_ELSEWHERE": str(int(fails_elsewhere)), "RUNS": str(runs)}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rR", "-o", f"pythonpath={REPO}")
    ran = runs.read_text().split()
    return result.parseoutcomes(), {"pool": ran.count("run"), "elsewhere": ran.count("elsewhere")}, \
        result.stdout.str()


def test_a_wedge_during_a_failing_test_runs_it_again(pytester):
    counts, ran, out = outcome(pytester, "wedged,ok", fails=1)
    assert ran == {"pool": 2, "elsewhere": 1}, out
    assert counts.get("passed") == 2 and "failed" not in counts and "error" not in counts, out
    assert "brought back (faked)" in out


def test_a_wedge_during_a_passing_test_also_runs_it_again(pytester):
    """Its teardown error (the wedge) is what is run again; the second run passes."""
    counts, ran, out = outcome(pytester, "wedged,ok")
    assert ran == {"pool": 2, "elsewhere": 1}, out
    assert "failed" not in counts and "error" not in counts, out


def test_a_second_wedge_fails_the_test(pytester):
    counts, ran, out = outcome(pytester, "wedged,wedged")
    assert ran["pool"] == 2 and counts.get("errors") == 1, out
    assert "zfs-fuse stopped answering file requests (faked) during this test" in out


def test_a_failure_without_a_wedge_is_not_run_again(pytester):
    counts, ran, out = outcome(pytester, "ok,ok", fails=1)
    assert ran["pool"] == 1 and counts.get("failed") == 1 and "rerun" not in counts, out


def test_a_test_without_the_pool_is_not_run_again(pytester):
    counts, ran, out = outcome(pytester, "ok,wedged", fails_elsewhere=True)
    assert ran == {"pool": 1, "elsewhere": 1} and counts.get("failed") == 1 and "rerun" not in counts, out
