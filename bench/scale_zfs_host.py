"""bench/scale.py's further ZFS hosts, for a run too big for one zfs-fuse.

zfs-fuse mounts at most 1000 file systems per daemon (a fixed limit of its own; see
docs/benchmarks.md "Scale"), and every share and every volume is a dataset: 1000 shares
and 1000 volumes cannot live on one daemon, nor on two once the bench's own datasets
are counted. So part of them get a "host" of their own on this machine: a mount
namespace of its own (`unshare --mount --propagation private`, held open by a `sleep`
in it) with its own tmpfs on zfs-fuse's socket, cache and lock directories, its own
zfs-fuse and pool, and an sshd of the bench's own started in it (key login as root,
`SetEnv SHLVL=1`, own port; tests/fixtures/sshd.py's settings). Shoal reaches it as a
ZFS backend on an SSH host, as it would a storage server: every `zfs`, `tgtadm`,
`tgtd` and `ganesha.nfsd` of that backend runs over SSH, in that namespace, so Shoal's
tgtd and ganesha for that backend run there too (they must see the datasets, which
are mounted only there).

The floor does its work on such a host in the same namespace but with `nsenter
--target <holder> --mount` argv lists, not over SSH: an administrator logged in on the
storage host pays no SSH round trip, so Shoal's figures include one the floor does not.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import sh
from volumes import RawTgt

from tests.chaos.world import ZFS_FUSE_DIRS, _die_with_parent
from tests.fixtures.shoal import (
    backend_table,
    control_port,
    free_port,
    kill_ganesha,
    stop_tgtd,
)
from shares import RawGanesha
from tests.fixtures.sshd import (
    SSHD,
    SSHServer,
    _free_port,
    _wait_for_banner,
    _write_config,
)
from tests.integration.volume_helpers import tgtd_pids

ANSWER_TIMEOUT = 60.0


class ZfsHost:
    """The namespace, its zfs-fuse, pool (`pool`, with `api` for Shoal and `raw` for the
    floor) and sshd, Shoal's backend `name` there; `close()` removes all of it, whatever
    state start() got to."""

    def __init__(self, name: str, pool: str, pool_size: str):
        self.name, self.pool, self.pool_size = name, pool, pool_size
        self.work = Path(tempfile.gettempdir()) / f"shoal-scale-{name}-{os.getpid()}"  # made by start()
        self.holder: subprocess.Popen | None = None
        self.zfs_fuse: subprocess.Popen | None = None
        self.sshd: SSHServer | None = None
        self.pool_made = False
        self.iscsi_port = free_port()  # Shoal's tgtd for this backend's volumes, in the namespace
        self.ganesha_dir = self.work / "ganesha"  # Shoal's ganesha for this backend, in the namespace

    # -- running things in the namespace -------------------------------------------------

    def argv(self, *argv: str) -> list[str]:
        assert self.holder is not None
        return ["nsenter", "--target", str(self.holder.pid), "--mount", *argv]

    def run(self, *argv: str) -> str:
        """A command in the namespace; 'busy' retried as sh() does."""
        return sh(*self.argv(*argv))

    def _answers(self) -> bool:
        return subprocess.run(self.argv("zpool", "list"), capture_output=True, timeout=60,
                              check=False).returncode == 0

    # -- start ----------------------------------------------------------------------------

    def start(self) -> None:
        self.work.mkdir()
        own = Path("/proc/self/ns/mnt").resolve()
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "infinity"],
                                       start_new_session=True, preexec_fn=_die_with_parent)  # noqa: PLW1509
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while Path(f"/proc/{self.holder.pid}/ns/mnt").resolve() == own:  # until unshare has exec'd sleep
            if self.holder.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} host's namespace was not made")
            time.sleep(0.02)
        self._drop_fuse_mounts()
        for directory in ZFS_FUSE_DIRS:  # over the first daemon's copies: a socket of its own
            self.run("mkdir", "-p", directory)
            self.run("mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", directory)
        with open(self.work / "zfs-fuse.log", "ab") as log:
            self.zfs_fuse = subprocess.Popen(
                self.argv("zfs-fuse", "--no-daemon", "--no-kstat-mount", "-p", str(self.work / "zfs-fuse.pid"),
                          "--max-arc-size", "256"),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)  # noqa: PLW1509
        while not self._answers():
            if self.zfs_fuse.poll() is not None or time.monotonic() > deadline + ANSWER_TIMEOUT:
                raise RuntimeError(f"the {self.name} host's zfs-fuse did not answer (see {self.work / 'zfs-fuse.log'})")
            time.sleep(0.2)
        sh("truncate", "-s", self.pool_size, str(self.work / "pool.img"))
        self.run("zpool", "create", self.pool, str(self.work / "pool.img"))
        self.pool_made = True
        # Seen once under load: `zfs create` right after answered "no such pool".
        while self.pool not in self.run("zpool", "list", "-H", "-o", "name").split():
            if time.monotonic() > deadline + 2 * ANSWER_TIMEOUT:
                raise RuntimeError(f"the {self.name} host's pool {self.pool} is not listed after its creation")
            time.sleep(0.2)
        for name in ("api", "raw"):
            self.run("zfs", "create", f"{self.pool}/{name}")
        self._start_sshd()

    def _drop_fuse_mounts(self) -> None:
        """The namespace starts as a copy of the bench's mount table; copies of the first
        daemon's FUSE mounts there would keep its datasets busy (as
        tests/fixtures/zfs.py's drop_inherited_fuse_mounts says of the host's)."""
        found = []
        for line in Path(f"/proc/{self.holder.pid}/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            if right.split()[0].startswith("fuse"):
                found.append(left.split()[4].replace("\\040", " "))
        for mountpoint in sorted(found, key=lambda m: m.count("/"), reverse=True):
            subprocess.run(self.argv("umount", "-l", mountpoint), check=False, capture_output=True, timeout=30)

    def _start_sshd(self) -> None:
        ssh = self.work / "sshd"
        ssh.mkdir()
        for name in ("host_ed25519", "client_ed25519"):
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"shoal-scale-{name}", "-f", str(ssh / name))
        shutil.copy(ssh / "client_ed25519.pub", ssh / "authorized_keys")
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # sshd's privilege-separation dir
        port = _free_port()
        config = _write_config(ssh, port, ["root"])
        log = ssh / "sshd.log"
        with open(log, "wb") as log_fh:
            process = subprocess.Popen(self.argv(str(SSHD), "-D", "-e", "-p", str(port), "-f", str(config)),
                                       stdin=subprocess.DEVNULL, stdout=log_fh, stderr=subprocess.STDOUT)
        self.sshd = SSHServer("127.0.0.1", port, str(ssh / "client_ed25519"), None, None, log, process, config)
        _wait_for_banner(self.sshd)

    def backend(self) -> str:
        """The `[backends.<name>]` table: this host over SSH, its tgtd and ganesha started
        by Shoal there. Its ganesha runs even where no share goes (idle, on ports of its
        own): without it Shoal's daemon watch finds that backend's NFS server dead every
        second and tries to start it again."""
        assert self.sshd is not None
        return backend_table(self.name, {
            "pools": [f"{self.pool}/api"], "export_address": "127.0.0.1", "admin_export_address": "127.0.0.1",
            "max_over_subscription_ratio": 1000.0,
            "host": {"type": "ssh", "address": self.sshd.address, "port": self.sshd.port,
                     "key_file": self.sshd.key_file},
            "iscsi": {"portals": [f"127.0.0.1:{self.iscsi_port}"], "control_port": control_port(self.iscsi_port),
                      "iqn_prefix": f"iqn.2026-11.org.shoal.scale-{self.name}"},
            "ganesha": {"config_dir": str(self.ganesha_dir), "nfs_port": free_port(), "mount_port": free_port()},
        })

    def tgt(self, iothreads: int | None = None) -> NamespaceTgt:
        return NamespaceTgt(self, iothreads)

    def ganesha(self, directory: Path) -> RawGanesha:
        """A ganesha of the floor's own in the namespace (where the shares are mounted)."""
        return RawGanesha(directory, tuple(self.argv()))

    # -- the end --------------------------------------------------------------------------

    def close(self) -> None:
        """Shoal's tgtd and ganesha here first (tgtd holds the volume files open: a pool destroyed under
        open files wedges zfs-fuse), then the pool, zfs-fuse, sshd and the namespace."""
        try:
            if self.holder is not None and self.holder.poll() is None:
                tgtds = tgtd_pids(SimpleNamespace(iscsi_port=self.iscsi_port))
                stop_tgtd(self.iscsi_port)
                kill_ganesha(self.ganesha_dir)
                self._wait_gone(tgtds)
                if self.pool_made and self.zfs_fuse is not None and self.zfs_fuse.poll() is None:
                    self._destroy_pool()
        finally:
            if self.zfs_fuse is not None and self.zfs_fuse.poll() is None:
                self.zfs_fuse.terminate()
                try:
                    self.zfs_fuse.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    self.zfs_fuse.kill()
                    self.zfs_fuse.wait()
            if self.sshd is not None:
                self.sshd.stop()
            if self.holder is not None and self.holder.poll() is None:
                self.holder.send_signal(signal.SIGKILL)  # its namespace, and every mount in it, go with it
                self.holder.wait()
            shutil.rmtree(self.work, ignore_errors=True)

    @staticmethod
    def _wait_gone(pids: list[int]) -> None:
        """tgtd with a thousand LUNs takes seconds to exit; its files keep the pool busy till then."""
        deadline = time.monotonic() + 300
        while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _destroy_pool(self) -> None:
        for _ in range(120):  # a thousand unmounts may answer "busy" for a while
            if not subprocess.run(self.argv("zpool", "destroy", self.pool), capture_output=True, timeout=300,
                                  check=False).returncode:
                return
            time.sleep(1)
        print(f"the {self.name} host's pool {self.pool} was not destroyed", file=sys.stderr)


class NamespaceTgt(RawTgt):
    """The floor's tgtd, started and driven by hand in a ZFS host's namespace
    (where the volume files are mounted), one `nsenter` per command. `iothreads`: tgtd's
    I/O threads per LUN (tgtd's default, 16, when None)."""

    def __init__(self, host: ZfsHost, iothreads: int | None = None):
        self.host, self.iothreads = host, iothreads
        self.port = free_port()
        self.control = str(control_port(self.port))
        host.run(*self.tgtd_argv())
        deadline = time.monotonic() + 10
        while subprocess.run(host.argv("tgtadm", "-C", self.control, "--op", "show", "--mode", "sys"),
                             check=False, capture_output=True).returncode:
            assert time.monotonic() < deadline, "the floor's tgtd did not start"
            time.sleep(0.05)
        self.tid = 0

    def tgtd_argv(self) -> list[str]:
        threads = ["--nr_iothreads", str(self.iothreads)] if self.iothreads else []
        return ["tgtd", "--iscsi", f"portal=127.0.0.1:{self.port}", "--control-port", self.control, *threads]

    def adm(self, *args: str) -> None:
        self.host.run("tgtadm", "-C", self.control, "--lld", "iscsi", *args)

