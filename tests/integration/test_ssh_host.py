"""SSHHost against a real OpenSSH server (the private one of the ``sshd`` fixture).

The server runs on this machine, so what a remote command did is checked
directly on the local filesystem and /proc.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
import time
from pathlib import Path

import paramiko
import pytest

from shoal.hosts import STATS, CommandError, CommandTimeout, Retry, Secret, SSHHost
from tests.fixtures.host_contract import check_first_spawn, check_set_file_size, check_set_mode, check_watch, check_write_files

pytestmark = pytest.mark.integration


@pytest.fixture
def host(sshd):
    """root@127.0.0.1 with the fixture's key."""
    h = SSHHost(sshd.address, port=sshd.port, key_file=sshd.key_file)
    yield h
    h.close()


@pytest.fixture
def password_host(sshd):
    if sshd.password_user is None:
        pytest.skip("no throw-away user for password logins (see the sshd fixture's warnings)")
    h = SSHHost(sshd.address, user=sshd.password_user, port=sshd.port, password=sshd.password)
    yield h
    h.close()


@pytest.fixture
def connects(monkeypatch):
    """How many times paramiko opened a connection during the test."""
    calls = []
    real = paramiko.SSHClient.connect

    def counting(self, *args, **kwargs):
        calls.append(args[0] if args else kwargs.get("hostname"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(paramiko.SSHClient, "connect", counting)
    return calls


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- logins ---------------------------------------------------------------------


def test_key_login_runs_commands_as_root(host):
    result = host.run(["sh", "-c", "id -un; echo to-stderr >&2; exit 0"])
    assert result.returncode == 0
    assert result.stdout == "root\n"
    assert result.stderr == "to-stderr\n"
    assert result.argv == ("sh", "-c", "id -un; echo to-stderr >&2; exit 0")


def test_the_connection_sends_and_acknowledges_each_small_message_at_once(host):
    """TCP_NODELAY and prompt ACKs on every connection, a new one after a drop too:
    without the first, a channel opened right after the last one closed waited for
    the server's delayed ACK (tens of ms per request to a daemon's socket, per
    command's channel); without the second, an answer sshd sent in two packets
    waited for ours (test_ssh_prompt_ack.py)."""
    import socket

    from shoal.hosts.ssh import _PromptAckSocket

    host.run(["true"])
    sock = host._transport().sock
    assert isinstance(sock, _PromptAckSocket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    host._transport().close()  # the connection drops; the next command makes a new one
    host.run(["true"])
    assert host._transport().sock is not sock
    assert isinstance(host._transport().sock, _PromptAckSocket)
    assert host._transport().sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_password_login(password_host, sshd):
    assert password_host.run(["id", "-un"]).stdout == f"{sshd.password_user}\n"


def test_wrong_password_is_a_failed_command_without_the_password(sshd, caplog):
    if sshd.password_user is None:
        pytest.skip("no throw-away user for password logins")
    caplog.set_level(logging.DEBUG)
    wrong = f"not-{sshd.password}"
    h = SSHHost(sshd.address, user=sshd.password_user, port=sshd.port, password=wrong)
    with pytest.raises(CommandError) as info:
        h.run(["true"])
    assert info.value.returncode == 255
    assert "Authentication" in str(info.value)
    assert wrong not in str(info.value) and wrong not in caplog.text


def test_unreachable_host_is_exit_255(sshd):
    h = SSHHost(sshd.address, port=1, key_file=sshd.key_file, connect_timeout=5)
    start = time.monotonic()
    result = h.run(["true"], check=False)
    assert result.returncode == 255 and result.stderr.startswith("ssh: ")
    assert time.monotonic() - start < 5


# -- results, errors, quoting ---------------------------------------------------------


def test_failure_raises_command_error_with_stderr(host):
    argv = ["sh", "-c", "echo partial; echo 'dataset is broken' >&2; exit 3"]
    with pytest.raises(CommandError) as info:
        host.run(argv)
    err = info.value
    assert err.returncode == 3
    assert err.stderr == "dataset is broken\n"
    assert err.result.stdout == "partial\n"
    assert "exit 3" in str(err) and "dataset is broken" in str(err)
    # check=False hands the failure back instead
    assert host.run(argv, check=False).returncode == 3


def test_command_killed_by_a_signal_fails(host):
    with pytest.raises(CommandError) as info:
        host.run(["sh", "-c", "kill -9 $$"])
    assert info.value.returncode == 255
    assert "without an exit status" in info.value.stderr


def test_argv_items_arrive_verbatim(host, tmp_path):
    items = [
        "two words",
        "it's",
        'double "quoted"',
        f"a;touch {tmp_path}/pwned-semicolon",
        f"$(touch {tmp_path}/pwned-subst)",
        f"`touch {tmp_path}/pwned-backtick`",
        f"x && touch {tmp_path}/pwned-and",
        f"x | touch {tmp_path}/pwned-pipe",
        f"> {tmp_path}/pwned-redirect",
        "line one\nline two",
        "tab\there",
        "$HOME ${PATH} ~ * ?",
        "back\\slash",
        "",
        "-n",
        "ünïcödé ✓",
    ]
    out = host.run(["printf", "%s\\0", *items]).stdout
    assert out.split("\0")[:-1] == items
    assert list(tmp_path.iterdir()) == []


def test_no_shell_injection_through_printf(host, tmp_path):
    target = tmp_path / "pwned"
    assert host.run(["printf", "%s", f"a;touch {target}"]).stdout == f"a;touch {target}"
    assert not target.exists()


def test_input_goes_to_stdin(host):
    assert host.run(["cat"], input="hello\nworld\n").stdout == "hello\nworld\n"
    # larger than the SSH window both ways: input and output flow at the same time
    big = "0123456789abcdef\n" * (3 * 1024 * 1024 // 17)
    assert host.run(["cat"], input=big, timeout=60).stdout == big


def test_stats_count_commands_and_failures(host):
    count, failures = STATS.count, STATS.failures
    host.run(["true"])
    host.run(["false"], check=False)
    with pytest.raises(CommandTimeout):
        host.run(["sleep", "4.25"], timeout=0.5)
    assert STATS.count == count + 3
    assert STATS.failures == failures + 2
    assert "sleep 4.25" not in STATS.running.values()  # finished, even though it timed out


# -- timeouts, retries, the connection -----------------------------------------------


def test_timeout_raises_and_the_connection_stays_usable(host, connects):
    host.run(["true"])
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as info:
        host.run(["sh", "-c", "echo started; sleep 30"], timeout=1)
    assert time.monotonic() - start < 5
    assert "timed out after 1" in str(info.value)
    assert info.value.result.stdout == "started\n"  # what it printed before the deadline
    assert host.run(["echo", "still here"]).stdout == "still here\n"
    assert len(connects) == 1


def _running(*argv: str) -> list[int]:
    """Live processes whose command line is exactly `argv`."""
    want, pids = ("\0".join(argv) + "\0").encode(), []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes() == want and _alive(int(proc.name)):
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


def test_timeout_kills_the_command_of_a_non_root_login(password_host):
    with pytest.raises(CommandTimeout):
        password_host.run(["sh", "-c", "sleep 299.5; echo never"], timeout=1)
    deadline = time.monotonic() + 5
    while _running("sleep", "299.5") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running("sleep", "299.5") == []
    assert password_host.run(["echo", "ok"]).stdout == "ok\n"


def test_timeout_is_one_deadline_not_per_read(host):
    # prints something every 0.3 s: a per-read timeout of 1 s would never fire
    start = time.monotonic()
    with pytest.raises(CommandTimeout):
        host.run(["sh", "-c", "while :; do echo tick; sleep 0.3; done"], timeout=1.5)
    assert time.monotonic() - start < 5


def test_retry_retries_only_named_transient_failures(host, tmp_path):
    counter = tmp_path / "attempts"
    flaky = ["sh", "-c", 'n=$(($(cat "$1" 2>/dev/null || echo 0) + 1)); echo $n > "$1"; '
             '[ $n -ge 3 ] && exit 0; echo "$2" >&2; exit 1', "sh", str(counter)]
    busy = Retry(("dataset is busy",), attempts=5, first_delay=0.01)
    retries = STATS.retries

    host.run([*flaky, "cannot destroy: dataset is busy"], retry=busy)
    assert counter.read_text() == "3\n"
    assert STATS.retries == retries + 2

    counter.unlink()
    with pytest.raises(CommandError, match="permission denied"):
        host.run([*flaky, "permission denied"], retry=busy)
    assert counter.read_text() == "1\n"  # not named: no second attempt

    counter.unlink()
    with pytest.raises(CommandError, match="busy"):
        host.run([*flaky, "dataset is busy"], retry=Retry(("dataset is busy",), attempts=2, first_delay=0.01))
    assert counter.read_text() == "2\n"  # named, but out of attempts


def test_one_connection_is_reused(sshd, connects):
    h = SSHHost(sshd.address, port=sshd.port, key_file=sshd.key_file)
    before = set(sshd.sessions())
    try:
        for i in range(20):
            assert h.run(["echo", str(i)]).stdout == f"{i}\n"
        assert len(connects) == 1
        assert len(set(sshd.sessions()) - before) == 1  # the server saw one TCP connection
    finally:
        h.close()


def test_more_concurrent_commands_than_sshd_sessions(host, connects):
    # sshd allows MaxSessions (10) channels at once per connection; the rest wait their turn
    results = []

    def run(i):
        results.append(host.run(["sh", "-c", f"sleep 0.3; echo {i}"]).stdout)

    def pipe(i):
        results.append(host.pipe(["sh", "-c", f"sleep 0.3; echo {i}"], ["cat"]).stdout)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    threads += [threading.Thread(target=pipe, args=(i,)) for i in range(12, 16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(f"{i}\n" for i in range(16))
    assert len(connects) == 1


def test_input_eof_never_follows_the_close_of_its_channel(sshd, host, connects, monkeypatch):
    """A quick command's CLOSE from sshd can be handled by paramiko's transport thread
    (which answers it with a CLOSE, and sshd then frees the channel) between the moment
    the pump made the input's EOF and the moment it sent it: sshd then dropped the whole
    connection ("ieof packet referred to nonexistent channel"), failing every command
    on it (seen in bench/scale.py under load: a `zfs destroy`, rc 255). Here the EOF's
    send is held back until the channel is closed (2 s at most) to make that order
    happen; the EOF must go out first all the same. (`true` is given input: a
    command given none reads /dev/null and gets no EOF at all, see the next test.)"""
    from paramiko.common import cMSG_CHANNEL_EOF

    host.run(["true"])
    transport = host._transport()
    real = transport._send_user_message
    caller = threading.current_thread()

    def eof_after_close(message):
        data = message.asbytes()
        if threading.current_thread() is caller and data[:1] == cMSG_CHANNEL_EOF:
            remote_id = int.from_bytes(data[1:5], "big")
            (chan,) = [c for c in transport._channels.values() if c.remote_chanid == remote_id]
            deadline = time.monotonic() + 2
            while not chan.closed and time.monotonic() < deadline:
                time.sleep(0.01)
        return real(message)

    monkeypatch.setattr(transport, "_send_user_message", eof_after_close)
    log_before = len(sshd.log_text())
    assert host.run(["true"], input="unread").returncode == 0
    # sshd reads in order: an EOF for a freed channel drops the connection before this opens.
    assert host.run(["echo", "same connection"]).stdout == "same connection\n"
    assert "nonexistent channel" not in sshd.log_text()[log_before:]
    assert len(connects) == 1


def test_a_command_given_no_input_reads_nothing_and_is_sent_no_eof(host, monkeypatch):
    """Without input a command's stdin is /dev/null on the remote side: `cat` ends at
    once although the pump sends it no EOF (it would wait for one until the timeout
    otherwise), so no EOF of the pump's can follow a CLOSE."""
    from shoal.hosts import ssh

    real, eofs = ssh._send_eof, []
    monkeypatch.setattr(ssh, "_send_eof", lambda chan: (eofs.append(chan), real(chan)))
    assert host.run(["cat"], timeout=30).stdout == ""
    assert eofs == []
    assert host.run(["cat"], input="given").stdout == "given"
    assert len(eofs) == 1
    assert host.pipe(["echo", "through"], ["cat"]).stdout == "through\n"
    assert len(eofs) == 2  # the consumer's, not the producer's


def test_reconnects_after_the_server_drops_the_connection(sshd, host, connects):
    assert host.run(["echo", "one"]).stdout == "one\n"
    assert sshd.kill_sessions() >= 1
    assert host.run(["echo", "two"]).stdout == "two\n"  # no failed command in between
    assert len(connects) == 2


# -- pipe --------------------------------------------------------------------------


@pytest.fixture
def random_file(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(os.urandom(5 * 1024 * 1024))
    return path


def test_pipe_streams_5mib_intact(host, random_file, tmp_path):
    digest = hashlib.sha256(random_file.read_bytes()).hexdigest()
    result = host.pipe(["cat", str(random_file)], ["sha256sum"])
    assert result.stdout.split()[0] == digest
    assert result.argv == ("cat", str(random_file), "|", "sha256sum")

    copy = tmp_path / "copy.bin"
    host.pipe(["cat", str(random_file)], ["dd", f"of={copy}", "bs=1M", "status=none"])
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest


def test_pipe_with_a_consumer_that_prints_as_much_as_it_reads(host, random_file, tmp_path):
    # the consumer's stdout must be drained while its stdin is fed, or both sides stall
    copy = tmp_path / "copy.b64"
    result = host.pipe(["base64", str(random_file)], ["tee", str(copy)], timeout=60)
    assert result.stdout == copy.read_text()
    assert len(result.stdout) > 6 * 1024 * 1024


def test_pipe_reports_a_failing_producer(host):
    with pytest.raises(CommandError) as info:
        host.pipe(["cat", "/nonexistent/shoal"], ["sha256sum"])
    assert info.value.returncode == 1
    assert "producer exit 1" in str(info.value)
    assert "No such file" in info.value.stderr


def test_pipe_reports_a_failing_consumer(host):
    with pytest.raises(CommandError) as info:
        host.pipe(["echo", "data"], ["sh", "-c", "cat >/dev/null; echo 'no space left' >&2; exit 4"])
    assert info.value.returncode == 4
    assert "consumer exit 4" in str(info.value) and "no space left" in str(info.value)


def test_pipe_stops_the_producer_when_the_consumer_quits(host):
    start = time.monotonic()
    with pytest.raises(CommandError, match="producer stopped"):
        host.pipe(["cat", "/dev/zero"], ["head", "-c", "10"], timeout=30)
    assert time.monotonic() - start < 10


def test_pipe_has_one_deadline_and_the_host_stays_usable(host, connects):
    count = STATS.count
    start = time.monotonic()
    with pytest.raises(CommandTimeout):
        host.pipe(["sleep", "30"], ["cat"], timeout=1)
    assert time.monotonic() - start < 5
    assert STATS.count == count + 1
    assert host.run(["echo", "ok"]).stdout == "ok\n"
    assert len(connects) == 1


# -- files and signals ---------------------------------------------------------------


def test_write_file_sets_mode_and_leaves_no_temporary(host, tmp_path):
    path = tmp_path / "sub dir" / "export.conf"
    host.write_file(str(path), "first\n", mode=0o600)
    assert path.read_text() == "first\n"
    assert path.stat().st_mode & 0o777 == 0o600
    host.write_file(str(path), "second ünï\n", mode=0o640)
    assert path.read_text() == "second ünï\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert os.listdir(path.parent) == ["export.conf"]


def test_write_file_is_atomic_for_readers(host, tmp_path):
    path = tmp_path / "big.conf"
    versions = ["A" * 300_000, "B" * 300_000]
    host.write_file(str(path), versions[0])
    seen, stop = set(), threading.Event()

    def reader():
        while not stop.is_set():
            seen.add(path.read_text())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(4):
            host.write_file(str(path), versions[i % 2])
    finally:
        stop.set()
        thread.join()
    assert seen <= set(versions)


def test_read_file(host, tmp_path):
    path = tmp_path / "f.txt"
    assert host.read_file(str(path)) is None
    path.write_text("text\n")
    assert host.read_file(str(path)) == "text\n"
    with pytest.raises(CommandError):
        host.read_file(str(tmp_path))  # a directory: an error, not "missing"


def test_file_size_and_read_from(host, tmp_path):
    path = tmp_path / "log"
    assert host.file_size(str(path)) == 0
    assert host.read_from(str(path), 0) == ""
    path.write_text("0123456789")
    assert host.file_size(str(path)) == 10
    assert host.read_from(str(path), 0) == "0123456789"
    assert host.read_from(str(path), 4) == "456789"
    assert host.read_from(str(path), 10) == ""


def test_set_file_size_makes_grows_and_cuts_sparse_files(host, tmp_path):
    check_set_file_size(host, tmp_path)


def test_set_mode_sets_the_bits_as_given(host, tmp_path):
    check_set_mode(host, tmp_path)


def test_write_files_and_remove_files(host, tmp_path, monkeypatch):
    check_write_files(host, tmp_path)
    commands = []
    real_run = host.run
    monkeypatch.setattr(host, "run", lambda argv, **kw: (commands.append(argv[0]), real_run(argv, **kw))[1])
    host.write_files(str(tmp_path / "many"), {f"f{n}.conf": f"{n}\n" for n in range(200)})
    host.remove_files([str(tmp_path / "many" / f"f{n}.conf") for n in range(200)])
    assert commands == ["mkdir", "mktemp", "tar", "find", "rm", "rm"], commands  # not one per file


def test_first_spawn_tells_when_the_command_has_started(host):
    check_first_spawn(host)


def test_watch_contract(host, tmp_path):
    """Nothing tells this side of a remote write: the watch sleeps, and the look at the file finds it."""
    check_watch(host, tmp_path)

def test_signal(host):
    pid = int(host.run(["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"]).stdout)
    assert not _gone(pid, within=0.2)
    host.signal(pid, signal.SIGTERM)
    assert _gone(pid)
    no_such_pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    with pytest.raises(CommandError):
        host.signal(no_such_pid, signal.SIGTERM)


def test_sudo_prefix(sshd):
    if not Path("/usr/bin/sudo").exists():
        pytest.skip("sudo is not installed")
    h = SSHHost(sshd.address, port=sshd.port, key_file=sshd.key_file, sudo=True)
    try:
        assert h.run(["id", "-un"]).stdout == "root\n"
    finally:
        h.close()


# -- secrets -----------------------------------------------------------------------------


def test_secrets_never_reach_logs_or_errors(sshd, password_host, caplog):
    caplog.set_level(logging.DEBUG)  # paramiko's debug logging included
    token = Secret("s3cret-chap-token")
    password_host.run(["printf", "%s", token])
    with pytest.raises(CommandError) as info:
        password_host.run(["sh", "-c", 'echo "bad token $1" >&2; exit 2', "sh", token])
    assert "***" in str(info.value)
    for text in (str(info.value), caplog.text):
        assert "s3cret-chap-token" not in text
        assert sshd.password not in text
    assert repr(password_host.password) == "'***'"
    assert sshd.password not in repr(vars(password_host))
