"""When a ganesha reload's log is complete: the errors of the EXPORT and CLIENT
blocks come *after* "Reread exports complete" (ganesha 4.3, reread_config in
src/MainNFSD/nfs_init.c: reread_exports() logs that line, then
report_config_errors() logs the errors it kept), all from the one signal thread.

The log text below is ganesha's own, from a run where apply() returned as if the
export was made (56 of 12467 applies of a refused CLIENT, on 2 cores kept busy
by four `yes`; none of 35322 with the fix); only the paths are changed. The fake host plays
that ordering: on SIGHUP the log gets the lines up to "Reread exports complete"
while the signal thread still runs; the error lines are written, and the thread
goes back to sigwait(), only after the helper has seen those first lines.
"""

from __future__ import annotations

import pytest

from shoal.exports.nfs import GaneshaError, NfsClientRule, NfsExport
from shoal.exports.nfs import ganesha as ganesha_module
from shoal.exports.nfs.ganesha import GaneshaHelper, export_errors, reload_outcome
from shoal.hosts import CommandResult
from tests.unit.test_nfs_ganesha_config import CONF_DIR, PID, FakeGaneshaHost

SIGMGR = PID + 12
OTHER_THREADS = (PID, PID + 1, PID + 9, PID + 10)
HEAD = "07/12/2026 15:20:13 : epoch 6b16cea9 : vm : nfs-ganesha-8251[sigmgr]"
START = f"{HEAD} sigmgr_thread :MAIN :EVENT :SIGHUP_HANDLER: Received SIGHUP.... initiating export list reload"
DONE = f"{HEAD} reread_exports :CONFIG :EVENT :Reread exports complete"


def refused_client_lines(key: str) -> tuple[list[str], list[str]]:
    """What ganesha 4.3 logs for an export whose CLIENT it cannot read (a double
    quoted client): (lines up to the end of reread_exports, lines after it)."""
    file = f"{CONF_DIR}/exports.d/{key}.conf"
    errs = f"{HEAD} config_errs_to_log :CONFIG :CRIT :Config File ({file}"
    return [START, f"{HEAD} client_commit :CONFIG :CRIT :No clients specified", DONE], [
        f"{errs}:12): Expected a client, got a double quoted string for (fd00::/100)",
        f"{errs}:12): 1 validation errors in block Client",
        f"{errs}:12): Errors processing block (CLIENT)",
        f"{errs}:2): 1 errors while processing parameters for EXPORT",
        f"{errs}:2): Errors processing block (EXPORT)",
        f"{errs}:2): 1 (invalid param value, unknown param) errors found block EXPORT",
    ]


class LateErrorsHost(FakeGaneshaHost):
    """A ganesha whose signal thread logs a reload's block errors only after
    the helper read the log up to RELOAD_DONE."""

    def __init__(self, wchan_readable: bool = True):
        super().__init__()
        self.wchan_readable = wchan_readable
        self.refused: set[str] = set()  # keys whose CLIENT ganesha cannot read
        self.late: list[str] = []  # lines the signal thread has still to write
        self.busy = False  # the signal thread runs a reload
        self._set_sigmgr("do_sigtimedwait.isra.0")

    def _set_sigmgr(self, wchan: str) -> None:
        for tid in OTHER_THREADS:
            self.files[f"/proc/{PID}/task/{tid}/wchan"] = "futex_do_wait"
        self.files[f"/proc/{PID}/task/{SIGMGR}/wchan"] = wchan
        if not self.wchan_readable:
            for tid in (*OTHER_THREADS, SIGMGR):
                self.files[f"/proc/{PID}/task/{tid}/wchan"] = "0"

    def _log_raw(self, lines: list[str]) -> None:
        self.files[f"{CONF_DIR}/ganesha.log"] += "".join(f"{line}\n" for line in lines)

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None) -> CommandResult:
        argv, out = list(argv), ""
        if argv[:2] == ["ls", f"/proc/{PID}/task"]:
            out = "\n".join(str(tid) for tid in sorted((*OTHER_THREADS, SIGMGR))) + "\n"
        elif argv[0] == "grep" and "-l" in argv:  # the threads waiting for signals
            pattern = argv[argv.index("-F") + 1]
            out = "".join(f"{path}\n" for path in argv if path.endswith("/wchan") and pattern in self.files[path])
        else:
            return super().run(argv, input=input, timeout=timeout, check=check, retry=retry)
        return CommandResult(tuple(argv), 0, out, "", 0.0)

    def read_file(self, path: str) -> str | None:
        if path == f"/proc/{PID}/task/{SIGMGR}/wchan" and self.busy:
            # Seen running; meanwhile it writes the rest and goes back to sigwait().
            wchan = self.files[path]
            self._log_raw(self.late)
            self.late, self.busy = [], False
            self._set_sigmgr("do_sigtimedwait.isra.0")
            return wchan
        return super().read_file(path)

    def signal(self, pid: int, signum: int) -> None:
        assert (pid, signum) == (PID, 1)
        early, late = [START, DONE], []
        for key in sorted(self.refused):
            before, after = refused_client_lines(key)
            early, late = before, late + after
        self._log_raw(early)
        self.late, self.busy = late, True
        self._set_sigmgr("0")  # running (a running thread has no wait channel)


@pytest.fixture(autouse=True)
def fresh_module_state():
    """Per (host name, config dir) state lives in the module; each test has its own."""
    for cache in (ganesha_module._KNOWN, ganesha_module._SIGNAL_THREADS):
        cache.clear()
    yield
    for cache in (ganesha_module._KNOWN, ganesha_module._SIGNAL_THREADS):
        cache.clear()


def refused_export(key: str = "rep-351") -> NfsExport:
    return NfsExport(key, f"/tank/{key}", f"tank/{key}", (NfsClientRule("r", "fd00::/64", "rw"),))


def test_a_refused_client_logged_after_the_reload_completes_fails_the_apply():
    host = LateErrorsHost()
    host.refused.add("rep-351")
    with pytest.raises(GaneshaError, match=r"could not export /tank/rep-351: .*Expected a client"):
        GaneshaHelper(host, config_dir=CONF_DIR).apply(refused_export())
    assert not host.busy  # the helper waited for the signal thread to write them


def test_a_good_export_still_applies_and_waits_for_the_signal_thread():
    host = LateErrorsHost()
    good = NfsExport("good", "/tank/good", "tank/good", (NfsClientRule("r", "10.0.0.1", "rw"),))
    assert GaneshaHelper(host, config_dir=CONF_DIR).apply(good) == {}
    assert host.files[f"/proc/{PID}/task/{SIGMGR}/wchan"].startswith("do_sigtimedwait")


def test_without_wait_channels_the_helper_still_returns():
    """No /proc wait channels to read (another kernel, another user's daemon):
    the helper cannot tell and goes by RELOAD_DONE alone, as before (and warns)."""
    host = LateErrorsHost(wchan_readable=False)
    assert GaneshaHelper(host, config_dir=CONF_DIR).apply(refused_export("good")) == {}


def test_a_reload_runs_from_its_start_to_the_next_reloads_start():
    before, after = refused_client_lines("rep-351")
    file = f"{CONF_DIR}/exports.d/rep-351.conf"
    export = refused_export()
    # Read as the helper first did under load: the errors are not written yet.
    ok, lines = reload_outcome("\n".join(before) + "\n")
    assert ok and export_errors(lines, export, file) == []
    # Read again once the signal thread is idle: they belong to this reload...
    ok, lines = reload_outcome("\n".join(before + after) + "\n")
    assert ok and export_errors(lines, export, file) == after[:-1]  # the last is the summary, see below
    # ...and a later reload's lines do not.
    ok, lines = reload_outcome("\n".join([START, DONE] + before + after) + "\n")
    assert ok and lines == [START, DONE]


def test_the_errors_summary_names_the_last_block_read_not_the_export_that_failed():
    """ganesha's count of a reload's EXPORT errors carries the place of the last
    block it read (here the good export c-39, included after the refused c-38)."""
    refused, good = refused_export("c-38"), refused_export("c-39")
    before, after = refused_client_lines("c-38")
    summary = after.pop()  # "1 (invalid param value, unknown param) errors found block EXPORT"
    after.append(summary.replace("c-38.conf:2)", "c-39.conf:2)"))
    _, lines = reload_outcome("\n".join(before + after) + "\n")
    assert export_errors(lines, good, f"{CONF_DIR}/exports.d/c-39.conf") == []
    assert len(export_errors(lines, refused, f"{CONF_DIR}/exports.d/c-38.conf")) == len(after) - 1
