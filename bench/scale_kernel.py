"""Scale on the kernel lane: bench/scale.py's create, export, re-export and restart figures
with the lane's guest (kernel OpenZFS 2.1, kernel nfsd, LIO; `scripts/kernel-lane up`) as the
ZFS host of Shoal's backend, over SSH, against the same work by hand in the guest, in one run.

Shoal runs here; its backend is the lane's (as tests/kernel set it up): `host.type = "ssh"`,
zvols, the `exportfs` NFS helper, LIO. The floor runs in the guest as an administrator logged
in there would work: one shell loop, one exports file, one `targetcli` session.

1. create: N shares and M volumes through the API by 8 client threads until all are
   `available` (scale.py's step 1). Floor: the same datasets and (thin) zvols made with
   `zfs create` one after another in one shell loop in the guest.
   export: one access rule (the host as the guest sees it, rw) per share and one attachment
   per volume (iSCSI connector, completed), until every rule is `active`. Floor: one
   exports file with the N lines and one `exportfs -ra`; the M targets made in ONE targetcli
   session (stdin) with the commands the LIO helper runs one process each: backstore,
   target, TPG attributes, portal, LUN, ACL, CHAP. That session saves LIO's configuration
   on exit (targetcli's auto_save_on_exit): the floor's targets are in saveconfig.json,
   which the floor keeps (Shoal's targets, made with one targetcli process per command,
   are never saved).
2. nfsd restart: `systemctl restart nfs-server`, then until the N exports of Shoal and the N
   of the floor are all in `exportfs -v` (both come from /etc/exports.d: Shoal's helper
   writes one file per share); then a sample read over NFSv4 from here.
   LIO restart: `systemctl restart rtslib-fb-targetctl` (clear, then restore of
   saveconfig.json), then until the floor's M targets (restored from its saved
   configuration) and Shoal's M targets (Shoal must notice and make them again) have their
   LUN and ACL in configfs. Shoal is given two periodic checks (2 x 60 s) and a half; what
   it has not made again by then is reported as such.
   Both restarts pull exports from under anyone using the guest: each waits (600 s at the
   most) while a lane test runs (`scripts/kernel-lane test`, seen with ps), and is skipped after.
3. Shoal restart to serving with every export and target listed (and so, after step 2, to
   LIO's targets made again when Shoal did not), then once more with everything in place;
   a sample read over NFS and iSCSI after each. Floor: the state read by hand (`zfs list`,
   `exportfs -v`, LIO's configfs).

Times end when the bench sees the state from the guest (one SSH command per look, every
0.2 s), or at the server's own `updated_at` for statuses. Progress goes to stderr. At the
end Shoal is stopped and everything made in the guest removed (targets, exports, datasets).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BenchShoal
from scale import (
    INITIATOR,
    SAMPLE,
    THREADS,
    Figures,
    Scale,
    paired,
    say,
    wait_for,
    wall,
)

from shoal.exports.nfs.exportfs import EXPORT_OPTIONS, parse_exportfs
from shoal.hosts import SSHHost
from tests.fixtures.shoal import (
    PROJECT,
    backend_table,
    free_port,
    start_server,
    stop_server,
)
from tests.integration.volume_helpers import Lun, pattern
from tests.kernel.conftest import DEFAULT_STATE, LaneHost, _cleanup_dataset
from tests.kernel.lane_tools import Nfs
from tests.kernel.lane_tools import run as run_tool

CONFIGFS = "/sys/kernel/config/target"
FLOOR_SAVED = "/root/shoal-bench-floor-lio.json"  # the floor's saved LIO configuration
LIO_SAVED = "/etc/rtslib-fb-target/saveconfig.json"  # what rtslib-fb-targetctl restores
PERIODIC = 60.0  # Shoal's periodic check, as in production
CHAP_SECRET = "secretsecret12"


class LaneShoal(BenchShoal):
    """An attachment's request makes its LIO target before it answers, one targetcli
    process per command (seconds each in an emulated guest) and one target at a time per
    host: 8 threads' requests queue for minutes, longer than BenchShoal's 60 s."""

    def client(self, api: str, headers: dict) -> httpx.Client:
        client = super().client(api, headers)
        client.timeout = httpx.Timeout(3600)
        return client


def lane_host(state_file: str) -> LaneHost:
    """The running guest, from the lane's state file (as tests/kernel/conftest.py reads it)."""
    state = json.loads(Path(state_file).read_text())
    ssh = SSHHost(state["address"], user=state["user"], port=int(state["ssh_port"]), key_file=state["key_file"],
                  connect_timeout=30)
    guest = state["guest_address"]
    return LaneHost(state=state, ssh=ssh, address=state["address"], port=int(state["ssh_port"]),
                    user=state["user"], key_file=state["key_file"], iscsi_port=int(state["iscsi_port"]),
                    nfs_port=int(state["nfs_port"]), pool=state["pool"], guest_address=guest,
                    host_as_seen=state["host_address_seen_by_guest"],
                    forwards={f"{guest}:3260": f"{state['address']}:{state['iscsi_port']}",
                              f"{guest}:2049": f"{state['address']}:{state['nfs_port']}"})


def shell(host: LaneHost, script: str, timeout: float = 7200) -> str:
    """A shell script run in the guest (one SSH command), as someone logged in there would."""
    return host.run("sh", "-e", "-s", input=script, timeout=timeout).stdout


def guest_state(host: LaneHost) -> tuple[set[str], set[str]]:
    """(paths nfsd exports, IQNs whose target has a LUN and an ACL), in one look."""
    out = shell(host, f"exportfs -v; echo '@@'; find {CONFIGFS}/iscsi -mindepth 4 -maxdepth 4 "
                      "\\( -path '*/tpgt_1/lun/lun_*' -o -path '*/tpgt_1/acls/*' \\) 2>/dev/null || true", timeout=120)
    exports, _, found = out.partition("@@\n")
    parts: dict[str, set[str]] = {}
    for line in found.split():
        iqn, _, kind = line.split("/")[6:9]
        parts.setdefault(iqn, set()).add(kind)
    return set(parse_exportfs(exports)), {iqn for iqn, kinds in parts.items() if kinds == {"lun", "acls"}}


class GuestFloor:
    """The same work by hand in the guest: datasets and zvols under `root`, exports in one
    file of /etc/exports.d, targets made in one targetcli session."""

    def __init__(self, host: LaneHost, root: str, tag: str):
        self.host, self.root = host, root
        self.iqn_prefix = f"iqn.2026-11.org.shoal.bench-floor{tag}"
        self.exports_file = f"/etc/exports.d/shoal-bench-floor{tag}.exports"
        self.shares: list[str] = []
        self.volumes: list[str] = []

    def iqn(self, index: int) -> str:
        return f"{self.iqn_prefix}:v{index}"

    def create(self, n_shares: int, n_volumes: int) -> None:
        lines = []
        for index in range(max(n_shares, n_volumes)):
            if index < n_shares:
                self.shares.append(f"/{self.root}/s{index}")
                lines.append(f"zfs create -o refquota=1G {self.root}/s{index}")
            if index < n_volumes:
                self.volumes.append(f"/dev/zvol/{self.root}/v{index}")
                lines.append(f"zfs create -s -V 1G {self.root}/v{index}")
        shell(self.host, "\n".join(lines) + "\n")

    def export(self) -> None:
        rule = f"{self.host.host_as_seen}(rw,{EXPORT_OPTIONS})"
        exports = "".join(f"{path} {rule}\n" for path in self.shares)
        shell(self.host, f"cat > {self.exports_file} <<'EOF'\n{exports}EOF\nexportfs -ra\n")
        portal = self.host.guest_address
        commands = []
        for index, device in enumerate(self.volumes):
            iqn, name, tpg = self.iqn(index), f"bench-floor-{self.iqn_prefix[-6:]}-{index}", f"/iscsi/{self.iqn(index)}/tpg1"
            commands += [
                f"/backstores/block create name={name} dev={device}",
                f"/iscsi create {iqn}",
                f"{tpg} set attribute authentication=1 generate_node_acls=0 demo_mode_write_protect=1",
                f"{tpg}/luns create /backstores/block/{name} lun=1 add_mapped_luns=true",
                f"{tpg}/portals delete 0.0.0.0 3260",
                f"{tpg}/portals create {portal} 3260",
                f"{tpg}/acls create {INITIATOR} add_mapped_luns=true",
                f"{tpg}/acls/{INITIATOR} set auth userid=u{index} password={CHAP_SECRET}",
            ]
        if commands:
            self.host.run("targetcli", input="\n".join(commands) + "\n", timeout=7200)
            shell(self.host, f"cp {LIO_SAVED} {FLOOR_SAVED}")  # saved on the session's exit

    def paths(self) -> set[str]:
        return set(self.shares)

    def iqns(self) -> set[str]:
        return {self.iqn(index) for index in range(len(self.volumes))}

    def read_state(self) -> None:
        """A Shoal restart's floor: what exists, read by hand."""
        shell(self.host, f"zfs list -H -r {self.root} >/dev/null; exportfs -v >/dev/null; "
                         f"find {CONFIGFS}/iscsi -mindepth 4 -maxdepth 4 >/dev/null")


class KernelScale(Scale):
    """scale.py's Shoal with the lane's guest as the backend's host: the rule names the host
    as the guest sees it, portals are reached through the lane's forwards, and exports and
    targets are read in the guest."""

    def __init__(self, shoal: BenchShoal, host: LaneHost):
        self.host = host
        self.rule_address = host.host_as_seen
        self.restart_timeout = 3600.0  # LIO's targets made again, one targetcli process per command
        super().__init__(shoal, backend="lane")

    def lun_of(self, connection_info: dict) -> Lun:
        lun = Lun.of(connection_info)
        return dataclasses.replace(lun, portal=self.host.reach(lun.portal))

    def zfs_list(self) -> list[str]:
        return self.host.run("zfs", "list", "-H", "-o", "name,used,available,refquota,mountpoint", "-r",
                             self.root).stdout.splitlines()

    def listed(self) -> bool:
        paths, iqns = guest_state(self.host)
        return self.share_paths() <= paths and self.iqns() <= iqns

    def nfs(self) -> Nfs:
        address, port = self.host.reach(f"{self.host.guest_address}:2049").split(":")
        return Nfs(address, int(port))

    def mark_samples(self) -> None:
        for share in self.shares[:SAMPLE]:
            put = self.nfs().put(f"{self.paths[share]}/scale-mark", share.encode())
            assert put.returncode == 0, f"share {share} over NFS: {put.stderr}"
        for volume in self.volumes[:SAMPLE]:
            self.luns[volume].write(INITIATOR, pattern(volume, 64 * 1024))

    def _mark(self, share: str) -> str | None:
        got = run_tool(["nfs-cat", self.nfs().url(f"{self.paths[share]}/scale-mark")])
        return got.stdout if got.returncode == 0 else None

    def read_samples(self) -> None:
        """Untimed; NFSv4 opens wait out nfsd's grace period after its restart."""
        for share in self.shares[:SAMPLE]:
            got = wait_for(f"share {share} readable over NFS", lambda s=share: self._mark(s), timeout=300, every=2)
            assert got == share, share
        for volume in self.volumes[:SAMPLE]:
            assert self.luns[volume].read(INITIATOR, 64 * 1024) == pattern(volume, 64 * 1024), volume


def lane_tests_running() -> bool:
    """Another run of the lane's tests (scripts/kernel-lane test) is using the guest."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "tests/kernel" in cmdline or "kernel-lane test" in cmdline:
            return True
    return False


def quiet_lane(what: str, wait: float = 600) -> bool:
    """Wait (at most `wait` s) until no lane test runs: restarting nfsd or clearing LIO
    would pull the exports and targets from under it. False: still busy, skip `what`."""
    deadline = time.monotonic() + wait
    while lane_tests_running():
        if time.monotonic() > deadline:
            say(f"lane tests still running after {wait:.0f}s: {what} skipped")
            return False
        time.sleep(5)
    return True


def restart_daemon(host: LaneHost, unit: str, parts: dict[str, tuple[set[str], int]], limit: float) -> dict:
    """`systemctl restart unit`, then look until each part's names are all listed
    (`parts`: label -> (names, index in guest_state)); {label: seconds or None after `limit`}."""
    start = time.monotonic()
    host.run("systemctl", "restart", unit, timeout=600)
    done: dict[str, float | None] = {}
    last: dict[str, int] = {}
    while len(done) < len(parts):
        state = guest_state(host)
        now = time.monotonic() - start
        for label, (names, which) in parts.items():
            last[label] = len(names & state[which])
            if label not in done and last[label] == len(names):
                done[label] = now
        if now > limit:
            break
        time.sleep(0.2)
    for label, (names, _) in parts.items():
        if label not in done:
            say(f"{unit} restart: {label}: {last[label]} of {len(names)} back after {limit:.0f}s")
            done[label] = None
    return done


def record(figures: Figures, notes: list[str], what: str, times: dict) -> None:
    """A pair from restart_daemon; a side that did not get there is a note, not a figure."""
    if None not in times.values():
        figures.add(what, times["shoal"], times["floor"])
        return
    notes.append(f"{what}: not within the wait: " + ", ".join(
        f"{side} {'never' if seconds is None else f'{seconds:.1f}s'}" for side, seconds in times.items()))
    say(notes[-1])


def write_config(work: Path, port: int, host: LaneHost, root: str, tag: str) -> Path:
    backend = {
        "pools": [f"{root}/api"], "volume_mode": "zvol", "volume_export": "iscsi", "nfs_helper": "exportfs",
        "export_address": host.guest_address, "max_over_subscription_ratio": 1000.0,
        "iscsi": {"helper": "lio", "iqn_prefix": f"iqn.2026-11.org.shoal.bench{tag}",
                  "portals": [f"{host.guest_address}:3260"]},
        "host": {"type": "ssh", "address": host.address, "port": host.port, "user": host.user,
                 "key_file": host.key_file},
    }
    config = work / "shoal.toml"
    config.write_text(f"""state_dir = "{work}"
[api]
listen = "127.0.0.1:{port}"
auth = "noauth"
default_project = "{PROJECT}"
[database]
url = "sqlite:///{work}/shoal.db"
[service]
periodic_interval = {PERIODIC}
""" + backend_table("lane", backend))
    return config


def remove_targets(host: LaneHost, prefixes: tuple[str, ...], root: str) -> None:
    """The targets whose IQN starts with one of `prefixes` and the block backstores on
    `root`'s zvols, in one targetcli session."""
    iqns = [i for i in host.run("ls", "-1", f"{CONFIGFS}/iscsi", check=False).stdout.split() if i.startswith(prefixes)]
    stores = shell(host, f"grep -l '/{root}/' {CONFIGFS}/core/iblock_*/*/udev_path 2>/dev/null || true").split()
    commands = [f"/iscsi delete {iqn}" for iqn in iqns]
    commands += [f"/backstores/block delete {path.split('/')[-2]}" for path in stores]
    if commands:
        host.run("targetcli", input="\n".join(commands) + "\n", timeout=7200, check=False)


def clean_guest(host: LaneHost, root: str, prefixes: tuple[str, ...], floor: GuestFloor) -> None:
    say("removing what the bench made in the guest")
    remove_targets(host, prefixes, root)
    shell(host, f"rm -f {floor.exports_file} {FLOOR_SAVED}; "
                f"grep -l -F '/{root}/' /etc/exports.d/shoal-*.exports 2>/dev/null | xargs -r rm -f")
    _cleanup_dataset(host, root)


def run(args, host: LaneHost, figures: Figures, notes: list[str]) -> None:
    tag = f"{os.getpid()}"
    root = f"{host.pool}/scale{tag}"
    work = Path(tempfile.mkdtemp(prefix="shoal-bench-kernel-"))
    port = free_port()
    shoal_prefix = f"iqn.2026-11.org.shoal.bench{tag}"
    floor = GuestFloor(host, f"{root}/raw", tag)
    server = scale = None
    try:
        shell(host, f"zfs create {root}; zfs create {root}/api; zfs create {root}/raw")
        config = write_config(work, port, host, root, tag)
        url = f"http://127.0.0.1:{port}"
        server = start_server(config, work, url)
        shoal = LaneShoal(url, root, work, uuid.uuid4().hex, 0)
        scale = KernelScale(shoal, host)
        made = f"{args.shares}+{args.volumes}"
        say(f"floor: {made} shares and volumes by hand in the guest")
        floor_create = wall(lambda: floor.create(args.shares, args.volumes))
        say(f"floor create {floor_create:.1f}s; exports and targets")
        floor_export = wall(floor.export)
        say(f"floor export {floor_export:.1f}s")
        paths, iqns = guest_state(host)
        assert floor.paths() <= paths and floor.iqns() <= iqns, "the floor's exports and targets are not all there"
        say(f"Shoal: {made} shares and volumes through the API, {THREADS} threads")
        figures.add(f"create {made}", scale.create(args.shares, args.volumes), floor_create)
        figures.add(f"export: {made} rules+attachments", scale.export(), floor_export)
        scale.learn_paths()
        assert scale.listed(), "Shoal's exports and targets are not all listed in the guest"
        scale.mark_samples()
        stopped: list[float] = []

        def shoal_restart() -> None:
            stopped.append(scale.restart()[0])

        for index in range(args.rounds):
            say(f"round {index + 1} of {args.rounds}: nfs-server restart")
            if quiet_lane("the nfs-server restart"):
                nfsd = restart_daemon(host, "nfs-server", {"shoal": (scale.share_paths(), 0),
                                                           "floor": (floor.paths(), 0)}, limit=600)
                record(figures, notes, f"nfs-server restart to all {args.shares} exports", nfsd)
                scale.read_samples()
            say(f"round {index + 1}: LIO restart (rtslib-fb-targetctl: clear, restore the saved configuration)")
            lio = {"shoal": 0.0}
            if quiet_lane("the LIO restart"):
                shell(host, f"cp {FLOOR_SAVED} {LIO_SAVED}")
                lio = restart_daemon(host, "rtslib-fb-targetctl", {"shoal": (scale.iqns(), 1),
                                                                   "floor": (floor.iqns(), 1)}, limit=args.lio_wait)
                record(figures, notes, f"LIO restart to all {args.volumes} targets", lio)
            label = "Shoal restart to all listed" + (" (targets made again)" if lio["shoal"] is None else "")
            paired(figures, label, 0, shoal_restart, floor.read_state)
            scale.read_samples()
            paired(figures, "Shoal restart to all listed", index + 1, shoal_restart, floor.read_state)
            scale.read_samples()
            say(f"(stopping Shoal took {', '.join(f'{s:.2f}s' for s in stopped)})")
    finally:
        if scale is not None and scale.process is not None:
            scale.stop()
        elif server is not None:
            stop_server(server)
        clean_guest(host, root, (shoal_prefix, floor.iqn_prefix), floor)
        with contextlib.suppress(OSError):
            shutil.rmtree(work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", type=int, default=1000)
    parser.add_argument("--volumes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--lio-wait", type=float, default=2.5 * PERIODIC,
                        help="seconds Shoal is given to make its targets again after LIO's restart")
    parser.add_argument("--state", default=os.environ.get("SHOAL_KERNEL_LANE_STATE", DEFAULT_STATE),
                        help="the kernel lane's state file (scripts/kernel-lane up writes it)")
    args = parser.parse_args()
    if not Path(args.state).exists():
        print(f"the kernel lane is not running (no {args.state}): scripts/kernel-lane up", file=sys.stderr)
        return 2
    host = lane_host(args.state)
    figures = Figures()
    notes: list[str] = []
    load = os.getloadavg()
    try:
        run(args, host, figures, notes)
    finally:
        host.ssh.close()
    print(f"scale on the kernel lane ({host.state.get('accel')}): {args.shares} shares, {args.volumes} volumes, "
          f"{THREADS} client threads, load average at start {load[0]:.2f}; ratio = Shoal / floor")
    figures.print()
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
