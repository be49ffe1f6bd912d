"""The short chaos runs CI does: scripts/chaos for about a minute of work with three
kill -9 (of Shoal, its ganesha and its tgtd), and 40 s with two kills of the run's
private zfs-fuse (every file system mounted anew under ganesha and tgtd; once while
Shoal runs, or with Shoal killed too and started after ZFS is back), each with a
fixed seed, so a failure replays with the command it prints.

SHOAL_CHAOS_SEED picks another seed; the run's files stay in the directory named
at the end of its output when it fails. A run whose private zfs-fuse wedged (tasks
left waiting on it in the kernel: its own defect, docs/zfs-fuse-wedges.md) ends as
an expected failure that names the wedge, not as a finding about Shoal.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import zfs as zfs_fixtures
from tests.fixtures.zfs_wedge_report import fuse_waiters_of_namespace

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(1500)]  # the run itself may take 1200 s

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("SHOAL_CHAOS_SEED", "20"))
COMMON = ["--workers", "3", "--max-resources", "8", "--verify", "1", "--settle-timeout", "90", "--seed", str(SEED)]
RUNS = {
    "daemons": ["--seconds", "60", "--kills", "3", "--kill-kinds", "shoal,ganesha,tgtd", *COMMON],
    "zfs-fuse": ["--seconds", "40", "--kills", "2", "--kill-kinds", "zfs-fuse,shoal+zfs-fuse", *COMMON],
}
TOOLS = ("zpool", "zfs", "ganesha.nfsd", "tgtd", "tgtadm", "nfs-ls", "nfs-cat", "nfs-cp", "qemu-img", "iscsi-inq")


RUN_TIMEOUT = 1200


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def _private_zfs_fuse(results: Path) -> int | None:
    """The pid of the run's own zfs-fuse (its pidfile is under `results`), if it still runs."""
    for pid in zfs_fixtures._live_pids("zfs-fuse"):
        try:
            if str(results) in Path(f"/proc/{pid}/cmdline").read_text():
                return pid
        except OSError:
            continue
    return None


def _still_waiting_on(daemon: int | None) -> str:
    """Tasks of the daemon's mount namespace waiting in the kernel on a FUSE answer."""
    try:
        return "; ".join(fuse_waiters_of_namespace(os.readlink(f"/proc/{daemon}/ns/mnt"))[:5]) if daemon else ""
    except OSError:
        return ""


def _kill_namespace_of(daemon: int | None) -> None:
    """kill -9 every process of the daemon's mount namespace (the daemon first: that frees
    the tasks waiting on it)."""
    if daemon is None:
        return
    try:
        namespace = os.readlink(f"/proc/{daemon}/ns/mnt")
        os.kill(daemon, signal.SIGKILL)
    except OSError:
        return
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "ns" / "mnt") == namespace:
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            continue


@pytest.mark.parametrize("kind", sorted(RUNS))
def test_short_chaos_run_keeps_every_invariant(tmp_path, kind):
    args = RUNS[kind]
    if os.geteuid() != 0:
        pytest.skip("the chaos harness needs root (a pool, ganesha and tgtd of its own)")
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}; run scripts/host-setup")
    from tests.fixtures.ganesha import _ensure_rpcbind

    _ensure_rpcbind()
    if kind == "zfs-fuse" and not (shutil.which("zfs-fuse") and shutil.which("unshare")):
        pytest.skip("killing zfs-fuse needs a private one (zfs-fuse and unshare)")
    print(f"chaos seed {SEED}: replay with scripts/chaos {' '.join(args)}")
    results = tmp_path / "chaos"
    try:
        run = subprocess.run([sys.executable, "-m", "tests.chaos.harness", *args, "--results", str(results)],
                             cwd=REPO, check=False, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        returncode, output = run.returncode, run.stdout + run.stderr
    except subprocess.TimeoutExpired as late:  # the harness itself hung (and was killed)
        returncode, output = None, _text(late.stdout) + _text(late.stderr)
    wedge = re.search(r"zfs-fuse wedged: (.*)", output)
    wedged = wedge.group(1) if wedge else ""
    if returncode is None and kind == "zfs-fuse":
        daemon = _private_zfs_fuse(results)
        wedged = wedged or _still_waiting_on(daemon)
        _kill_namespace_of(daemon)  # what the killed harness left running
    if returncode != 0 and wedged:
        # The run's own zfs-fuse left tasks waiting on it for good (docs/zfs-fuse-wedges.md):
        # what was checked after that says nothing about Shoal. Said, not hidden.
        pytest.xfail(f"the run's private zfs-fuse wedged ({wedged[:1500]}); "
                     f"replay: scripts/chaos {' '.join(args)}\n{output[-6000:]}")
    assert returncode == 0, f"scripts/chaos {' '.join(args)} exited {returncode}:\n{output[-12000:]}"
    kills = args[args.index("--kills") + 1]
    assert "violations: 0" in output and f"kills: {kills}" in output, output[-6000:]
