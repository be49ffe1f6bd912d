"""Fixtures of the kernel lane: Shoal's ZFS drivers on kernel OpenZFS, LIO and
the kernel NFS server, in the guest that `scripts/kernel-lane up` boots.

Shoal runs here, on the host, and drives the guest as a remote ZFS host over
SSH (`SSHHost`, paramiko), exactly as a deployment with separate storage
hosts does. Results are checked from the host through qemu's port forwards,
with libiscsi / qemu-img (iSCSI) and libnfs (NFSv4).

- ``kernel_host`` (session): the running guest, read from the lane's state
  file ($SHOAL_KERNEL_LANE_STATE, default /run/shoal-kernel-lane/state.json).
  Every test that uses it is SKIPPED, with the reason, when the file is absent
  or the guest does not answer: the normal test run never boots a VM. It is
  skipped too unless the run asked for the lane (`-m kernel`, or the state
  variable that `scripts/kernel-lane test` sets), so a guest left running does
  not turn `scripts/test` into a ten-minute run.
- ``lane_root`` (function): a fresh dataset ``lane/k<hex>`` in the guest's
  pool for one test, destroyed (with whatever exports are left on it) after.
- ``lane_backend`` (function, parametrized over the NFS helpers exportfs and
  sharenfs): the drivers `build_drivers(Settings(...))` makes for a backend
  with ``host = {type = "ssh", ...}``, ``volume_mode = "zvol"``, iSCSI through
  LIO; ``lane_backend_exportfs`` is the same with exportfs only (volume tests).

Address mapping (qemu user-mode networking): the guest is 10.0.2.15, and it
sees the host's connections coming from 10.0.2.2. So LIO's portal is
``10.0.2.15:3260`` (what the connection info says, as a real storage host
would), the NFS export address is 10.0.2.15, an NFS rule for the host names
10.0.2.2, and the host reaches both through 127.0.0.1:<forwarded port>:
`LaneHost.reach()` translates a guest portal into the forwarded one.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shoal.config import HostConfig, IscsiConfig, Settings, ZfsBackendConfig
from shoal.hosts import SSHHost

DEFAULT_STATE = "/run/shoal-kernel-lane/state.json"
HOW = "start it with `scripts/kernel-lane up` (or run the whole lane: `scripts/kernel-lane`)"
IQN_PREFIX = "iqn.2026-11.org.shoal.lane"


def pytest_configure(config):
    config.addinivalue_line("markers", "kernel: needs the kernel lane VM (scripts/kernel-lane); skipped without it")


def pytest_collection_modifyitems(items):
    """The guest may be emulated (TCG) and run ten times slower than this machine: its tests get
    an hour each instead of the suite's ten minutes."""
    for item in items:
        if item.get_closest_marker("kernel") is not None:
            item.add_marker(pytest.mark.timeout(3600))


@dataclass
class LaneHost:
    """The lane's guest as the tests see it."""

    state: dict
    ssh: SSHHost
    address: str  # where ssh is forwarded on the host
    port: int
    user: str
    key_file: str
    iscsi_port: int
    nfs_port: int
    pool: str
    guest_address: str  # the guest's own address (portals, export locations)
    host_as_seen: str  # the host's address as the guest sees it (NFS rules)
    forwards: dict = field(default_factory=dict)

    def run(self, *argv: str, check: bool = True, timeout: float = 120, input: str | None = None):
        """A command in the guest (test set-up and checks only)."""
        return self.ssh.run(list(argv), check=check, timeout=timeout, input=input)

    def reach(self, portal: str) -> str:
        """`10.0.2.15:3260` (the guest's view) -> `127.0.0.1:<forward>` (the host's)."""
        try:
            return self.forwards[portal]
        except KeyError:
            raise AssertionError(f"portal {portal} is not forwarded to the host; forwards: {self.forwards}") from None


def _state_path() -> Path:
    return Path(os.environ.get("SHOAL_KERNEL_LANE_STATE", DEFAULT_STATE))


def _answers(address: str, port: int, timeout: float = 5.0) -> str | None:
    """None if sshd answers with its banner, else why not."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            banner = sock.recv(64)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if banner.startswith(b"SSH-") else f"no ssh banner ({banner[:20]!r})"


@pytest.fixture(scope="session")
def kernel_host(request):
    asked = "SHOAL_KERNEL_LANE_STATE" in os.environ or "kernel" in (request.config.getoption("markexpr") or "")
    if not asked:
        # A guest left running must not slow down the normal test run.
        pytest.skip("kernel lane tests run only with `-m kernel` or through `scripts/kernel-lane test`")
    path = _state_path()
    if not path.exists():
        pytest.skip(f"kernel lane VM is not running (no state file {path}): {HOW}")
    try:
        state = json.loads(path.read_text())
        address, port = state["address"], int(state["ssh_port"])
    except (OSError, ValueError, KeyError) as exc:
        pytest.skip(f"kernel lane state file {path} is unreadable ({exc}): {HOW}")
    why = _answers(address, port)
    if why:
        pytest.skip(f"kernel lane VM does not answer ssh on {address}:{port} ({why}): {HOW}")
    ssh = SSHHost(address, user=state["user"], port=port, key_file=state["key_file"], connect_timeout=30)
    guest = state["guest_address"]
    host = LaneHost(
        state=state, ssh=ssh, address=address, port=port, user=state["user"], key_file=state["key_file"],
        iscsi_port=int(state["iscsi_port"]), nfs_port=int(state["nfs_port"]), pool=state["pool"],
        guest_address=guest, host_as_seen=state["host_address_seen_by_guest"],
        forwards={f"{guest}:3260": f"{address}:{state['iscsi_port']}",
                  f"{guest}:2049": f"{address}:{state['nfs_port']}"},
    )
    try:
        if host.run("zpool", "list", "-H", host.pool, check=False).returncode:
            host.run("zpool", "create", "-f", "-m", f"/{host.pool}", host.pool, state["pool_disk"])
    except Exception as exc:  # noqa: BLE001 - the VM is there but broken: say so, as a failure
        ssh.close()
        pytest.fail(f"kernel lane VM answers but cannot be used: {exc}")
    yield host
    ssh.close()


def _cleanup_dataset(host: LaneHost, root: str) -> None:
    """Remove what a test left under `root`: LIO targets of its volumes, NFS
    exports of its paths, then the datasets."""
    mount = f"/{root}"
    exports = host.run("exportfs", "-v", check=False).stdout
    # exportfs -u for every client of every path under the root
    table: dict[str, list[str]] = {}
    current = None
    for line in exports.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            current, _, rest = line.partition(" ")
            table.setdefault(current, [])
            rest = rest.strip()
        else:
            rest = line.strip()
        if rest and current:
            table[current].append(rest.split("(")[0])
    for path, clients in table.items():
        if path == mount or path.startswith(mount + "/"):
            for client in clients:
                host.run("exportfs", "-u", f"{'*' if client == '<world>' else client}:{path}", check=False)
    # the exportfs helper's exports.d files (named after the share ids, which carry the leaf)
    host.run("sh", "-c", f"rm -f /etc/exports.d/shoal-{root.rsplit('/', 1)[-1]}-*.exports", check=False)
    for ds in host.run("zfs", "list", "-H", "-o", "name", "-r", root, check=False).stdout.split():
        host.run("zfs", "set", "sharenfs=off", ds, check=False)
    # LIO: read configfs (a targetcli call costs seconds in an emulated guest); delete with targetcli.
    leaf = root.rsplit("/", 1)[-1]
    iqns = host.run("ls", "-1", "/sys/kernel/config/target/iscsi", check=False).stdout.split()
    for iqn in iqns:
        if iqn.startswith(IQN_PREFIX) and leaf in iqn:
            host.run("targetcli", "/iscsi", "delete", iqn, check=False)
    stores = host.run("sh", "-c", "ls -1d /sys/kernel/config/target/core/*/shoal-* 2>/dev/null || true",
                      check=False).stdout.split()
    for store in stores:
        if leaf in store:
            hba, name = store.split("/")[-2:]
            plugin = "block" if hba.startswith("iblock_") else "fileio"
            host.run("targetcli", f"/backstores/{plugin}", "delete", name, check=False)
    # nfsd's export cache holds the mounts of what a client used (for a share,
    # and as NFSv4 pseudo-root entries for its parents, the test root too) until
    # it is flushed properly: the product's own wait (no `exportfs -f`, whose
    # flushes within the second are what keeps the cache from being cleaned).
    from shoal.exports.nfs.exportfs import release

    names = host.run("zfs", "list", "-H", "-o", "name", "-t", "filesystem", "-r", root, check=False).stdout.split()
    for name in sorted(names, reverse=True):
        release(host.ssh, f"/{name}")
    for attempt in range(20):
        result = host.run("zfs", "destroy", "-R", root, check=False)
        if result.returncode == 0 or "does not exist" in result.stderr:
            return
        if attempt == 9:
            # nfsd's export cache can pin a mount that a client used long after
            # its export is gone (README, kernel lane notes): a restart of the
            # NFS server drops it. Test cleanup only; then wait out the grace period.
            host.run("systemctl", "restart", "nfs-server", check=False, timeout=180)
            time.sleep(float(host.run("cat", "/proc/fs/nfsd/nfsv4gracetime", check=False).stdout.strip() or 90) + 1)
        time.sleep(1)
    raise AssertionError(f"could not remove the test dataset {root}: {result.stderr}")


@pytest.fixture
def lane_root(kernel_host):
    """A fresh dataset for one test. Volume and share ids in the tests carry
    its name, so whatever the test leaves is found and removed afterwards."""
    root = f"{kernel_host.pool}/k{uuid.uuid4().hex[:8]}"
    kernel_host.run("zfs", "create", root)
    yield root
    _cleanup_dataset(kernel_host, root)


def lane_settings(host: LaneHost, root: str, nfs_helper: str, tmp_path: Path) -> Settings:
    backend = ZfsBackendConfig(
        pools=[root],
        volume_mode="zvol",
        volume_export="iscsi",
        nfs_helper=nfs_helper,
        export_address=host.guest_address,
        iscsi=IscsiConfig(helper="lio", iqn_prefix=IQN_PREFIX, portals=[f"{host.guest_address}:3260"]),
        host=HostConfig(type="ssh", address=host.address, port=host.port, user=host.user, key_file=host.key_file),
    )
    return Settings(state_dir=str(tmp_path), database={"url": f"sqlite:///{tmp_path / 'lane.db'}"},
                    backends={"lane": backend})


@dataclass
class Backend:
    name: str
    nfs_helper: str
    settings: Settings
    shares: object  # ZfsShareDriver
    volumes: object  # ZfsVolumeDriver
    root: str
    host: LaneHost

    @property
    def pool(self) -> str:
        return self.root.split("/")[0]

    def close(self) -> None:
        closed = set()
        for driver in (self.shares, self.volumes):
            if id(driver.host) not in closed:
                driver.host.close()
                closed.add(id(driver.host))


def make_backend(host: LaneHost, root: str, nfs_helper: str, tmp_path: Path) -> Backend:
    from shoal.services.common.backends import build_drivers

    settings = lane_settings(host, root, nfs_helper, tmp_path)
    shares, volumes = build_drivers(settings)
    return Backend("lane", nfs_helper, settings, shares["lane"], volumes["lane"], root, host)


@pytest.fixture(params=["exportfs", "sharenfs"])
def lane_backend(request, kernel_host, lane_root, tmp_path):
    backend = make_backend(kernel_host, lane_root, request.param, tmp_path)
    yield backend
    backend.close()


@pytest.fixture
def lane_backend_exportfs(kernel_host, lane_root, tmp_path):
    backend = make_backend(kernel_host, lane_root, "exportfs", tmp_path)
    yield backend
    backend.close()
