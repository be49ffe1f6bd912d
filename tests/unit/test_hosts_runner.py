"""LocalHost (shoal.hosts.runner) run for real with harmless commands.

These start real processes (`true`, `sh`, `printf`, `tr`, `sleep`); they need
no daemon and no privileges. Shell strings appear only as test commands here.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time

import pytest

from shoal.hosts import STATS, CommandError, CommandTimeout, LocalHost, Retry, Secret
from shoal.hosts.runner import first_spawn
from tests.fixtures.host_contract import append_later, check_first_spawn, check_set_file_size, check_set_mode, check_watch, check_write_files

BUSY = "cannot destroy 'tank/share-1': dataset is busy"


@pytest.fixture
def host() -> LocalHost:
    return LocalHost()


@pytest.fixture
def flaky(tmp_path):
    """A script that fails with `stderr` for its first `failures` runs, then succeeds.

    Returns (argv, calls) where calls() reads how many times it ran.
    """

    def make(failures: int, stderr: str = BUSY):
        counter = tmp_path / "count"
        counter.write_text("0")
        script = tmp_path / "flaky.sh"
        script.write_text(
            "#!/bin/sh\n"
            f'n=$(cat "{counter}")\n'
            "n=$((n + 1))\n"
            f'echo "$n" > "{counter}"\n'
            f'if [ "$n" -le {failures} ]; then echo "{stderr}" >&2; exit 1; fi\n'
            "echo done\n"
        )
        script.chmod(0o755)
        return [str(script)], lambda: int(counter.read_text())

    return make


# ---- run -----------------------------------------------------------------------------------


def test_true_succeeds(host):
    result = host.run(["true"])
    assert result.returncode == 0
    assert result.argv == ("true",)
    assert result.duration >= 0


def test_stdout_and_input(host):
    assert host.run(["printf", "%s-%s", "a b", "c"]).stdout == "a b-c"
    assert host.run(["tr", "a-z", "A-Z"], input="hello").stdout == "HELLO"


def test_argv_is_not_a_shell(host, tmp_path):
    target = tmp_path / "pwned"
    result = host.run(["echo", f"x; touch {target}"])
    assert result.stdout == f"x; touch {target}\n"
    assert not target.exists()


def test_false_raises_command_error(host):
    with pytest.raises(CommandError) as exc:
        host.run(["false"])
    assert exc.value.returncode == 1


def test_command_error_carries_rc_and_stderr(host):
    with pytest.raises(CommandError) as exc:
        host.run(["sh", "-c", "echo x >&2; exit 3"])
    err = exc.value
    assert err.returncode == 3
    assert err.result.returncode == 3
    assert err.stderr == "x\n"
    assert "exit 3" in str(err) and str(err).endswith("x")


def test_check_false_returns_the_failure(host):
    result = host.run(["sh", "-c", "echo out; echo err >&2; exit 5"], check=False)
    assert (result.returncode, result.stdout, result.stderr) == (5, "out\n", "err\n")


def test_missing_program_is_a_command_error(host):
    with pytest.raises(CommandError) as exc:
        host.run(["/nonexistent/shoal-no-such-binary"])
    assert exc.value.returncode == 127


def test_timeout_raises_command_timeout(host):
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as exc:
        host.run(["sleep", "10"], timeout=0.3)
    assert time.monotonic() - start < 5
    assert isinstance(exc.value, CommandError)
    assert "timed out" in str(exc.value)


def test_stats_count_commands_and_failures(host):
    before_count, before_failures = STATS.count, STATS.failures
    host.run(["true"])
    host.run(["false"], check=False)
    assert STATS.count - before_count == 2
    assert STATS.failures - before_failures == 1
    assert not STATS.running or all("false" not in v for v in STATS.running.values())


# ---- retry ---------------------------------------------------------------------------------


def test_retry_transient_until_success(host, flaky):
    argv, calls = flaky(failures=2)
    before = STATS.retries
    result = host.run(argv, retry=Retry(("dataset is busy",), first_delay=0.01))
    assert result.stdout == "done\n"
    assert calls() == 3
    assert STATS.retries - before == 2


def test_retry_does_not_retry_other_failures(host, flaky):
    argv, calls = flaky(failures=2, stderr="permission denied")
    with pytest.raises(CommandError) as exc:
        host.run(argv, retry=Retry(("dataset is busy",), first_delay=0.01))
    assert calls() == 1
    assert "permission denied" in exc.value.stderr


def test_retry_gives_up_after_attempts(host, flaky):
    argv, calls = flaky(failures=5)
    with pytest.raises(CommandError) as exc:
        host.run(argv, retry=Retry(("dataset is busy",), attempts=3, first_delay=0.01))
    assert calls() == 3
    assert "dataset is busy" in exc.value.stderr


def test_no_retry_without_retry_policy(host, flaky):
    argv, calls = flaky(failures=1)
    with pytest.raises(CommandError):
        host.run(argv)
    assert calls() == 1


def test_retry_delays_back_off_and_cap():
    assert list(Retry(("x",), attempts=6, first_delay=0.5, max_delay=2.0).delays()) == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert list(Retry(("x",), attempts=1).delays()) == []


# ---- secrets -------------------------------------------------------------------------------

PASSWORD = "hunter2-s3cret"


def test_secret_masked_in_command_error(host):
    with pytest.raises(CommandError) as exc:
        host.run(["sh", "-c", "echo nope >&2; exit 2", "sh", Secret(PASSWORD)])
    assert PASSWORD not in str(exc.value)
    assert "***" in str(exc.value)
    assert exc.value.result.argv[-1] == PASSWORD  # the real value still ran


def test_secret_masked_in_log_records(host, caplog, flaky):
    caplog.set_level(logging.DEBUG, logger="shoal.hosts")
    host.run(["true", Secret(PASSWORD)])
    host.run(["sh", "-c", "exit 4", "sh", Secret(PASSWORD)], check=False)
    argv, _ = flaky(failures=1)
    host.run([*argv, Secret(PASSWORD)], retry=Retry(("dataset is busy",), first_delay=0.01))
    records = [r for r in caplog.records if r.name == "shoal.hosts"]
    assert len(records) >= 4  # ok, failure, transient failure + retry notice, ok
    for record in records:
        assert PASSWORD not in record.getMessage()
    assert any("***" in r.getMessage() and "rc=0" in r.getMessage() for r in records)
    assert any("rc=4" in r.getMessage() for r in records)


def test_secret_echoed_on_stderr_is_masked(host, caplog):
    caplog.set_level(logging.DEBUG, logger="shoal.hosts")
    with pytest.raises(CommandError) as exc:
        host.run(["sh", "-c", 'echo "bad password: $1" >&2; exit 1', "sh", Secret(PASSWORD)])
    assert PASSWORD not in str(exc.value)
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


# ---- pipe ----------------------------------------------------------------------------------


def test_pipe_joins_two_processes(host):
    result = host.pipe(["printf", "abc"], ["tr", "a-z", "A-Z"])
    assert result.returncode == 0
    assert result.stdout == "ABC"
    assert "|" in result.argv


def test_pipe_carries_binary_data(host, tmp_path):
    data = bytes(range(256)) * 4096  # 1 MiB, more than a pipe buffer
    src = tmp_path / "src.bin"
    dst = tmp_path / "dst.bin"
    src.write_bytes(data)
    host.pipe(["cat", str(src)], ["dd", f"of={dst}", "status=none"])
    assert dst.read_bytes() == data


def test_pipe_reports_producer_failure(host):
    with pytest.raises(CommandError) as exc:
        host.pipe(["sh", "-c", "printf abc; echo send failed >&2; exit 4"], ["cat"])
    assert exc.value.returncode == 4
    assert "send failed" in exc.value.stderr


def test_pipe_reports_consumer_failure(host):
    with pytest.raises(CommandError) as exc:
        host.pipe(["printf", "abc"], ["sh", "-c", "cat >/dev/null; echo recv failed >&2; exit 6"])
    assert exc.value.returncode == 6
    assert "recv failed" in exc.value.stderr


def test_pipe_missing_producer(host):
    with pytest.raises(CommandError) as exc:
        host.pipe(["/nonexistent/shoal-no-such-binary"], ["cat"])
    assert exc.value.returncode == 127


def test_pipe_consumer_timeout_is_command_timeout(host):
    with pytest.raises(CommandTimeout):
        host.pipe(["sleep", "10"], ["cat"], timeout=0.3)


def test_pipe_timeout_covers_a_stuck_producer(host):
    start = time.monotonic()
    with pytest.raises(CommandTimeout):
        host.pipe(["sleep", "3"], ["true"], timeout=0.3)
    assert time.monotonic() - start < 2


# ---- files ---------------------------------------------------------------------------------


def test_write_file_creates_directories_and_sets_mode(host, tmp_path):
    path = tmp_path / "a" / "b" / "export.conf"
    host.write_file(str(path), "EXPORT { }\n", mode=0o640)
    assert path.read_text() == "EXPORT { }\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_write_file_default_mode(host, tmp_path):
    path = tmp_path / "f"
    host.write_file(str(path), "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_file_replaces_atomically(host, tmp_path):
    path = tmp_path / "ganesha.conf"
    host.write_file(str(path), "old\n", mode=0o600)
    with open(path) as reader:  # a reader that opened the old file
        host.write_file(str(path), "new content\n", mode=0o644)
        assert reader.read() == "old\n"  # it never sees a half-written or truncated file
    assert path.read_text() == "new content\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["ganesha.conf"]  # no temporary file left behind


def test_write_file_failure_leaves_old_file_and_no_temp(host, tmp_path):
    path = tmp_path / "f"
    host.write_file(str(path), "old")
    with pytest.raises(TypeError):
        host.write_file(str(path), "new", mode="bad")  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f"]


def test_set_file_size_makes_grows_and_cuts_sparse_files(host, tmp_path):
    check_set_file_size(host, tmp_path)

def test_set_mode_sets_the_bits_as_given(host, tmp_path):
    check_set_mode(host, tmp_path)


def test_write_files_and_remove_files(host, tmp_path):
    check_write_files(host, tmp_path)


def test_read_file(host, tmp_path):
    path = tmp_path / "f"
    path.write_text("hello\n")
    assert host.read_file(str(path)) == "hello\n"
    assert host.read_file(str(tmp_path / "missing")) is None


def test_first_spawn_tells_when_the_command_has_started(host):
    check_first_spawn(host)


def test_watch_contract(host, tmp_path):
    check_watch(host, tmp_path)


def test_watch_wakes_its_waiter_on_a_write(host, tmp_path):
    """inotify, not the clock: a wait of a minute returns once the line is written."""
    path = tmp_path / "ganesha.log"
    path.write_text("")
    watch = host.watch(str(path))
    watch.mark()
    writer = append_later(path, "Reread exports complete\n")
    started = time.monotonic()
    watch.wait(60)
    assert time.monotonic() - started < 30  # woken, not timed out
    assert path.read_text() == "Reread exports complete\n"
    writer.join()


def test_watch_forgets_writes_before_mark(host, tmp_path):
    path = tmp_path / "ganesha.log"
    path.write_text("")
    watch = host.watch(str(path))
    watch.mark()
    with path.open("a") as fh:
        fh.write("an earlier reload\n")
    watch.mark()
    started = time.monotonic()
    watch.wait(0.3)
    assert time.monotonic() - started >= 0.25  # nothing since the mark: the whole timeout


def test_watch_follows_the_path_to_a_new_file(host, tmp_path):
    """A daemon that restarted may log to a new file under the same name."""
    path = tmp_path / "ganesha.log"
    path.write_text("old daemon\n")
    watch = host.watch(str(path))
    watch.mark()
    (tmp_path / "next.log").write_text("new daemon\n")
    os.replace(tmp_path / "next.log", path)
    watch.mark()
    writer = append_later(path, "Reread exports complete\n")
    started = time.monotonic()
    watch.wait(60)
    assert time.monotonic() - started < 30
    writer.join()


def test_watch_of_a_missing_file_waits_by_the_clock(host, tmp_path):
    watch = host.watch(str(tmp_path / "not-yet.log"))
    watch.mark()  # no error: the caller's look at the file tells it nothing is there
    started = time.monotonic()
    watch.wait(0.05)
    assert time.monotonic() - started >= 0.04


def test_first_spawn_without_a_command_tells_at_the_end():
    started = threading.Event()
    with first_spawn(started):
        assert not started.is_set()
    assert started.is_set()


def test_a_signal_to_a_daemon_counts_as_the_first_command(host):
    started = threading.Event()
    with first_spawn(started):
        host.signal(os.getpid(), 0)  # signal 0: delivered to nobody, only checked
        assert started.is_set()


def test_commands_run_in_the_c_locale_whatever_shoals_own(host, monkeypatch):
    # Callers match English messages ("dataset is busy"): a translated one would not match.
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    monkeypatch.setenv("SHOAL_MARKER", "kept")
    out = host.run(["sh", "-c", 'echo "$LC_ALL $SHOAL_MARKER"']).stdout
    assert out == "C kept\n"
    piped = host.pipe(["sh", "-c", 'echo "$LC_ALL"'], ["sh", "-c", 'cat; echo "$LC_ALL"'])
    assert piped.stdout == "C\nC\n"


def test_write_file_does_not_follow_a_symlink_planted_as_its_temporary(host, tmp_path):
    if type(host).__name__ != "LocalHost":
        pytest.skip("the temporary's name is LocalHost's")
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    path = tmp_path / "f"
    planted = tmp_path / f".f.shoal-{os.getpid()}-{threading.get_ident()}"
    planted.symlink_to(victim)
    with pytest.raises(OSError):
        host.write_file(str(path), "new")
    assert victim.read_text() == "untouched" and not path.exists()
