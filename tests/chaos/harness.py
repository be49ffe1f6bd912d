"""scripts/chaos: random work on a Shoal of its own, kill -9 of its processes, invariants checked.

    scripts/chaos                        about 5 minutes, 8 kills, a random seed (printed)
    scripts/chaos --seed 42              the same plan again (operations, kill kinds and moments)
    scripts/chaos --seconds 60 --kills 3 --ops 200 --kill-kinds shoal,tgtd

The run is cut into rounds (kills + 1). In each round --workers threads run
random share and volume operations through the HTTP API; at a random moment of
every round but the last, one process is killed with SIGKILL (Shoal, its
ganesha, its tgtd, or the run's private zfs-fuse); at the round's end the work
stops, everything must settle, and the invariants (tests/chaos/invariants.py)
are checked. It prints the counts and every violation, and exits 1 when there
was one. A run's files (report.json, shoal.log, zfs-fuse.log) go to --results
(default /var/tmp/shoal-chaos/<UTC time>); they are removed after a clean run
unless --keep.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from tests.fixtures.zfs_wedge_report import fuse_waiters_of_namespace

from . import world
from .api import Api
from .invariants import Checker, Violation
from .killer import KINDS, Killer
from .report import Report
from .workload import ApiState, Budget, Model, Workload
from .world import (
    in_private_namespace,
    own_pool,
    own_shoal,
    private_zfs_possible,
    say,
    zfs_daemon,
)

RESULTS_ROOT = Path("/var/tmp/shoal-chaos")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=None, help="replay a run (default: a random seed, printed)")
    parser.add_argument("--seconds", type=float, default=300, help="time spent working (checks come on top)")
    parser.add_argument("--ops", type=int, default=None, help="at most this many operations in all")
    parser.add_argument("--kills", type=int, default=8, help="how many kill -9 (one per round)")
    parser.add_argument("--kill-kinds", default=",".join(KINDS),
                        help=f"what may be killed, of {','.join(KINDS)} (zfs-fuse only with a private zfs-fuse)")
    parser.add_argument("--workers", type=int, default=3, help="operations under way at once")
    parser.add_argument("--max-resources", type=int, default=12, help="at most this many shares (and volumes)")
    parser.add_argument("--settle-timeout", type=float, default=120, help="bound for steady statuses and repairs")
    parser.add_argument("--op-timeout", type=float, default=120, help="bound for one operation to end")
    parser.add_argument("--verify", type=int, default=2, help="marked snapshots of each kind read back per check")
    parser.add_argument("--remotefs", action="store_true", help="also a RemoteFS backend (its files checked)")
    parser.add_argument("--host-zfs", action="store_true", help="use the host's ZFS daemon (never killed)")
    parser.add_argument("--pool-size", default="8G")
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the results directory after a clean run")
    args = parser.parse_args(argv)
    unknown = set(args.kill_kinds.split(",")) - set(KINDS)
    if unknown:
        parser.error(f"unknown kill kinds: {', '.join(sorted(unknown))}")
    return args


def replay_line(args: argparse.Namespace, seed: int) -> str:
    line = f"scripts/chaos --seed {seed} --seconds {args.seconds:g} --kills {args.kills} --kill-kinds {args.kill_kinds}"
    line += f" --workers {args.workers} --max-resources {args.max_resources} --verify {args.verify}"
    if args.ops is not None:
        line += f" --ops {args.ops}"
    return line + (" --remotefs" if args.remotefs else "") + (" --host-zfs" if args.host_zfs else "")


def kill_plan(kinds: list[str], kills: int, rng: random.Random) -> list[str]:
    """Which kind each kill is: every kind once in a shuffled order, again and again, so a
    short run still kills each kind it may."""
    plan: list[str] = []
    while kinds and len(plan) < kills:
        block = list(kinds)
        rng.shuffle(block)
        plan += block
    return plan[:kills]


def run_rounds(args, seed: int, workload: Workload, checker: Checker, killer: Killer, report: Report) -> None:
    api, model = workload.api, workload.model
    kinds = [k for k in args.kill_kinds.split(",") if killer.available(k)]
    for kind in set(args.kill_kinds.split(",")) - set(kinds):
        report.skipped_kinds[kind] = "no private zfs-fuse in this run (--host-zfs, or no unshare/zfs-fuse)"
    budget = Budget(args.ops)
    plan = kill_plan(kinds, args.kills, random.Random(f"{seed}:kills"))
    rounds = args.kills + 1
    length = args.seconds / rounds
    for round_no in range(rounds):
        rng = random.Random(f"{seed}:{round_no}")
        stop = threading.Event()
        workers = [threading.Thread(target=workload.run, args=(random.Random(f"{seed}:{round_no}:{w}"), stop, budget),
                                    name=f"chaos-worker-{w}", daemon=True) for w in range(args.workers)]
        start = time.monotonic()
        for w in workers:
            w.start()
        after = "no kill"
        if round_no < len(plan):
            kind = plan[round_no]
            time.sleep(max(0.0, start + rng.uniform(0.3, 0.8) * length - time.monotonic()))
            what = killer.kill(kind)
            after = f"kill of {kind}" if what else f"kill of {kind} (none running)"
            report.kill(round_no, kind, what or f"no {kind} was running")
            say(f"round {round_no}: {what or f'no {kind} running'}")
        time.sleep(max(0.0, start + length - time.monotonic()))
        stop.set()
        for w in workers:
            w.join()
        say(f"round {round_no}: work stopped ({sum(workload.outcomes.values())} operations so far); checking")
        for v in report.add(round_no, after, checker.check(rng)):
            say(f"round {round_no}: VIOLATION {v}")
        model.refresh(ApiState.read(api))


def run(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    report = Report(seed, replay_line(args, seed))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    results = args.results or RESULTS_ROOT / f"{stamp}-seed{seed}"
    results.mkdir(parents=True, exist_ok=False)
    say(f"seed {seed}; results in {results}; replay: {report.replay}")
    workload = checker = None
    try:
        with zfs_daemon(results, args.host_zfs) as daemon, own_pool(results, args.pool_size) as (pool, image), \
                own_shoal(pool, results / "run", args.remotefs) as server:
            say(f"Shoal at {server.url} on {server.pool_root} (state {server.state_dir})")
            api, model = Api(server), Model()
            workload = Workload(api, model, args.max_resources, args.op_timeout)
            checker = Checker(api, workload, model, args.settle_timeout, args.verify, args.remotefs)
            try:
                run_rounds(args, seed, workload, checker, Killer(server, daemon, pool, image), report)
            except Exception as exc:  # noqa: BLE001 - e.g. Shoal did not start again: a finding, reported
                report.add(-1, "the run stopped", [Violation("run stopped", f"{exc!r}"[:2000])])
            finally:
                hold_signals()
                shutil.copy(server.state_dir / "shoal.log", results / "shoal.log")
                if daemon is not None and (wedged := zfs_fuse_wedged()):
                    say(f"zfs-fuse wedged: {wedged}")
    finally:
        if workload is not None:
            print(report.render(workload.outcomes, workload.failures, checker.client_repairs, checker.read_back), flush=True)
            report.save(results / "report.json", workload.outcomes)
    shutil.rmtree(results / "run", ignore_errors=True)
    if report.violations:
        say(f"{len(report.violations)} violations; replay with: {report.replay}; files in {results}")
        return 1
    if not args.keep and args.results is None:
        shutil.rmtree(results, ignore_errors=True)
    return 0


def zfs_fuse_wedged(pause: float = 5.0) -> str:
    """Tasks of this run's mount namespace still waiting in the kernel on a FUSE answer
    after `pause` (the private zfs-fuse left a request, or a mount's INIT, unanswered:
    see docs/zfs-fuse-wedges.md); '' if none. Read before the daemon is stopped, which
    frees them."""
    mine = os.readlink("/proc/self/ns/mnt")
    first = fuse_waiters_of_namespace(mine)
    if not first:
        return ""
    time.sleep(pause)
    return "; ".join([task for task in fuse_waiters_of_namespace(mine) if task in first][:5])


def interrupted(*_) -> None:
    """The first SIGTERM/SIGINT unwinds the run (its `with`s clean up in order); later ones are ignored."""
    hold_signals()
    raise KeyboardInterrupt()


def hold_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def main(argv: list[str]) -> int:
    args = parse(argv)
    if os.geteuid() != 0:
        say("needs root (a zpool, ganesha and tgtd of its own)")
        return 2
    if not args.host_zfs and not in_private_namespace() and private_zfs_possible():
        world.enter_private_namespace(argv)  # does not return
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        return run(args)
    except KeyboardInterrupt:
        say("interrupted; cleaned up")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
