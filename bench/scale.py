"""Scale: N shares and N volumes through Shoal's API against the same work by hand, in one run.

On a Shoal of the bench's own (own pool, ports, ganesha and tgtd; all removed
at the end), and beside it a ganesha and a tgtd of the floor's own:

Where the shares and volumes live (--layout): one zfs-fuse mounts at most 1000
file systems (a limit built into it) and every share and every volume is a
dataset. Up to 900 shares + volumes (the 400 + 400 default) everything stays
on one daemon (`one`). Above that, part of them go to ZFS hosts of the bench's
own (bench/scale_zfs_host.py): each a mount namespace with its own zfs-fuse,
pool and sshd, reached by Shoal over SSH as a ZFS backend (its tgtd and
ganesha started by Shoal there), each share and volume pinned to its backend
by a type. `volume-host`: the shares on the first daemon (backend `test`,
local), the volumes on a second (`remote`); it holds at most 995 shares and
997 volumes, the bench's own datasets (pool roots, `api`, `settle`, the
floor's `raw`, the rules' share) counted. `split` (1000 + 1000, issue 20's
figures): every third share and every third volume on a third daemon
(`remote2`, which holds both), the other shares on the first, the other
volumes on the second. The floor does the same work on the same layout: its
datasets on the same daemons, a ganesha of its own beside each of Shoal's
that serves shares and a tgtd beside each that serves volumes; on a host it
works in the namespace through `nsenter --mount`, not over SSH, so Shoal's
figures there include an SSH round trip per command that the floor does not
pay. A kill -9 round kills every ganesha (or tgtd) of a side at once.

1. create: N shares and N volumes created concurrently through the API by 8
   client threads (as many users would), until all are `available`. Floor:
   the same datasets (and volume files) made with `zfs create` / `truncate`
   one after another (8 at once wedged zfs-fuse), the N export files
   written, ONE ganesha reload. The floor's datasets are then destroyed:
   zfs-fuse mounts only about a thousand (hence 400 + 400 by default there).
   export: one access rule (127.0.0.1 rw) per share and one attachment per
   volume (iSCSI connector, mode rw) by 8 threads, until every rule is
   `active`. Floor: the N export files rewritten with the rule and ONE
   reload; the N targets made with tgtadm, the five commands the tgt helper
   stands for (target, LUN, account, bind account, bind initiator), one after
   another as tgtd takes them.
2. ganesha kill -9 / tgtd kill -9 (Shoal keeps running), each in its own
   round: from the kill until every export / target is back, seen from
   outside: all N share paths in the export list (MOUNT's EXPORT call, as
   `showmount -e` sends it, straight to the ganesha's MNT port: rpcbind names
   whichever ganesha started last) and all N targets with their LUN in
   `tgtadm --op show`; then a sample of shares read over NFS (libnfs) and of
   volumes over iSCSI (libiscsi via qemu-img). Floor: a ganesha of the floor's
   own on copies of the export files Shoal wrote, and a tgtd of its own with
   targets on Shoal's volume files, killed the same way and brought back by
   hand: ganesha started again on those files; tgtd started again and the N
   targets made again with tgtadm.
3. restart: Shoal stopped (SIGINT) and started again (`shoal serve`) until the
   API answers and every export and target is listed. Floor: the state read
   by hand (`zfs list` of Shoal's root, the export list, `tgtadm --op show`).
4. list: GET /shares/detail and /volumes/detail of N, as one request and in
   upstream's pages (Manila's and Cinder's osapi_max_limit, 1000, followed by
   marker); then the same of BIG rows -- rows copied straight into the bench's
   database with sqlite3 (no datasets behind them; removed afterwards). Floor:
   one `zfs list` of Shoal's root (its 2N datasets).
5. rules: 1000 access rules on one share (8 threads) until all are `active`.
   Floor: one export file rewritten with 1000 CLIENT blocks and one reload.
   127.0.0.1 is among the rules: ganesha lists an export only to a client it
   lets in, and the bench checks all 1000 clients in the export list.
6. memory: Shoal's RSS (VmRSS) after a warm-up, after N and after 10 N
   operations of a fixed mix (reads, updates, metadata, small listings,
   volume snapshots made and deleted); nothing the mix does accumulates.

Times of one-off batches (create, export) are of one run; the others are
medians of --rounds rounds, each round's ratio taken against its own floor,
the API and the floor taking turns to go first. Timing ends when the bench
sees the state from outside (polled every 0.1 s), or at the server's own
`updated_at` for statuses. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_shoal, sh
from scale_zfs_host import NamespaceTgt, ZfsHost
from shares import RawGanesha
from volumes import RawTgt

from shoal.exports.iscsi.tgt import parse_targets
from shoal.exports.nfs.base import NfsClientRule, normalize_address
from shoal.exports.nfs.ganesha import render_export
from tests.chaos.world import PrivateZfsFuse, private_zfs_possible
from tests.fixtures.shoal import SHOAL, stop_server, stop_tgtd, wait_until_serving
from tests.fixtures.zfs import drop_inherited_fuse_mounts
from tests.integration.volume_helpers import Lun, pattern, tgtd_pids

THREADS = 8
ONE_DAEMON = 900  # shares + volumes one zfs-fuse holds with room to spare
# zfs-fuse mounts 1000 file systems at the most, a limit built into it: past it, it logs
# "filesystem limit (1000) reached, unmounting.." and its mounts go (seen: every one of
# them). The bench's own count against it: the pool's root, `api`, `settle` and the
# floor's `raw` on the first daemon, the rules' share; root, `api`, `raw` on a ZFS host.
ZFS_FUSE_MOUNTS = 1000
OWN_MOUNTS_LOCAL, OWN_MOUNTS_HOST = 5, 3
LAYOUTS = ("one", "volume-host", "split")
FLOOR_IOTHREADS = 4  # I/O threads per LUN of the floor's second tgtds with ZFS hosts (see FloorDaemons)
PAGE = 1000  # osapi_max_limit: Manila's and Cinder's default page
RULES = 1000
SAMPLE = 4  # shares and volumes read back from outside after each recovery
LOOK = 0.1  # how often the bench looks from outside
INITIATOR = "iqn.2026-11.org.shoal.bench:scale"
CONNECTOR = {"initiator": INITIATOR, "ip": "127.0.0.1", "host": "bench-scale", "platform": "x86_64",
             "os_type": "linux", "multipath": False}
SHARE_API = {"X-OpenStack-Manila-API-Version": "2.84"}
VOLUME_API = {"OpenStack-API-Version": "volume 3.71"}
MARK = "scale-mark"
NAMESPACE_FLAG = "SHOAL_SCALE_PRIVATE_NS"
T0 = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {text}", file=sys.stderr, flush=True)


def wall(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def in_threads(fn, items, threads: int = THREADS) -> list:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, items))


def stamp(view: dict) -> float:
    """The server's `updated_at` (UTC) as time.time()."""
    return datetime.fromisoformat(view["updated_at"]).replace(tzinfo=UTC).timestamp()


def wait_for(what: str, check, timeout: float = 600, every: float = LOOK):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f}s")
        time.sleep(every)
    return value


# ---- looking from outside ----------------------------------------------------------


def _xdr_string(data: bytes, at: int) -> tuple[str, int]:
    (size,) = struct.unpack_from(">I", data, at)
    return data[at + 4: at + 4 + size].decode(), at + 4 + size + (-size % 4)


def mount_exports(port: int) -> dict[str, list[str]]:
    """MOUNT v3 EXPORT (what `showmount -e` asks) sent to `port`: {path: client groups};
    {} while nothing listens there."""
    xid = random.getrandbits(32)
    call = struct.pack(">IIIIIIIIII", xid, 0, 2, 100005, 3, 5, 0, 0, 0, 0)  # CALL MOUNT v3 EXPORT, AUTH_NONE
    reply = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(struct.pack(">I", 0x80000000 | len(call)) + call)
            stream = sock.makefile("rb")
            last = False
            while not last:
                header = stream.read(4)
                if len(header) < 4:
                    return {}
                (mark,) = struct.unpack(">I", header)
                last = bool(mark & 0x80000000)
                reply += stream.read(mark & 0x7FFFFFFF)
    except OSError:
        return {}
    got_xid, kind, status = struct.unpack_from(">III", reply)
    (verifier,) = struct.unpack_from(">I", reply, 16)
    at = 20 + verifier + (-verifier % 4)
    if (got_xid, kind, status) != (xid, 1, 0) or struct.unpack_from(">I", reply, at)[0] != 0:
        return {}
    at += 4
    exports: dict[str, list[str]] = {}
    while struct.unpack_from(">I", reply, at)[0]:
        path, at = _xdr_string(reply, at + 4)
        groups = exports.setdefault(path, [])
        while struct.unpack_from(">I", reply, at)[0]:
            group, at = _xdr_string(reply, at + 4)
            groups.append(group)
        at += 4
    return exports


def tgt_iqns(control: int) -> set[str]:
    """IQNs of the targets with a LUN in the tgtd on `control` (none while it is down)."""
    shown = subprocess.run(["tgtadm", "-C", str(control), "--lld", "iscsi", "--op", "show", "--mode", "target"],
                           capture_output=True, text=True, check=False)
    if shown.returncode:
        return set()
    return {t.iqn for t in parse_targets(shown.stdout) if any(lun.lun >= 1 and lun.backing_path for lun in t.luns)}


def zfs_names(root: str) -> list[str]:
    return sh("zfs", "list", "-H", "-o", "name,used,available,refquota,mountpoint", "-r", root).splitlines()


def rule_address(series: int, index: int) -> str:
    """The index-th of many rules: 127.0.0.1 first (ganesha lists an export only
    to a client it lets in), then 10.<series>.x.y."""
    return "127.0.0.1" if index == 0 else f"10.{series % 250}.{index // 250}.{index % 250 + 1}"


def kill_9(pids: list[int]) -> None:
    """SIGKILL daemons (children of init), and return once each is reaped. Not at
    its zombie: the leader of a threaded process is a zombie while its other
    threads still exit holding its files -- tgtd with 1000 LUNs keeps its
    control-socket lock for a while, and a new tgtd started then exits with
    "another tgtd is using /var/run/tgtd/socket.N.lock"."""
    assert pids, "no process to kill"
    start = time.monotonic()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_for(f"{pids} gone", lambda: not any(psutil.pid_exists(pid) for pid in pids), every=0.002)
    say(f"(kill -9 of {len(pids)} processes: gone after {time.monotonic() - start:.2f}s)")


def snapshot_status(http: httpx.Client, snapshot: str) -> str | None:
    """A volume snapshot's status, None once it is gone; an error status fails the bench
    at once (a wait for it to go would only time out)."""
    response = http.get(f"/snapshots/{snapshot}")
    if response.status_code == 404:
        return None
    status = response.json()["snapshot"]["status"]
    assert not status.startswith("error"), f"snapshot {snapshot}: {status}"
    return status


def stop_daemons(ganesha_pidfile: Path | None, tgtd_ports: list[int]) -> None:
    """A ganesha (by its pidfile, if any) and tgtds (by their iSCSI ports) stopped, and waited for
    until they are gone: with a thousand exports or LUNs they take seconds to exit, and
    until then their files keep datasets busy -- and a pool destroyed under open files
    wedges zfs-fuse."""
    pids = tgtd_pids_of(tgtd_ports)
    with contextlib.suppress(OSError, ValueError, IndexError, psutil.Error):
        pid = int(ganesha_pidfile.read_text().split()[0]) if ganesha_pidfile else 0  # ganesha does not truncate it
        if pid and str(ganesha_pidfile.parent) in " ".join(psutil.Process(pid).cmdline()):
            os.kill(pid, signal.SIGKILL)
            pids.append(pid)
    for port in tgtd_ports:
        stop_tgtd(port)
    wait_for(f"daemons {pids} gone", lambda: not any(psutil.pid_exists(pid) for pid in pids), timeout=300, every=0.1)


def destroy_patiently(argv: list[str], timeout: float = 300) -> None:
    """`zfs destroy` retried while it answers "busy" (a thousand unmounts settling), up to `timeout`."""
    def done() -> bool:
        try:
            sh(*argv)
        except RuntimeError as exc:
            if "busy" not in str(exc):
                raise
            return False
        return True

    wait_for(" ".join(argv), done, timeout=timeout, every=2)


def tgtd_pids_of(ports: list[int]) -> list[int]:
    return [pid for port in ports for pid in tgtd_pids(SimpleNamespace(iscsi_port=port))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# ---- where the shares and volumes live ------------------------------------------------


@dataclasses.dataclass
class Site:
    """The indexes of the run's shares and volumes that live on one zfs-fuse: the bench's
    own daemon (`host` None, Shoal's local backend `test`) or a ZFS host of its own in a
    mount namespace, reached over SSH (bench/scale_zfs_host.py)."""

    backend: str
    host: ZfsHost | None
    shares: list[int]
    volumes: list[int]

    def mounts(self) -> int:
        """The file systems this site's daemon holds at the most, the bench's own included."""
        return len(self.shares) + len(self.volumes) + (OWN_MOUNTS_LOCAL if self.host is None else OWN_MOUNTS_HOST)

    def api_root(self, shoal) -> str:
        return f"{self.host.pool}/api" if self.host else f"{shoal.pool}/api"

    def ganesha_dir(self, shoal) -> Path:
        """Where Shoal's ganesha for this site keeps its files (visible from both sides)."""
        return self.host.ganesha_dir if self.host else shoal.work / "ganesha"


def fits_daemons(layout: str, n_shares: int, n_volumes: int) -> bool:
    return all(site.mounts() <= ZFS_FUSE_MOUNTS for site in plan(layout, n_shares, n_volumes))


def plan(layout: str, n_shares: int, n_volumes: int) -> list[Site]:
    """The sites of a layout (see the module's docstring). `split`: every third share and
    volume on a host that holds both, the other shares on the bench's daemon, the other
    volumes on a host of their own."""
    shares, volumes = list(range(n_shares)), list(range(n_volumes))
    if layout == "one":
        return [Site("test", None, shares, volumes)]

    def host(name: str, suffix: str, count: int) -> ZfsHost:
        return ZfsHost(name, f"shoalbench{os.getpid()}{suffix}", f"{2 * count + 100}G")

    if layout == "volume-host":
        return [Site("test", None, shares, []), Site("remote", host("remote", "v", n_volumes), [], volumes)]
    third = [i for i in shares if i % 3 == 2], [i for i in volumes if i % 3 == 2]
    rest = [i for i in shares if i % 3 != 2], [i for i in volumes if i % 3 != 2]
    return [Site("test", None, rest[0], []),
            Site("remote", host("remote", "v", len(rest[1])), [], rest[1]),
            Site("remote2", host("remote2", "w", len(third[0]) + len(third[1])), *third)]


# ---- the floor's daemons -------------------------------------------------------------


class FloorSite:
    """The floor's part of one site: its datasets under the site's `<pool>/raw`, made in
    the site's namespace (nsenter, no SSH), a ganesha there if shares live there, a tgtd
    if volumes do."""

    def __init__(self, work: Path, site: Site, local_root: str):
        self.work, self.site, self.host = work, site, site.host
        self.on = site.host.argv() if site.host else []
        self.root = f"{site.host.pool}/raw" if site.host else local_root
        self.ganesha = self.new_ganesha("floor-ganesha") if site.shares else None
        self.tgt = self.new_tgt() if site.volumes else None
        self.exports: dict[str, str] = {}  # export key -> path
        self.backings: list[str] = []  # target tid - 1 -> its LUN's file

    def new_ganesha(self, name: str) -> RawGanesha:
        directory = self.work / f"{name}-{self.site.backend}"
        return self.host.ganesha(directory) if self.host else RawGanesha(directory)

    def new_tgt(self, iothreads: int | None = None) -> RawTgt:
        return self.host.tgt(iothreads) if self.host else RawTgt()

    def write_export(self, key: str, export_id: int, addresses: list[str]) -> None:
        rules = [NfsClientRule(f"r{i}", a, "rw") for i, a in enumerate(addresses)]
        parsed = [(r, normalize_address(r.address)) for r in rules]
        (self.ganesha.exports / f"{key}.conf").write_text(render_export(key, export_id, self.exports[key], parsed))

    def make_share(self, index: int) -> None:
        key = f"s{index}"
        sh(*self.on, "zfs", "create", "-o", "refquota=1G", "-o", "readonly=off", f"{self.root}/{key}")
        self.exports[key] = f"/{self.root}/{key}"
        self.write_export(key, 2 + index, [])

    def make_volume(self, index: int) -> None:
        sh(*self.on, "zfs", "create", f"{self.root}/v{index}")
        sh(*self.on, "truncate", "-s", "1G", f"/{self.root}/v{index}/volume.raw")
        self.backings.append(f"/{self.root}/v{index}/volume.raw")

    def iqn(self, tid: int) -> str:
        return f"iqn.2026-11.org.shoal.raw:t{tid}"

    def make_target(self, tid: int) -> None:
        """What the tgt helper stands for, as five tgtadm commands."""
        adm, t = self.tgt.adm, str(tid)
        adm("--op", "new", "--mode", "target", "--tid", t, "-T", self.iqn(tid))
        adm("--op", "new", "--mode", "logicalunit", "--tid", t, "--lun", "1", "-b", self.backings[tid - 1])
        adm("--op", "new", "--mode", "account", "--user", f"u{t}", "--password", "secretsecret12")
        adm("--op", "bind", "--mode", "account", "--tid", t, "--user", f"u{t}")
        adm("--op", "bind", "--mode", "target", "--tid", t, "-Q", INITIATOR)

    def make_targets(self) -> None:
        for tid in range(1, len(self.backings) + 1):
            self.make_target(tid)

    def reload(self) -> None:
        self.ganesha.write_main()
        self.ganesha.reload()

    def export_files(self) -> None:
        for index, key in enumerate(self.exports):
            self.write_export(key, 2 + index, ["127.0.0.1"])
        self.reload()

    def destroy(self) -> None:
        """The datasets made by hand, unmounted first (zfs-fuse's destroy -r answers
        "busy" for mounted children); the daemons already stopped."""
        datasets = [f"{self.root}/{key}" for key in self.exports] + [b.rsplit("/", 1)[0][1:] for b in self.backings]
        for dataset in datasets:
            subprocess.run([*self.on, "zfs", "umount", dataset], capture_output=True, check=False)
        destroy_patiently([*self.on, "zfs", "destroy", "-r", self.root])

    def serve(self, scale: Scale, iothreads: int | None) -> None:
        """Daemons of the floor's own again, on copies of the export files Shoal wrote
        for this site and with targets on Shoal's volume files there."""
        shoal, site = scale.shoal, self.site
        if site.shares:
            self.ganesha = self.new_ganesha("floor-ganesha-2")
            for conf in (site.ganesha_dir(shoal) / "exports.d").glob("*.conf"):
                shutil.copy(conf, self.ganesha.exports)
            self.exports = {scale.shares[i]: scale.paths[scale.shares[i]] for i in site.shares}
            self.reload()
            assert self.share_paths() <= mount_exports(self.ganesha.mount_port).keys()
        if site.volumes:
            self.tgt = self.new_tgt(iothreads)
            root = site.api_root(shoal)
            self.backings = [f"/{root}/volume-{scale.volumes[i]}/volume.raw" for i in site.volumes]
            self.make_targets()
            assert self.iqns() <= tgt_iqns(int(self.tgt.control))

    def share_paths(self) -> set[str]:
        return set(self.exports.values())

    def iqns(self) -> set[str]:
        return {self.iqn(tid) for tid in range(1, len(self.backings) + 1)}

    def ganesha_started(self) -> None:
        """Started by hand on its files again (after a kill -9), until it lists every export."""
        g = self.ganesha
        g.start()
        wanted = self.share_paths()
        wait_for("floor ganesha lists every export", lambda: wanted <= mount_exports(g.mount_port).keys())
        g.pid = int(g.pidfile.read_text().split()[0])  # ganesha does not truncate it

    def tgtd_pids(self) -> list[int]:
        return tgtd_pids(SimpleNamespace(iscsi_port=self.tgt.port))

    def tgtd_started(self) -> None:
        """Started by hand again (after a kill -9) and every target made again with tgtadm."""
        control = self.tgt.control
        argv = ["tgtd", "--iscsi", f"portal=127.0.0.1:{self.tgt.port}", "--control-port", control]
        sh(*self.on, *(self.tgt.tgtd_argv() if isinstance(self.tgt, NamespaceTgt) else argv))
        answers = [*self.on, "tgtadm", "-C", control, "--op", "show", "--mode", "sys"]
        wait_for("floor tgtd answers", lambda: not subprocess.run(answers, capture_output=True,
                                                                 check=False).returncode, timeout=30, every=0.005)
        self.make_targets()
        wanted = self.iqns()
        wait_for("floor tgtd lists every target", lambda: wanted <= tgt_iqns(int(control)))

    def rules(self, count: int) -> None:
        """One export file rewritten with `count` CLIENT blocks, one reload."""
        key = next(iter(self.exports))
        text = (self.ganesha.exports / f"{key}.conf").read_text()
        self.write_export(key, int(re.search(r"Export_Id = (\d+);", text)[1]), [rule_address(9, i) for i in range(count)])
        self.ganesha.reload()
        listed = len(mount_exports(self.ganesha.mount_port).get(self.exports[key], []))
        assert listed == count, f"the floor's ganesha lists {listed} clients of {count}"

    def stop(self) -> None:
        """Both daemons, waited for until gone (see stop_daemons)."""
        stop_daemons(self.ganesha.pidfile if self.ganesha else None, [self.tgt.port] if self.tgt else [])


class FloorDaemons:
    """The floor's ganeshas and tgtds, one of each kind per site that needs it. For step 1
    they serve N shares and N volumes made by hand; then (tear_down) those go --
    zfs-fuse mounts only about a thousand datasets -- and (serve) the floor's daemons
    serve copies of Shoal's own export files and targets on Shoal's volume files, as an
    administrator would bring them back."""

    def __init__(self, work: Path, root: str, sites: list[Site]):
        self.parts = [FloorSite(work, site, root) for site in sites]
        self.share_part = {i: part for part in self.parts for i in part.site.shares}
        self.volume_part = {i: part for part in self.parts for i in part.site.volumes}
        # Beside Shoal's tgtd: each holds N LUNs, and tgtd runs 16 I/O threads per LUN. Two
        # of 990 LUNs (~32 000 threads) ran this machine out of pids (pid_max 32768: the
        # floor's tgtadm failed with "out of memory" at its 892nd LUN), so with ZFS hosts
        # the floor's second tgtds run FLOOR_IOTHREADS.
        self.iothreads = FLOOR_IOTHREADS if any(site.host for site in sites) else None

    def ganeshas(self) -> list[FloorSite]:
        return [part for part in self.parts if part.site.shares]

    def tgtds(self) -> list[FloorSite]:
        return [part for part in self.parts if part.site.volumes]

    def create(self, n_shares: int, n_volumes: int) -> None:
        """One after another, as an administrator's loop would: 8 `zfs create` at once
        wedged zfs-fuse here (twice, after 33 and 58 datasets; see docs/benchmarks.md)."""
        for index in range(max(n_shares, n_volumes)):
            if index < n_shares:
                self.share_part[index].make_share(index)
            if index < n_volumes:
                self.volume_part[index].make_volume(index)
        for part in self.ganeshas():
            part.reload()

    def export(self) -> None:
        for part in self.ganeshas():
            part.export_files()
        for part in self.tgtds():
            part.make_targets()

    def tear_down(self) -> None:
        """Untimed: the floor's daemons stopped and its datasets destroyed, before Shoal makes its own."""
        self.stop()
        for part in self.parts:
            part.destroy()

    def serve(self, scale: Scale) -> None:
        """Untimed: see FloorSite.serve."""
        for part in self.parts:
            part.serve(scale, self.iothreads)

    def ganesha_back(self) -> None:
        """kill -9 of every ganesha, then each started by hand on its files."""
        parts = self.ganeshas()
        kill_9([part.ganesha.pid for part in parts])
        for part in parts:
            part.ganesha_started()

    def tgtd_back(self) -> None:
        """kill -9 of every tgtd, then each started by hand and its targets made again."""
        parts = self.tgtds()
        kill_9([pid for part in parts for pid in part.tgtd_pids()])
        for part in parts:
            part.tgtd_started()

    def rules(self, count: int) -> None:
        self.ganeshas()[0].rules(count)

    def stop(self) -> None:
        """Every part's daemons, even when one part's stop fails (the first failure raised)."""
        failed = None
        for part in self.parts:
            try:
                part.stop()
            except Exception as exc:  # noqa: BLE001 -- the other parts' daemons must go all the same
                failed = failed or exc
        if failed is not None:
            raise failed


# ---- the Shoal under test ---------------------------------------------------------------


class Scale:
    """The bench Shoal, what was made on it, and the API as 8 users see it.
    bench/scale_kernel.py's subclass is the same with the kernel lane's guest
    as the backend's host (its rule address, portals and listings)."""

    rule_address = "127.0.0.1"  # the one access rule each share gets
    restart_timeout = 600.0  # seconds from serving until every export is listed
    missing: str | None = None  # what listed() last found missing, where it tells
    share_type: str | None = None  # the types shares and volumes are made with (None: the default)
    volume_type: str | None = None

    def __init__(self, shoal, backend: str = "test"):
        self.shoal = shoal
        config = tomllib.loads((shoal.work / "shoal.toml").read_text())["backends"][backend]
        self.mount_port = config.get("ganesha", {}).get("mount_port")
        self.nfs_port = config.get("ganesha", {}).get("nfs_port")
        self.control = config["iscsi"].get("control_port")
        self.config = shoal.work / "shoal.toml"
        self.root = f"{shoal.pool}/api"
        self.tgtd_port = shoal.iscsi_port  # the iSCSI port of Shoal's tgtd for the volumes
        self.process: subprocess.Popen | None = None  # set once the bench restarted Shoal itself
        self.pid = self._find_pid()
        self._local = threading.local()
        self.shares: list[str] = []
        self.volumes: list[str] = []
        self.paths: dict[str, str] = {}  # share id -> export path
        self.luns: dict[str, Lun] = {}  # volume id -> its LUN from the attachment's connection info

    def _find_pid(self) -> int:
        for child in psutil.Process().children(recursive=True):
            cmdline = child.cmdline()
            if "serve" in cmdline and str(self.config) in cmdline:
                return child.pid
        raise RuntimeError("the bench Shoal's process is not a child of this one")

    def http(self, api: str) -> httpx.Client:
        """One client per thread and API, as separate users would have."""
        key = f"client_{api}"
        if not hasattr(self._local, key):
            setattr(self._local, key, self.shoal.client(api, SHARE_API if api == "share" else VOLUME_API))
        return getattr(self._local, key)

    def listing(self, api: str, path: str, key: str, **params) -> list[dict]:
        """Every item, in upstream's pages of 1000 followed by marker."""
        items: list[dict] = []
        while True:
            query = {**params, "limit": PAGE, **({"marker": items[-1]["id"]} if items else {})}
            response = self.http(api).get(path, params=query)
            response.raise_for_status()
            page = response.json()[key]
            items += page
            if len(page) < PAGE:
                return items

    # -- 1. create and export ------------------------------------------------------------

    def typed(self, kind: str, index: int = 0) -> dict:
        """The body's type for the index-th share or volume, when the bench gave one for `kind`."""
        name = self.share_type if kind == "share" else self.volume_type
        return {f"{kind}_type": name} if name else {}

    def create(self, n_shares: int, n_volumes: int) -> float:
        def one(job) -> tuple[str, str]:
            kind, index = job
            if kind == "share":
                body = {"share": {"size": 1, "share_proto": "NFS", "name": f"scale-{index}", **self.typed("share", index)}}
                response = self.http("share").post("/shares", json=body)
            else:
                body = {"volume": {"size": 1, "name": f"scale-{index}", **self.typed("volume", index)}}
                response = self.http("volume").post("/volumes", json=body)
            assert response.status_code in (200, 202), response.text
            return kind, response.json()[kind]["id"]

        jobs = []  # a share, a volume, a share, ...
        for index in range(max(n_shares, n_volumes)):
            jobs += [("share", index)] if index < n_shares else []
            jobs += [("volume", index)] if index < n_volumes else []
        started = time.time()
        made = in_threads(one, jobs)
        self.shares = [i for kind, i in made if kind == "share"]
        self.volumes = [i for kind, i in made if kind == "volume"]

        def settled() -> bool:
            busy = [len(self.listing("share", "/shares", "shares", status="creating")),
                    len(self.listing("volume", "/volumes", "volumes", status="creating"))]
            say(f"create: {busy[0]} shares and {busy[1]} volumes still creating")
            return busy == [0, 0]

        wait_for("every share and volume steady", settled, timeout=3600, every=5)
        views = self.listing("share", "/shares/detail", "shares") + self.listing("volume", "/volumes/detail", "volumes")
        mine = set(self.shares) | set(self.volumes)
        bad = [(v["id"], v["status"]) for v in views if v["id"] in mine and v["status"] != "available"]
        assert not bad, f"not available: {bad[:5]} ({len(bad)} in all)"
        return max(stamp(v) for v in views if v["id"] in mine) - started

    def export(self) -> float:
        attached: list[float] = []

        def one(job) -> tuple[str, str]:
            kind, item = job
            if kind == "share":
                body = {"allow_access": {"access_type": "ip", "access_to": self.rule_address, "access_level": "rw"}}
                response = self.http("share").post(f"/shares/{item}/action", json=body)
                assert response.status_code == 200, response.text
                return kind, response.json()["access"]["id"]
            body = {"attachment": {"volume_uuid": item, "connector": CONNECTOR, "mode": "rw"}}
            response = self.http("volume").post("/attachments", json=body)
            assert response.status_code == 200, response.text
            attachment = response.json()["attachment"]
            self.luns[item] = self.lun_of(attachment["connection_info"])
            # As Nova does once the host has connected: the volume goes in-use.
            done = self.http("volume").post(f"/attachments/{attachment['id']}/action", json={"os-complete": None})
            assert done.status_code == 204, done.text
            attached.append(time.time())
            return kind, attachment["id"]

        jobs = [("share", s) for s in self.shares] + [("volume", v) for v in self.volumes]
        random.Random(7).shuffle(jobs)
        started = time.time()
        made = in_threads(one, jobs)

        mine = set(self.shares)

        def applied() -> bool:
            states = [s["access_rules_status"] for s in self.listing("share", "/shares/detail", "shares")
                      if s["id"] in mine]
            pending = sum(state != "active" for state in states)
            say(f"export: {pending} shares' rules not yet active")
            assert "error" not in states
            return not pending

        wait_for("every rule active", applied, timeout=3600, every=5)
        rules = in_threads(lambda rule: self.http("share").get(f"/share-access-rules/{rule}").json()["access"],
                           [item for kind, item in made if kind == "share"])
        assert all(r["state"] == "active" for r in rules)
        return max([stamp(r) for r in rules] + attached) - started

    def lun_of(self, connection_info: dict) -> Lun:
        return Lun.of(connection_info)

    def zfs_list(self) -> list[str]:
        return zfs_names(self.root)

    def listed(self) -> bool:
        """Every export and target seen from outside (MOUNT's EXPORT call, tgtadm)."""
        return self.share_paths() <= mount_exports(self.mount_port).keys() and self.iqns() <= tgt_iqns(self.control)

    def read_state(self) -> None:
        """The floor of a restart: the state read by hand (datasets, export list, targets)."""
        self.zfs_list(), mount_exports(self.mount_port), tgt_iqns(self.control)

    def learn_paths(self) -> None:
        columns = [line.split("\t") for line in self.zfs_list()]
        mountpoints = {fields[0]: fields[-1] for fields in columns}
        self.paths = {s: mountpoints[f"{self.root}/share-{s}"] for s in self.shares}

    def share_paths(self) -> set[str]:
        return set(self.paths.values())

    def iqns(self) -> set[str]:
        return {lun.iqn for lun in self.luns.values()}

    def nfs_url(self, path: str) -> str:
        return f"nfs://127.0.0.1{path}?nfsport={self.nfs_port}&mountport={self.mount_port}"

    def mark_samples(self) -> None:
        """A marker in a few shares (over NFS) and volumes (over iSCSI), to read after each recovery."""
        for share in self.shares[:SAMPLE]:
            local = self.shoal.work / "mark.txt"
            local.write_text(share)
            subprocess.run(["nfs-cp", str(local), self.nfs_url(f"{self.paths[share]}/{MARK}")], check=True,
                           capture_output=True, timeout=60)
        for volume in self.volumes[:SAMPLE]:
            self.luns[volume].write(INITIATOR, pattern(volume, 64 * 1024))

    def read_samples(self) -> None:
        for share in self.shares[:SAMPLE]:
            got = subprocess.run(["nfs-cat", self.nfs_url(f"{self.paths[share]}/{MARK}")], capture_output=True,
                                 text=True, timeout=60, check=False)
            assert got.returncode == 0 and got.stdout == share, f"share {share} over NFS: {got.stderr.strip()}"
        for volume in self.volumes[:SAMPLE]:
            assert self.luns[volume].read(INITIATOR, 64 * 1024) == pattern(volume, 64 * 1024), volume

    def all_available(self) -> None:
        views = self.listing("share", "/shares/detail", "shares") + self.listing("volume", "/volumes/detail", "volumes")
        mine = set(self.shares) | set(self.volumes)
        bad = [(v["id"], v["status"]) for v in views if v["id"] in mine and v["status"] not in ("available", "in-use")]
        assert not bad, f"after recovery, not available: {bad[:5]} ({len(bad)} in all)"

    # -- 2. the export daemons killed ----------------------------------------------------

    def ganesha_back(self) -> None:
        kill_9([int((self.shoal.work / "ganesha" / "ganesha.pid").read_text().split()[0])])
        wanted = self.share_paths()
        wait_for("Shoal's ganesha lists every export again", lambda: wanted <= mount_exports(self.mount_port).keys())

    def tgtd_back(self) -> None:
        kill_9(tgtd_pids(SimpleNamespace(iscsi_port=self.tgtd_port)))
        wanted = self.iqns()
        wait_for("Shoal's tgtd lists every target again", lambda: wanted <= tgt_iqns(self.control))

    # -- 3. restart -------------------------------------------------------------------------

    def restart(self) -> tuple[float, float]:
        """(stopped, serving with every export and target listed), seconds from the stop."""
        start = time.monotonic()
        self.http("share").close(), self.http("volume").close()
        self._local = threading.local()
        if self.process is not None:
            stop_server(self.process)
        else:
            os.kill(self.pid, signal.SIGINT)
            psutil.Process(self.pid).wait(timeout=60)
        stopped = time.monotonic() - start
        log = self.shoal.work / "shoal.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([*SHOAL, "--config", str(self.config), "serve"], env=env,
                                        cwd=Path(__file__).resolve().parents[1], stdout=log.open("a"),
                                        stderr=subprocess.STDOUT)
        self.pid = self.process.pid
        wait_until_serving(self.shoal.url, self.process, log, timeout=600)
        say(f"(Shoal serving {time.monotonic() - start:.2f}s after the stop began)")
        self.missing = None
        wait_for("every export and target listed after the restart", self.listed, timeout=self.restart_timeout)
        if self.missing:
            say(f"(the last part missing until {time.monotonic() - start:.2f}s: {self.missing})")
        return stopped, time.monotonic() - start

    def stop(self) -> None:
        """Shoal, then its ganesha and tgtd(s), each until gone (see stop_daemons)."""
        if self.process is not None:
            stop_server(self.process)
        elif psutil.pid_exists(self.pid):  # the one bench_shoal started: SIGINT, as stop_server sends
            os.kill(self.pid, signal.SIGINT)
            psutil.Process(self.pid).wait(timeout=60)
        stop_daemons(self.shoal.work / "ganesha" / "ganesha.pid", sorted({self.shoal.iscsi_port, self.tgtd_port}))

    # -- 5. many rules on one share --------------------------------------------------------

    def rules(self, count: int, round_no: int) -> float:
        http = self.http("share")
        body = {"share": {"size": 1, "share_proto": "NFS", "name": f"rules-{round_no}", **self.typed("share")}}
        response = http.post("/shares", json=body)
        share = response.json()["share"]["id"]
        wait_for("the rules' share", lambda: http.get(f"/shares/{share}").json()["share"]["status"] == "available",
                 every=0.2)

        def allow(index: int) -> None:
            body = {"allow_access": {"access_type": "ip", "access_to": rule_address(round_no, index),
                                     "access_level": "rw"}}
            response = self.http("share").post(f"/shares/{share}/action", json=body)
            assert response.status_code == 200, response.text

        started = time.time()
        in_threads(allow, range(count))

        def active() -> list[dict] | None:
            rules = http.get("/share-access-rules", params={"share_id": share}).json()["access_list"]
            assert not any(r["state"] == "error" for r in rules), [r for r in rules if r["state"] == "error"][:3]
            return rules if sum(r["state"] == "active" for r in rules) == count else None

        rules = wait_for(f"{count} rules active", active, timeout=3600, every=1)
        seconds = max(stamp(r) for r in rules) - started
        path = sh("zfs", "get", "-H", "-o", "value", "mountpoint", f"{self.root}/share-{share}").strip()
        listed = len(mount_exports(self.mount_port).get(path, []))
        assert listed == count, f"ganesha lists {listed} clients of {count} for {path}"
        assert http.delete(f"/shares/{share}").status_code == 202
        wait_for("the rules' share deleted", lambda: http.get(f"/shares/{share}").status_code == 404, every=0.2)
        return seconds

    # -- 6. memory ------------------------------------------------------------------------

    def operations(self, count: int, offset: int) -> None:
        """`count` operations of a fixed mix, 8 threads; none leaves anything behind."""
        def one(k: int) -> None:
            share, volume = self.shares[k % len(self.shares)], self.volumes[k % len(self.volumes)]
            s, v = self.http("share"), self.http("volume")
            kind = k % 10
            if kind == 0:
                response = s.get(f"/shares/{share}")
            elif kind == 1:
                response = v.get(f"/volumes/{volume}")
            elif kind == 2:
                response = s.put(f"/shares/{share}", json={"share": {"display_description": f"op {k}"}})
            elif kind == 3:
                response = v.put(f"/volumes/{volume}", json={"volume": {"description": f"op {k}"}})
            elif kind == 4:
                response = s.post(f"/shares/{share}/metadata", json={"metadata": {f"k{k % 7}": str(k)}})
            elif kind == 5:
                response = v.post(f"/volumes/{volume}/metadata", json={"metadata": {f"k{k % 7}": str(k)}})
            elif kind == 6:
                response = s.get("/shares/detail", params={"limit": 20, "offset": k % 50})
            elif kind == 7:
                response = v.get("/volumes/detail", params={"limit": 20, "offset": k % 50})
            elif kind == 8:
                response = s.get("/share-access-rules", params={"share_id": share})
            else:  # a volume snapshot made, then deleted
                response = v.post("/snapshots", json={"snapshot": {"volume_id": volume, "force": True}})
                assert response.status_code == 202, response.text
                snap = response.json()["snapshot"]["id"]
                wait_for("snapshot", lambda: snapshot_status(v, snap) == "available", every=0.05)
                response = v.delete(f"/snapshots/{snap}")
                assert response.status_code == 202, response.text
                wait_for("snapshot gone", lambda: snapshot_status(v, snap) is None, every=0.05)
            assert response.status_code < 300, (kind, response.status_code, response.text)

        in_threads(one, range(offset, offset + count))

    # -- 4. big listings: rows straight into the database -----------------------------------

    def insert_rows(self, total: int) -> dict[str, list[str]]:
        """Copies of one share's and one volume's row until each table holds `total` of
        this project's; no backend object behind them (provider_location NULL keeps
        recovery and the checks away from them). Returns the ids inserted."""
        made: dict[str, list[str]] = {}
        with sqlite3.connect(self.shoal.work / "shoal.db", timeout=60) as db:
            for table, source, changes in (
                ("shares", self.shares[-1], {"provider_location": None}),
                ("volumes", self.volumes[-1], {"provider_location": None, "attach_status": "detached",
                                                "status": "available"}),
            ):
                columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                (have,) = db.execute(f"SELECT count(*) FROM {table}").fetchone()
                ids = [str(uuid.uuid4()) for _ in range(max(0, total - have))]
                given = ["id", "name", *changes]  # the columns set here; the others are the source row's
                picks = ["?" if c in given else c for c in columns]
                sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(picks)} FROM {table} WHERE id = ?"
                rows = []
                for number, new in enumerate(ids):
                    values = {"id": new, "name": f"db-row-{number}", **changes}
                    rows.append([values[c] for c in columns if c in given] + [source])
                db.executemany(sql, rows)
                made[table] = ids
        return made

    def delete_rows(self, made: dict[str, list[str]]) -> None:
        with sqlite3.connect(self.shoal.work / "shoal.db", timeout=60) as db:
            for table, ids in made.items():
                db.executemany(f"DELETE FROM {table} WHERE id = ?", [[i] for i in ids])


class SitesScale(Scale):
    """Scale with part of the shares and volumes on ZFS hosts of their own reached over
    SSH (bench/scale_zfs_host.py), as the sites say; each share and volume pinned to its
    site's backend by a type of that site's."""

    def __init__(self, shoal, sites: list[Site]):
        super().__init__(shoal)
        self.sites = sites
        self.backends = tomllib.loads(self.config.read_text())["backends"]
        self.share_site = {i: site for site in sites for i in site.shares}
        self.volume_site = {i: site for site in sites for i in site.volumes}
        self.path_ports: dict[str, tuple[int, int]] = {}  # export path -> its ganesha's (NFS, MNT) ports
        for site in sites:
            if site.shares:
                share_type = {"share_type": {"name": self.type_name(site), "extra_specs": {
                    "driver_handles_share_servers": "False", "share_backend_name": site.backend}}}
                response = self.http("share").post("/types", json=share_type)
                assert response.status_code == 200, response.text
            if site.volumes:
                volume_type = {"volume_type": {"name": self.type_name(site),
                                               "extra_specs": {"volume_backend_name": site.backend}}}
                response = self.http("volume").post("/types", json=volume_type)
                assert response.status_code == 200, response.text

    @staticmethod
    def type_name(site: Site) -> str:
        return f"scale-{site.backend}"

    def typed(self, kind: str, index: int = 0) -> dict:
        site = (self.share_site if kind == "share" else self.volume_site)[index]
        return {f"{kind}_type": self.type_name(site)}

    def ports(self, site: Site) -> tuple[int, int, int]:
        """(NFS, MNT) of the site's ganesha and the control port of its tgtd."""
        config = self.backends[site.backend]
        return config["ganesha"]["nfs_port"], config["ganesha"]["mount_port"], config["iscsi"]["control_port"]

    def zfs_list(self) -> list[str]:
        """Every site's root: the bench's daemon's here, a host's in its namespace."""
        lines: list[str] = []
        for site in self.sites:
            root = site.api_root(self.shoal)
            if site.host is None:
                lines += zfs_names(root)
            else:
                lines += site.host.run("zfs", "list", "-H", "-o", "name,used,available,refquota,mountpoint", "-r",
                                       root).splitlines()
        return lines

    def learn_paths(self) -> None:
        mountpoints = {fields[0]: fields[-1] for fields in (line.split("\t") for line in self.zfs_list())}
        for index, share in enumerate(self.shares):
            site = self.share_site[index]
            self.paths[share] = mountpoints[f"{site.api_root(self.shoal)}/share-{share}"]
            self.path_ports[self.paths[share]] = self.ports(site)[:2]

    def site_paths(self, site: Site) -> set[str]:
        return {self.paths[self.shares[i]] for i in site.shares}

    def site_iqns(self, site: Site) -> set[str]:
        return {self.luns[self.volumes[i]].iqn for i in site.volumes}

    def listed(self) -> bool:
        """Each site's exports in its ganesha's list, its targets in its tgtd's; the
        first part found missing is kept in `missing` (for the progress lines)."""
        for site in self.sites:
            _, mount_port, control = self.ports(site)
            if site.shares and not self.site_paths(site) <= mount_exports(mount_port).keys():
                self.missing = f"exports of {site.backend}"
                return False
            if site.volumes and not self.site_iqns(site) <= tgt_iqns(control):
                self.missing = f"targets of {site.backend}"
                return False
        return True

    def read_state(self) -> None:
        self.zfs_list()
        for site in self.sites:
            _, mount_port, control = self.ports(site)
            if site.shares:
                mount_exports(mount_port)
            if site.volumes:
                tgt_iqns(control)

    def nfs_url(self, path: str) -> str:
        nfs_port, mount_port = next(ports for export, ports in self.path_ports.items()
                                    if path == export or path.startswith(f"{export}/"))
        return f"nfs://127.0.0.1{path}?nfsport={nfs_port}&mountport={mount_port}"

    def ganesha_back(self) -> None:
        """Every ganesha that serves shares killed at once; until each lists all its exports."""
        pidfiles = [site.ganesha_dir(self.shoal) / "ganesha.pid" for site in self.sites if site.shares]
        kill_9([int(pidfile.read_text().split()[0]) for pidfile in pidfiles])
        wait_for("Shoal's ganeshas list every export again", self.listed)

    def tgtd_back(self) -> None:
        """Every tgtd that serves volumes killed at once; until each lists all its targets."""
        ports = [site.host.iscsi_port if site.host else self.shoal.iscsi_port for site in self.sites if site.volumes]
        kill_9(tgtd_pids_of(ports))
        wait_for("Shoal's tgtds list every target again", self.listed)


# ---- the rounds ---------------------------------------------------------------------------


class Figures:
    """Pairs of (Shoal, floor) seconds per measurement; ratio = median of per-round ratios."""

    def __init__(self):
        self.pairs: dict[str, list[tuple[float, float | None]]] = {}

    def add(self, what: str, shoal: float, floor: float | None) -> None:
        self.pairs.setdefault(what, []).append((shoal, floor))
        ratio = f", ratio {shoal / floor:.2f}" if floor else ""
        say(f"{what}: Shoal {shoal:.3f}s" + (f", floor {floor:.3f}s{ratio}" if floor is not None else ""))

    def print(self) -> None:
        print(f"{'measurement':<56}{'runs':>5}{'shoal s':>10}{'floor s':>10}{'ratio':>8}")
        for what, pairs in self.pairs.items():
            shoal = statistics.median(p[0] for p in pairs)
            floors = [p[1] for p in pairs if p[1] is not None]
            floor = f"{statistics.median(floors):>10.3f}" if floors else f"{'-':>10}"
            ratio = f"{statistics.median(p[0] / p[1] for p in pairs):>8.2f}" if floors else f"{'-':>8}"
            print(f"{what:<56}{len(pairs):>5}{shoal:>10.3f}{floor}{ratio}")


def paired(figures: Figures, what: str, index: int, shoal, floor) -> None:
    """Run both in the round's order (they take turns going first); record the pair."""
    times: dict[str, float] = {}
    steps = (("shoal", shoal), ("floor", floor))
    for name, step in steps if index % 2 == 0 else steps[::-1]:
        time.sleep(0.5)
        times[name] = wall(step)
    figures.add(what, times["shoal"], times["floor"])


def listing_round(scale: Scale, figures: Figures, label: str, index: int) -> None:
    def whole(api: str, path: str) -> float:
        return wall(lambda: scale.http(api).get(path).raise_for_status())

    def pages(api: str, path: str, key: str) -> float:
        return wall(lambda: scale.listing(api, path, key))

    floor = wall(scale.zfs_list)
    order = [("share", "/shares/detail", "shares"), ("volume", "/volumes/detail", "volumes")]
    for api, path, key in order if index % 2 == 0 else order[::-1]:
        figures.add(f"GET {path} {label}, one request", whole(api, path), floor)
        figures.add(f"GET {path} {label}, pages of {PAGE}", pages(api, path, key), floor)


def recovery_round(scale: Scale, floor: FloorDaemons, figures: Figures, index: int) -> None:
    paired(figures, "ganesha kill -9 to all exports", index, scale.ganesha_back, floor.ganesha_back)
    scale.read_samples()
    paired(figures, "tgtd kill -9 to all targets", index, scale.tgtd_back, floor.tgtd_back)
    scale.read_samples()
    scale.all_available()
    stopped: list[float] = []
    paired(figures, "Shoal restart to all exports listed", index, lambda: stopped.append(scale.restart()[0]),
           scale.read_state)
    say(f"(of which stopping Shoal took {stopped[0]:.2f}s)")
    scale.read_samples()


def rules_round(scale: Scale, floor: FloorDaemons, figures: Figures, index: int) -> None:
    times: dict[str, float] = {}
    steps = (("floor", lambda: wall(lambda: floor.rules(RULES))), ("shoal", lambda: scale.rules(RULES, index)))
    for name, step in steps if index % 2 == 0 else steps[::-1]:
        time.sleep(0.5)
        times[name] = step()
    figures.add(f"{RULES} rules on one share", times["shoal"], times["floor"])


def memory_run(scale: Scale, n: int, memory: list[tuple[str, float]], more: int = 0) -> None:
    """RSS after a warm-up, after N and after 10 N operations; then after each of
    `more` further 10 N (whether what 10 N added keeps being added)."""
    done = 0
    steps = [(200, "a warm-up of 200 operations"), (n, f"{n} operations"), (9 * n, f"{10 * n} operations")]
    steps += [(10 * n, f"{10 * n * (k + 2)} operations") for k in range(more)]
    for count, label in steps:
        scale.operations(count, done)
        done += count
        memory.append((f"after {label}", rss_mib(scale.pid)))
        say(f"RSS {memory[-1][1]:.0f} MiB {memory[-1][0]}")


def run(args, figures: Figures, memory: list[tuple[str, float]]) -> None:
    """On the sites of args.layout: their ZFS hosts started first, removed at the end."""
    sites = plan(args.layout, args.shares, args.volumes)
    hosts = [site.host for site in sites if site.host]
    watchdogs = []
    try:
        for host in hosts:
            host.start()
            watchdogs.append(Watchdog(host.zfs_fuse.kill, host.argv(), f"{host.name} host's zfs-fuse"))
            say(f"the {host.name} host: zfs-fuse (pid {host.zfs_fuse.pid}) and sshd (port {host.sshd.port}) in a "
                f"mount namespace of their own (held by pid {host.holder.pid})")
        for site in sites:
            say(f"backend {site.backend}: {len(site.shares)} shares, {len(site.volumes)} volumes")
        run_on(args, figures, memory, sites)
    finally:
        for watchdog in watchdogs:
            watchdog.stopped.set()
        for host in hosts:
            host.close()


def run_on(args, figures: Figures, memory: list[tuple[str, float]], sites: list[Site]) -> None:
    n = max(args.shares, args.volumes)
    hosts = [site.host for site in sites if site.host]
    # Placement counts each 1 GiB share and volume against the pool's free space: a
    # sparse image with room for Shoal's and the floor's (the floor's take no reservation).
    with bench_shoal(pool_size=f"{2 * (args.shares + args.volumes) + 100}G",
                     backends=(lambda work: "".join(host.backend() for host in hosts)) if hosts else None) as shoal:
        scale = SitesScale(shoal, sites) if hosts else Scale(shoal)
        floor = FloorDaemons(shoal.work, f"{shoal.pool}/raw", sites)
        try:
            memory.append(("at start", rss_mib(scale.pid)))
            made = f"{args.shares}+{args.volumes}"
            say(f"floor: {made} shares and volumes by hand")
            floor_create = wall(lambda: floor.create(args.shares, args.volumes))
            floor_export = wall(floor.export)
            floor.tear_down()
            say(f"Shoal: {made} shares and volumes through the API, {THREADS} threads")
            figures.add(f"create {made}", scale.create(args.shares, args.volumes), floor_create)
            memory.append((f"after {made} creates", rss_mib(scale.pid)))
            figures.add(f"export: {made} rules+attachments", scale.export(), floor_export)
            scale.learn_paths()
            assert scale.listed(), "Shoal's exports and targets are not all listed"
            floor.serve(scale)
            scale.mark_samples()
            for index in range(args.rounds):
                say(f"round {index + 1} of {args.rounds}: ganesha, tgtd, restart, listing")
                recovery_round(scale, floor, figures, index)
                listing_round(scale, figures, f"of {n}", index)
            for index in range(args.rounds if "rules" not in args.skip else 0):
                say(f"{RULES} rules on one share, round {index + 1}")
                rules_round(scale, floor, figures, index)
            if "memory" not in args.skip:
                say("memory: warm-up, then N and 10 N operations")
                memory_run(scale, n, memory, args.memory_more)
            if "rows" in args.skip:
                return
            say(f"{args.big} rows each copied into the database")
            rows = scale.insert_rows(args.big)
            try:
                for index in range(args.rounds):
                    listing_round(scale, figures, f"of {args.big} (DB rows)", index)
            finally:
                scale.delete_rows(rows)
        finally:
            scale.stop()
            floor.stop()


class Watchdog:
    """Kills one of the bench's private zfs-fuse daemons once it stops answering (`zpool
    list`, run with `prefix` -- the volume host's nsenter -- twice in a row): a wedged
    daemon leaves every zfs command hanging for good, and only its death lets them
    fail, so that the bench stops and cleans up."""

    def __init__(self, kill, prefix: list[str] | None = None, name: str = "private zfs-fuse"):
        self.kill, self.prefix, self.name = kill, prefix or [], name
        self.stopped = threading.Event()
        threading.Thread(target=self._watch, name="zfs-watchdog", daemon=True).start()

    def _answers(self) -> bool:
        try:
            return subprocess.run([*self.prefix, "zpool", "list"], capture_output=True, timeout=60,
                                  check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _watch(self) -> None:
        misses = 0
        while not self.stopped.wait(30):
            misses = 0 if self._answers() else misses + 1
            if misses >= 2 and not self.stopped.is_set():
                say(f"the {self.name} does not answer: killing it so that the bench can stop")
                self.kill()
                return


def enter_own_namespace() -> None:
    """Re-run in a mount namespace of the bench's own, where a private zfs-fuse (as
    scripts/chaos and scripts/tempest have) carries its thousands of datasets: the
    host's daemon, which other runs share, never sees them."""
    if os.environ.get(NAMESPACE_FLAG) or not private_zfs_possible():
        return
    os.environ[NAMESPACE_FLAG] = "1"
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable, __file__, *sys.argv[1:]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # zfs-fuse mounts 1000 file systems at the most (ZFS_FUSE_MOUNTS): 400 shares and
    # 400 volumes, each a dataset, are what one daemon holds with room to spare.
    default = 400 if shutil.which("zfs-fuse") else 1000
    parser.add_argument("--shares", type=int, default=default)
    parser.add_argument("--volumes", type=int, default=default)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", type=int, default=10000, help="rows of the listing from the database")
    parser.add_argument("--skip", action="append", choices=("rules", "memory", "rows"), default=[],
                        help="leave out a later step (repeatable): the 1000 rules, the memory run of 10 N "
                             "operations, the listing of --big database rows")
    parser.add_argument("--memory-more", type=int, default=0, metavar="K",
                        help="after the memory run's 10 N operations, K more rounds of 10 N, RSS after each")
    parser.add_argument("--quick", action="store_true", help="100 shares, 100 volumes, 1 round, 1000 rows")
    parser.add_argument("--host-zfs", action="store_true", help="use the host's zfs-fuse, not a private one")
    parser.add_argument("--layout", choices=("auto", *LAYOUTS), default="auto",
                        help="which zfs-fuse daemons hold the shares and volumes (see the module's docstring): "
                             "one; volume-host (the volumes on a second daemon over SSH); split (a third "
                             "daemon over SSH with a third of the shares and of the volumes); auto: one up "
                             f"to {ONE_DAEMON} shares + volumes, then the first of the others that fits")
    args = parser.parse_args()
    if not args.host_zfs:
        enter_own_namespace()
    if args.quick:
        args.shares, args.volumes, args.rounds, args.big = 100, 100, 1, 1000
    private = bool(os.environ.get(NAMESPACE_FLAG))
    if args.layout == "auto":
        fits = [layout for layout in LAYOUTS[1:] if fits_daemons(layout, args.shares, args.volumes)]
        big = private and args.shares + args.volumes > ONE_DAEMON
        args.layout = fits[0] if big and fits else "one"
    if args.layout != "one" and not private:
        parser.error(f"--layout {args.layout} needs the bench's private zfs-fuse (not --host-zfs)")
    if private and not fits_daemons(args.layout, args.shares, args.volumes):
        mounts = [site.mounts() for site in plan(args.layout, args.shares, args.volumes)]
        parser.error(f"{' and '.join(map(str, mounts))} file systems on the zfs-fuse daemons of the "
                     f"{args.layout} layout: one mounts {ZFS_FUSE_MOUNTS} at the most")
    figures = Figures()
    memory: list[tuple[str, float]] = []
    load = os.getloadavg()
    daemon = None
    if private:
        drop_inherited_fuse_mounts()  # copies of the host daemon's mounts would keep its datasets busy
        daemon = PrivateZfsFuse(Path(tempfile.mkdtemp(prefix="shoal-scale-zfs-")))
        daemon.start()
        say(f"a private zfs-fuse (pid {daemon.pid}) in the bench's own mount namespace")
    watchdog = Watchdog(daemon.kill) if daemon is not None else None
    try:
        run(args, figures, memory)
    finally:
        if watchdog is not None:
            watchdog.stopped.set()
            daemon.stop()
            shutil.rmtree(daemon.directory, ignore_errors=True)
    print(f"scale: {args.shares} shares, {args.volumes} volumes (layout {args.layout}), {THREADS} client threads, "
          f"load average at start {load[0]:.2f}; ratio = median of per-round Shoal / floor")
    figures.print()
    print("Shoal's RSS: " + ", ".join(f"{what} {mib:.0f} MiB" for what, mib in memory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
