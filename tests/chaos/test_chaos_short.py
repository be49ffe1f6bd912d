"""The short chaos runs CI does: scripts/chaos for about a minute of work with three
kill -9 (of Shoal, its ganesha and its tgtd), and 40 s with two kills of the run's
private zfs-fuse (every file system mounted anew under ganesha and tgtd; once while
Shoal runs, or with Shoal killed too and started after ZFS is back), each with a
fixed seed, so a failure replays with the command it prints.

SHOAL_CHAOS_SEED picks another seed; the run's files stay in the directory named
at the end of its output when it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(1500)]  # the run itself may take 1200 s

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("SHOAL_CHAOS_SEED", "20"))
COMMON = ["--workers", "3", "--max-resources", "8", "--verify", "1", "--settle-timeout", "90", "--seed", str(SEED)]
RUNS = {
    "daemons": ["--seconds", "60", "--kills", "3", "--kill-kinds", "shoal,ganesha,tgtd", *COMMON],
    "zfs-fuse": ["--seconds", "40", "--kills", "2", "--kill-kinds", "zfs-fuse,shoal+zfs-fuse", *COMMON],
}
TOOLS = ("zpool", "zfs", "ganesha.nfsd", "tgtd", "tgtadm", "nfs-ls", "nfs-cat", "nfs-cp", "qemu-img", "iscsi-inq")


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
    run = subprocess.run([sys.executable, "-m", "tests.chaos.harness", *args, "--results", str(tmp_path / "chaos")],
                         cwd=REPO, check=False, capture_output=True, text=True, timeout=1200)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"scripts/chaos {' '.join(args)} exited {run.returncode}:\n{output[-12000:]}"
    kills = args[args.index("--kills") + 1]
    assert "violations: 0" in output and f"kills: {kills}" in output, output[-6000:]
