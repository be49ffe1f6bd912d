"""When has nfs-ganesha finished logging a reload? Asked of its signal thread.

ganesha (4.3) handles SIGHUP in one thread, `sigmgr_thread` in
src/MainNFSD/nfs_init.c: sigwait(), log "initiating export list reload", then
reread_config(). That calls reread_exports(), which logs "Reread exports
complete" -- and only after it returns, report_config_errors() logs what went
wrong while reading the EXPORT and CLIENT blocks (a client it cannot read,
"Errors processing block (CLIENT)", ...), from a buffer kept meanwhile. No line
follows those. So a reload's log is complete once that thread is back in
sigwait(), which the kernel shows as its wait channel (do_sigtimedwait). Each
log line is a write(2) of its own (log_to_file in src/log/log_functions.c),
so nothing of it is still buffered by then.
"""

from __future__ import annotations

import logging

from shoal.hosts import Host

log = logging.getLogger("shoal.exports.nfs")

WAITING_FOR_SIGNALS = "sigtimedwait"  # in the wait channel of a thread blocked in sigwait()


class SignalThread:
    """The thread(s) of one ganesha process that wait for signals: found once
    per process while it is idle (only sigmgr_thread calls sigwait)."""

    def __init__(self, host: Host):
        self.host = host
        self._pid: int | None = None
        self._tids: tuple[str, ...] = ()

    def find(self, pid: int) -> bool:
        """Before a SIGHUP (the reload lock held): know which threads of `pid`
        wait for signals. False when none can be seen (no /proc wait channels
        here, or a reload someone else asked for is running right now)."""
        if pid != self._pid or not self._tids:
            # Looked for again while unseen (it may have been busy), warned once per process.
            warned, self._pid, self._tids = pid == self._pid, pid, self._waiting(pid)
            if not self._tids and not warned:
                log.warning("ganesha %s: its signal thread cannot be seen in /proc/%s/task/*/wchan; a reload's "
                            "errors logged after 'Reread exports complete' may be missed", pid, pid)
        return bool(self._tids)

    def idle(self, pid: int) -> bool | None:
        """True when the signal thread is back waiting for signals (the reload
        it ran has logged everything), False while it runs, None when it cannot
        be told (another process, the thread or the daemon gone)."""
        if pid != self._pid or not self._tids:
            return None
        for tid in self._tids:
            wchan = self.host.read_file(f"/proc/{pid}/task/{tid}/wchan")
            if wchan is None:
                self._tids = ()
                return None
            if WAITING_FOR_SIGNALS not in wchan:
                return False
        return True

    def _waiting(self, pid: int) -> tuple[str, ...]:
        listed = self.host.run(["ls", f"/proc/{pid}/task"], check=False)
        tids = [tid for tid in listed.stdout.split() if tid.isdigit()]
        if not tids:
            return ()
        found = self.host.run(
            ["grep", "-l", "-s", "-F", WAITING_FOR_SIGNALS, *(f"/proc/{pid}/task/{tid}/wchan" for tid in tids)],
            check=False,
        )
        return tuple(path.split("/")[4] for path in found.stdout.split() if path.count("/") == 5)
