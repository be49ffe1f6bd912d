"""The harness's own world: ZFS, a pool, and a Shoal with its ganesha and tgtd.

Nothing here is shared with another Shoal or test run: the pool is
`shoalchaos<pid>` on a sparse file in the run's directory, the Shoal comes from
tests/fixtures/shoal.py::running_shoal (own state dir, API, NFS and iSCSI ports,
its own ganesha and tgtd, found by the pidfile and control port under that
state dir).

ZFS: as scripts/tempest does, the harness re-runs itself in a mount namespace of
its own (`unshare --mount`) with a private zfs-fuse whose socket and pool cache
live on tmpfs there. Only then may the harness kill zfs-fuse: the daemon, its
FUSE mounts and its pool are the run's alone. With --host-zfs (or no
zfs-fuse/unshare) the host's ZFS is used and zfs-fuse is never killed.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from tests.fixtures import zfs as zfs_fixtures

NAMESPACE_FLAG = "SHOAL_CHAOS_PRIVATE_NS"
ZFS_FUSE_DIRS = ["/var/run/zfs", "/var/lib/zfs", "/var/lock/zfs"]  # socket, pool cache, lock
POOL_PREFIX = "shoalchaos"
ZFS_ANSWER_TIMEOUT = 60.0


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def private_zfs_possible() -> bool:
    return bool(shutil.which("zfs-fuse") and shutil.which("unshare"))


def in_private_namespace() -> bool:
    return bool(os.environ.get(NAMESPACE_FLAG))


def enter_private_namespace(argv: list[str]) -> None:
    """Re-run the harness in a mount namespace of its own (mounts made there stay there)."""
    if in_private_namespace() or not private_zfs_possible():
        return
    os.environ[NAMESPACE_FLAG] = "1"
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private",
                          sys.executable, "-m", "tests.chaos.harness", *argv])


_PRCTL = ctypes.CDLL("libc.so.6", use_errno=True).prctl  # resolved here: the child must not load anything


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the harness dies, however it dies."""
    _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _zpool_answers() -> bool:
    return subprocess.run(["zpool", "list"], check=False, capture_output=True, timeout=30).returncode == 0


class PrivateZfsFuse:
    """A zfs-fuse of the run's own, in its mount namespace; it can be killed and started again."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.proc: subprocess.Popen | None = None
        self._tmpfs = False

    def start(self) -> None:
        if not self._tmpfs:
            for d in ZFS_FUSE_DIRS:
                Path(d).mkdir(parents=True, exist_ok=True)
                subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", d], check=True)
            self._tmpfs = True
        pidfile = self.directory / "zfs-fuse.pid"
        pidfile.unlink(missing_ok=True)  # zfs-fuse leaves it behind, and a new daemon then exits
        with open(self.directory / "zfs-fuse.log", "ab") as log:
            # A session of its own: Ctrl-C of the harness must not stop it before the pool is gone.
            self.proc = subprocess.Popen(
                ["zfs-fuse", "--no-daemon", "--no-kstat-mount", "-p", str(pidfile), "--max-arc-size", "256"],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent, start_new_session=True)  # noqa: PLW1509
        deadline = time.monotonic() + ZFS_ANSWER_TIMEOUT
        while not _zpool_answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the private zfs-fuse did not answer (see {self.directory / 'zfs-fuse.log'})")
            time.sleep(0.2)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.pid is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def restart_after_kill(self, pool: str, pool_image: Path) -> None:
        """What a supervisor does after the daemon died: drop its dead FUSE mounts, start it,
        have the pool imported and its datasets mounted again."""
        for mountpoint in zfs_fixtures.fuse_mounts(f"/{pool}"):
            subprocess.run(["umount", "-l", mountpoint], check=False, capture_output=True, timeout=30)
        self.start()
        if pool not in subprocess.run(["zpool", "list", "-H", "-o", "name"], check=False, capture_output=True,
                                      text=True, timeout=30).stdout.split():
            subprocess.run(["zpool", "import", "-d", str(pool_image.parent), pool], check=True,
                           capture_output=True, timeout=120)
        subprocess.run(["zfs", "mount", "-a"], check=False, capture_output=True, timeout=120)

    def stop(self) -> None:
        if self.pid is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def zfs_daemon(directory: Path, host_zfs: bool):
    """Yields the private zfs-fuse (None when the host's ZFS is used)."""
    if host_zfs or not in_private_namespace():
        if not zfs_fixtures._zpool_answers()[0]:
            zfs_fixtures._start_zfs_fuse()
        yield None
        return
    zfs_fixtures.drop_inherited_fuse_mounts()
    daemon = PrivateZfsFuse(directory)
    daemon.start()
    say(f"private zfs-fuse (pid {daemon.pid}) in this run's mount namespace")
    try:
        yield daemon
    finally:
        daemon.stop()


@contextmanager
def own_pool(directory: Path, size: str):
    """`shoalchaos<pid>` on a sparse file in `directory`; destroyed afterwards (leftovers of
    dead runs first). Yields (name, image path)."""
    for name in zfs_fixtures._run(["zpool", "list", "-H", "-o", "name"]).stdout.split():
        m = re.fullmatch(rf"{POOL_PREFIX}(\d+)", name)
        if m and not zfs_fixtures._pid_alive(int(m.group(1))):
            say(f"destroying the leftover pool {name}")
            zfs_fixtures._destroy_pool(name)
    name = f"{POOL_PREFIX}{os.getpid()}"
    image = directory / f"{name}.img"
    zfs_fixtures._check(["truncate", "-s", size, str(image)])
    zfs_fixtures._check(["zpool", "create", name, str(image)])
    try:
        yield name, image
    finally:
        zfs_fixtures._destroy_pool(name)
        image.unlink(missing_ok=True)


class Dirs:
    """What running_shoal wants of pytest's tmp_path_factory: mktemp(name) -> a new directory."""

    def __init__(self, base: Path):
        self.base = base

    def mktemp(self, name: str) -> Path:
        path = self.base / name
        path.mkdir(parents=True)
        return path


REMOTEFS_BACKEND = "chaosfiles"


@contextmanager
def own_shoal(pool: str, work: Path, remotefs: bool):
    """A Shoal with noauth (as the test Shoal), a ZFS backend `test` for shares and iSCSI
    volumes, and with `remotefs` a RemoteFS backend on a directory of the run."""
    from tests.fixtures.remotefs import backend_toml
    from tests.fixtures.shoal import running_shoal

    extra = ""
    if remotefs:
        files = work / "remotefs"
        files.mkdir(parents=True)
        extra = backend_toml(REMOTEFS_BACKEND, files)
    with running_shoal(pool, Dirs(work), "chaos", extra_config=extra) as server:
        yield server


def remotefs_dir(server) -> Path:
    return server.state_dir.parent / "remotefs"
