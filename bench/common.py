"""What every benchmark shares: raw commands, timing, a Shoal of the bench's
own (own pool, ports, state dir, daemons; all removed at the end), polling
through the API, and the report of medians and ratios.

The floor is the work done by hand with the commands an administrator would
run (`zfs`, `tgtadm`, ganesha's files and a SIGHUP). Shoal does some of it
without a process where the daemon lets it -- tgtd's management socket,
zfs-fuse's ioctl socket for snapshots -- and that saving is Shoal's to show:
the floor stays what doing it by hand costs. Likewise the floor waits for
ganesha's "reload complete" line by looking at its log every 2 ms, while
Shoal is woken by inotify as the line is written (measured: its wait went
from ~2.2 ms to ~1.2 ms). A floor woken the same way is ~0.3-0.45 ms
shorter; bench/shares.py times that floor too and prints the ratio against
it on a line of its own."""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fixtures.ganesha import _registrations, _restore_registrations  # noqa: E402
from tests.fixtures.shoal import (  # noqa: E402
    free_port, kill_ganesha, start_server, stop_server, stop_tgtd, write_config,
)

POLL = 0.02  # how often a client asks; latencies are read from the server's own records
QUIET = 0.1  # pause before each measured step, so that it starts on a quiet machine


def sh(*argv: str, stdin=None) -> str:
    """Run a raw command; like anyone driving zfs-fuse by hand, retry 'busy'."""
    for delay in (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, None):
        result = subprocess.run(argv, capture_output=True, text=True, stdin=stdin)
        if result.returncode == 0:
            return result.stdout
        if delay is None or "busy" not in result.stderr:
            raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
        time.sleep(delay)
    raise AssertionError("unreachable")


def fill(directory: str, mib: int, name: str = "data.bin") -> None:
    """`mib` MiB of random data in a new file of `directory`."""
    subprocess.run(["dd", "if=/dev/urandom", f"of={directory}/{name}", "bs=1M", f"count={mib}", "status=none"],
                   check=True)


def pipe(snapshot: str, target: str, since: str | None = None) -> None:
    """`zfs send [-i since] snapshot | zfs receive [-F] target` by hand: two
    processes joined by a pipe, as an administrator's shell would join them."""
    producer = subprocess.Popen(["zfs", "send", *(["-i", since] if since else []), snapshot], stdout=subprocess.PIPE)
    subprocess.run(["zfs", "receive", *(["-F"] if since else []), target], stdin=producer.stdout, check=True,
                   capture_output=True)
    producer.stdout.close()
    assert producer.wait() == 0


def settle_pool(pool: str) -> None:
    """Force a txg sync of `pool` (a snapshot does; see BenchShoal.settle)."""
    sh("zfs", "snapshot", f"{pool}/settle@s")
    sh("zfs", "destroy", f"{pool}/settle@s")


class TwoPoolFloor:
    """Work done by hand between the raw datasets of two pools (`roots`), the same
    way round as the API's: each round's dataset `<src>/<prefix><index>` holds
    `mib` MiB of random data, and goes to `<dst>/<prefix><index>`."""

    prefix = "d"

    def __init__(self, roots: tuple[str, str], mib: int):
        self.roots, self.mib = roots, mib
        self.src, self.dst = roots

    def source(self, index: int) -> str:
        return f"{self.src}/{self.prefix}{index}"

    def target(self, index: int) -> str:
        return f"{self.dst}/{self.prefix}{index}"

    def prepare(self, index: int, forward: bool) -> None:
        self.src, self.dst = self.roots if forward else self.roots[::-1]
        sh("zfs", "create", self.source(index))
        fill(f"/{self.source(index)}", self.mib)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@dataclass
class BenchShoal:
    url: str
    pool: str
    work: Path
    project: str
    iscsi_port: int

    def settle(self) -> None:
        """Write out what the pool still holds dirty: a snapshot forces a txg sync.
        zfs-fuse otherwise syncs only every few seconds, so whichever side made the
        first snapshot after the other side's create paid for syncing that create
        (measured: a share snapshot took 14 ms after a snapshot, 20 ms after a create)."""
        settle_pool(self.pool)

    def client(self, api: str, headers: dict) -> httpx.Client:
        major = {"share": "v2", "volume": "v3"}[api]
        return httpx.Client(base_url=f"{self.url}/{api}/{major}/{self.project}", timeout=60, headers=headers)


@contextlib.contextmanager
def bench_shoal(pool_size: str = "4G", datasets: tuple[str, ...] = ("raw",), backends=None, before_start=None):
    """A pool of the bench's own with `<pool>/api` for Shoal and the given raw datasets.
    `backends(work)`, if given, returns TOML for more backends, added to the config;
    whatever it makes for them goes under `work`, which is removed at the end.
    `before_start(config)`, if given, may change the config file before Shoal starts."""
    work = Path(tempfile.mkdtemp(prefix="shoal-bench-"))
    pool = f"shoalbench{os.getpid()}"
    sh("truncate", "-s", pool_size, str(work / "pool.img"))
    sh("zpool", "create", pool, str(work / "pool.img"))
    rpcbind_before = _registrations()
    server = None
    iscsi_port = free_port()
    try:
        for name in ("api", "settle", *datasets):
            sh("zfs", "create", f"{pool}/{name}")
        port = free_port()
        config = work / "shoal.toml"
        # The production health-check interval (the tests' 2 s would run its checks
        # in the middle of the measured operations).
        write_config(config, work, port, f"{pool}/api", free_port(), free_port(), iscsi_port,
                     periodic_interval=60, extra=backends(work) if backends else "")
        url = f"http://127.0.0.1:{port}"
        server = start_server(config, work, url, before_start)
        yield BenchShoal(url, pool, work, uuid.uuid4().hex, iscsi_port)
    finally:
        if server is not None:
            stop_server(server)
        kill_ganesha(work / "ganesha")
        stop_tgtd(iscsi_port)
        _restore_registrations(rpcbind_before)
        for _ in range(20):
            if subprocess.run(["zpool", "destroy", "-f", pool], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        subprocess.run(["rm", "-rf", str(work)])


@contextlib.contextmanager
def two_pool_shoal(name: str, backend_lines: str = "", service_lines: str = "", pool_size: str = "4G"):
    """bench_shoal whose ZFS backend holds a second zpool of the bench's own as well
    (`<second>/api`, beside `<second>/raw` for the floor and `<second>/settle`);
    yields (shoal, the second pool, the backend's name). `backend_lines` and
    `service_lines` are TOML lines added to the backend's table and to
    `[service]`. Both pools (`pool_size` each) are removed at the end."""
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"shoal-bench-{name}-{os.getpid()}"
    work.mkdir()
    second = f"shoalbench{os.getpid()}b"
    sh("truncate", "-s", pool_size, str(work / "pool2.img"))
    sh("zpool", "create", second, str(work / "pool2.img"))
    try:
        for dataset in ("api", "raw", "settle"):
            sh("zfs", "create", f"{second}/{dataset}")

        def two_pools(config: Path) -> None:
            text = config.read_text()
            text = re.sub(r'pools = \["([^"]+)"\]', rf'pools = ["\1", "{second}/api"]\n{backend_lines}', text, count=1)
            config.write_text(text.replace("[service]\n", f"[service]\n{service_lines}\n", 1))

        with bench_shoal(pool_size=pool_size, before_start=two_pools) as shoal:
            backend = re.search(r"\[backends\.([^\]]+)\]", (shoal.work / "shoal.toml").read_text()).group(1)
            yield shoal, second, backend
    finally:
        for _ in range(20):
            if subprocess.run(["zpool", "destroy", second], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        subprocess.run(["rm", "-rf", str(work)])


def wait_status(http: httpx.Client, path: str, status: str, key: str = "status", first_poll: float = 0.0) -> dict:
    """Poll until `status`. The first poll waits `first_poll` seconds: polling
    sooner learns nothing and only takes CPU from the server on this 2-core box."""
    time.sleep(first_poll)
    while True:
        (value,) = http.get(path).json().values()
        if value[key] == status:
            return value
        assert "error" not in value[key], value
        time.sleep(POLL)


def wait_updated(http: httpx.Client, path: str, before: str, first_poll: float = 0.0) -> dict:
    """Poll until the resource's `updated_at` is no longer `before` (work that
    leaves its status as it was, e.g. a replica's resync), as wait_status does."""
    time.sleep(first_poll)
    while True:
        (value,) = http.get(path).json().values()
        if value["updated_at"] != before:
            return value
        time.sleep(POLL)


def send(http: httpx.Client, method: str, path: str, **kwargs) -> tuple[httpx.Response, float]:
    """Make a request; return its response and when it started to go out
    (time.time() as httpcore begins writing it). The clock starts there, not
    when the bench calls httpx: httpx spends ~0.7 ms building a request and
    taking a connection before it writes a byte (measured against a server that
    does nothing), which is this client's cost, not Shoal's."""
    sent: list[float] = []

    def trace(event: str, _info: dict) -> None:
        if event == "http11.send_request_headers.started" and not sent:
            sent.append(time.time())

    response = http.request(method, path, extensions={"trace": trace}, **kwargs)
    return response, sent[0]


def latency(started: float, view: dict) -> float:
    """Seconds from `started` (time.time() as the request went out) to the moment the
    server recorded the steady state (`updated_at`, UTC, same clock): the real
    latency, without the poll interval or the load of tight polling on a 2-core box."""
    done = datetime.fromisoformat(view["updated_at"]).replace(tzinfo=timezone.utc).timestamp()
    return done - started


def wait_gone(http: httpx.Client, path: str, first_poll: float = 0.0) -> None:
    """Poll until 404, only after `first_poll` seconds: polls while the work runs
    only slow the server down."""
    time.sleep(first_poll)
    while http.get(path).status_code != 404:
        time.sleep(POLL)


def deleted_at(log: Path, kind: str, item: str) -> float:
    """When the server recorded the deletion: the time of its "<kind> <id> deleted"
    log line (local time, milliseconds) -- the deletion's `updated_at`, as it were."""
    needle = f" {kind} {item} deleted"
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.endswith(needle):
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise AssertionError(f"no '{needle.strip()}' line in {log}")


class Rounds:
    """The measurements of one benchmark, and the rules that keep them fair:
    each measured step starts on a settled pool (`settle`) after a short pause
    (so that it does not meet the work of the step before), the API and the
    floor take turns going first, and the API's first poll waits twice the
    floor's median time. Every
    latency is read from the server's own record, so when the client asks
    changes nothing but the load it puts beside the work (real clients poll
    every second or so; the floor never polls)."""

    def __init__(self, ops: tuple[str, ...], settle):
        self.results = new_results(ops)
        self.settle = settle
        self.other_floors: dict[str, list[float]] = {}  # op -> times of another way to do its floor

    def extra_floor(self, op: str, floor) -> None:
        """Time another way of doing `op`'s floor (settled, after the pause), reported apart."""
        self.settle()
        time.sleep(QUIET)
        self.other_floors.setdefault(op, []).append(timed(floor))

    def first_poll(self, op: str) -> float:
        floors = self.results[op]["floor"]
        return 2 * statistics.median(floors) if floors else 0.0

    def pair(self, op: str, index: int, floor, api):
        """Run the floor's `floor()` and the API's `api(first_poll)` -> (item, seconds)
        in the round's order; record both; return the API's item."""
        outcome = None

        def run_api():
            nonlocal outcome
            outcome = api(self.first_poll(op))

        first, second = (run_api, floor) if index % 2 else (floor, run_api)
        for step in (first, second):
            self.settle()
            time.sleep(QUIET)
            if step is floor:
                self.results[op]["floor"].append(timed(floor))
            else:
                step()
        item, seconds = outcome
        self.results[op]["api"].append(seconds)
        return item


def new_results(ops: tuple[str, ...]) -> dict:
    return {op: {"api": [], "floor": []} for op in ops}


def report(title: str, rounds: int, results: dict, other_floors: dict | None = None, other: str = "") -> None:
    """Medians of the times, and the median of each round's own ratio: the two
    halves of a pair ran seconds apart, so a machine that slows down or speeds up
    over the run moves both and the paired ratio stays put."""
    print(f"{title}, median of {rounds} rounds (ms); ratio = median of per-round Shoal API / raw commands")
    print(f"{'operation':<18}{'shoal':>10}{'floor':>10}{'ratio':>8}")
    for op, runs in results.items():
        api_ms = statistics.median(runs["api"]) * 1000
        floor_ms = statistics.median(runs["floor"]) * 1000
        ratio = statistics.median(a / f for a, f in zip(runs["api"], runs["floor"]))
        print(f"{op:<18}{api_ms:>10.1f}{floor_ms:>10.1f}{ratio:>8.2f}")
    for op, floors in (other_floors or {}).items():
        ratio = statistics.median(a / f for a, f in zip(results[op]["api"], floors))
        print(f"{op} against a floor {other}: floor {statistics.median(floors) * 1000:.1f} ms, ratio {ratio:.2f}")
