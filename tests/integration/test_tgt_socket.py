"""TgtSocket (tgtd's management protocol, spoken by Shoal) against a real tgtd,
answer for answer beside the real `tgtadm`: the same output for every query,
the same exit status and words for every refusal, and changes that tgtadm
then sees. A tgtd of the test's own (tests/fixtures/tgtd.py)."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from shoal.exports.iscsi.tgt import parse_targets
from shoal.exports.iscsi.tgt_ipc import TgtSocket, encode_request
from shoal.hosts import STATS, CommandError, LocalHost, Secret

pytestmark = pytest.mark.integration

INITIATOR = "iqn.2026-11.org.shoal.test-client:socket"


@pytest.fixture
def daemon(tgtd_factory):
    return tgtd_factory()


def tgtadm(port: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["tgtadm", "-C", str(port), "--lld", "iscsi", *args], capture_output=True, text=True,
                          timeout=30)


def both(port: int, *args: str) -> tuple[tuple, tuple]:
    """(returncode, stdout, stderr) from the socket and from tgtadm, for the same request."""
    mine = TgtSocket(port, LocalHost().connect_unix).run(("--lld", "iscsi", *args), check=False)
    theirs = tgtadm(port, *args)
    return (mine.returncode, mine.stdout, mine.stderr), (theirs.returncode, theirs.stdout, theirs.stderr)


def test_a_whole_export_made_through_the_socket_is_what_tgtadm_shows(daemon, tmp_path):
    backing = tmp_path / "lun.raw"
    backing.write_bytes(b"\0" * 1024 * 1024)
    iqn = f"iqn.2026-11.org.shoal.test:{uuid.uuid4().hex[:12]}"
    sock = TgtSocket(daemon.control_port, LocalHost().connect_unix)
    for args in (
        ("--op", "new", "--mode", "target", "--tid", "1", "-T", iqn),
        ("--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "--bstype", "rdwr", "-b", str(backing)),
        ("--op", "new", "--mode", "account", "--user", "sockuser", "--password", Secret("secretsecret12")),
        ("--op", "bind", "--mode", "account", "--tid", "1", "--user", "sockuser"),
        ("--op", "bind", "--mode", "target", "--tid", "1", "-Q", INITIATOR),
    ):
        assert sock.run(("--lld", "iscsi", *args)).returncode == 0
    [target] = parse_targets(tgtadm(daemon.control_port, "--op", "show", "--mode", "target").stdout)
    assert (target.tid, target.iqn, target.accounts, target.acl) == (1, iqn, ["sockuser"], [INITIATOR])
    assert target.lun(1).backing_path == str(backing) and target.lun(1).backing_type == "rdwr"
    for mode in ("target", "account", "portal", "sys"):  # every query Shoal makes: the same text
        mine, theirs = both(daemon.control_port, "--op", "show", "--mode", mode)
        assert mine == theirs and mine[1], mode
    # the LUN update Shoal uses for a resize, and a delete with sessions cut
    assert sock.run(("--lld", "iscsi", "--op", "update", "--mode", "logicalunit", "--tid", "1", "--lun", "1",
                     "--params", f"online=0,path={backing}")).returncode == 0
    assert sock.run(("--lld", "iscsi", "--op", "delete", "--mode", "target", "--tid", "1", "--force")).returncode == 0
    assert sock.run(("--lld", "iscsi", "--op", "delete", "--mode", "account", "--user", "sockuser")).returncode == 0
    assert parse_targets(tgtadm(daemon.control_port, "--op", "show", "--mode", "target").stdout) == []


def test_refusals_carry_tgtadms_status_and_words(daemon, tmp_path):
    port = daemon.control_port
    iqn = f"iqn.2026-11.org.shoal.test:{uuid.uuid4().hex[:12]}"
    assert tgtadm(port, "--op", "new", "--mode", "target", "--tid", "3", "-T", iqn).returncode == 0
    refused = [
        ("--op", "new", "--mode", "target", "--tid", "3", "-T", iqn + "x"),  # tid taken
        ("--op", "delete", "--mode", "target", "--tid", "9"),
        ("--op", "new", "--mode", "logicalunit", "--tid", "3", "--lun", "1", "-b", str(tmp_path / "missing")),
        ("--op", "delete", "--mode", "account", "--user", "nobody"),
        ("--op", "bind", "--mode", "account", "--tid", "3", "--user", "nobody"),
        ("--op", "unbind", "--mode", "target", "--tid", "3", "-Q", INITIATOR),
        ("--op", "unbind", "--mode", "account", "--tid", "3", "--user", "nobody", "--outgoing"),
    ]
    for args in refused:
        mine, theirs = both(port, *args)
        assert mine == theirs, args
        assert mine[0] == 22 and mine[2].startswith("tgtadm: "), args


def test_a_refusal_raises_like_a_failed_command_and_is_counted(daemon):
    before = STATS.failures
    with pytest.raises(CommandError) as caught:
        TgtSocket(daemon.control_port, LocalHost().connect_unix).run(("--lld", "iscsi", "--op", "delete", "--mode", "target", "--tid", "9"))
    assert "can't find the target" in caught.value.stderr
    assert STATS.failures == before + 1


def test_no_daemon_on_the_port_is_a_failure_not_a_hang(daemon):
    port = daemon.control_port
    daemon.stop()
    result = TgtSocket(port, LocalHost().connect_unix).run(("--lld", "iscsi", "--op", "show", "--mode", "sys"), check=False, timeout=5)
    assert result.returncode != 0 and "tgtd" in result.stderr


def test_secrets_stay_out_of_the_argv_it_reports():
    sock = TgtSocket(999999, LocalHost().connect_unix, socket_path="/nonexistent/socket")
    result = sock.run(("--lld", "iscsi", "--op", "new", "--mode", "account", "--user", "u",
                       "--password", Secret("hunter2hunter2")), check=False)
    assert "hunter2hunter2" not in repr(result) and "hunter2hunter2" not in str(CommandError(result))


def test_unknown_options_are_refused_before_anything_is_sent():
    with pytest.raises(ValueError):
        encode_request(("--op", "show", "--mode", "target", "--frobnicate", "1"))
