"""kill -9 of one of the run's own processes, and what a supervisor does next.

- shoal: the `shoal serve` the harness started; started again at once with the
  same config (as systemd would).
- ganesha: the one whose pidfile is under that Shoal's state dir (and whose
  command line names that config dir); Shoal itself must bring it back.
- tgtd: the daemon and its logger child serving that Shoal's control port;
  Shoal itself must bring it back.
- zfs-fuse: only the private daemon of the run's own mount namespace; the
  harness plays supervisor (dead mounts dropped, daemon started, pool mounted),
  Shoal must notice that its exports lost their files.
- shoal+zfs-fuse: Shoal killed, then zfs-fuse killed and brought back while
  Shoal is down, then Shoal started: it must still make every export anew.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.fixtures.shoal import control_port, kill_ganesha, start_server
from tests.fixtures.tgtd import _pids as tgtd_pids

KINDS = ("shoal", "ganesha", "tgtd", "zfs-fuse", "shoal+zfs-fuse")


def ganesha_pid(server) -> int | None:
    config_dir = server.state_dir / "ganesha"
    try:
        pid = int((config_dir / "ganesha.pid").read_text().split()[0])  # ganesha does not truncate it
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_text()
    except (OSError, ValueError):
        return None
    return pid if state not in ("Z", "X") and str(config_dir) in cmdline else None


class Killer:
    def __init__(self, server, zfs_daemon=None, pool: str = "", pool_image: Path | None = None):
        self.server = server
        self.zfs_daemon = zfs_daemon
        self.pool, self.pool_image = pool, pool_image

    def available(self, kind: str) -> bool:
        return "zfs-fuse" not in kind or self.zfs_daemon is not None

    def kill(self, kind: str) -> str:
        """Kill one process of `kind`; returns what was done (for the report), '' if there was none."""
        return getattr(self, "_kill_" + kind.replace("-", "_").replace("+", "_and_"))()

    def _kill_shoal(self, meanwhile=None) -> str:
        process = self.server.process
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        done = meanwhile() if meanwhile else ""
        t0 = time.monotonic()
        self.server.process = start_server(self.server.config, self.server.state_dir, self.server.url)
        return f"shoal pid {process.pid} killed; {done + '; ' if done else ''}restarted as pid " \
               f"{self.server.process.pid} (serving after {time.monotonic() - t0:.1f}s)"

    def _kill_shoal_and_zfs_fuse(self) -> str:
        return self._kill_shoal(meanwhile=self._kill_zfs_fuse)

    def _kill_ganesha(self) -> str:
        pid = ganesha_pid(self.server)
        if pid is None:
            return ""
        kill_ganesha(self.server.state_dir / "ganesha")
        return f"ganesha pid {pid} killed"

    def _kill_tgtd(self) -> str:
        port = control_port(self.server.iscsi_port)
        pids = tgtd_pids(port)
        if not pids:
            return ""
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while tgtd_pids(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        return f"tgtd pids {pids} (control port {port}) killed"

    def _kill_zfs_fuse(self) -> str:
        daemon = self.zfs_daemon
        if daemon is None or daemon.pid is None:
            return ""
        pid = daemon.pid
        daemon.kill()
        daemon.restart_after_kill(self.pool, self.pool_image)
        return f"private zfs-fuse pid {pid} killed; restarted as pid {daemon.pid}, pool mounted again"
