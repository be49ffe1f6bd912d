"""The tgt helper on a storage host reached over SSH (the private sshd of the
`sshd` fixture, a tgtd of the test's own) speaks tgtd's control socket through
the SSH connection (an OpenSSH direct-streamlocal channel): no tgtadm, no
process at all on the host per request. Checked from outside with libiscsi:
the LUN, CHAP and the initiator ACL of each target hold; a request to a control
port where no tgtd listens fails as tgtadm's would."""

from __future__ import annotations

import logging
import shutil

import paramiko
import pytest

from shoal.exports.iscsi.tgt import TgtHelper
from shoal.hosts import SSHHost
from tests.integration.test_tgt_bulk_ssh import check_from_outside, recorded, targets

pytestmark = pytest.mark.integration

for _tool in ("iscsi-inq", "qemu-io"):
    if not shutil.which(_tool):
        pytest.skip(f"{_tool} is not installed: run scripts/host-setup", allow_module_level=True)


def test_targets_made_and_removed_through_tgtds_socket_over_ssh(sshd, tgtd_factory, tmp_path, monkeypatch):
    local = tgtd_factory()
    host = SSHHost(sshd.address, port=sshd.port, key_file=sshd.key_file)
    helper = TgtHelper(host, portals=[local.portal], control_port=local.control_port, manage_daemon=False)
    wanted = targets(tmp_path, 12)
    commands = recorded(host, monkeypatch)
    try:
        helper.ensure(wanted)
        assert commands == [], commands  # nothing ran on the host: every request went down the socket
        check_from_outside(local, wanted)
        helper.remove(wanted[0].key)
        shown = helper.targets()
        assert wanted[0].iqn not in {t.iqn for t in shown}
        assert {t.iqn for t in wanted[1:]} <= {t.iqn for t in shown}
        assert commands == [], commands
    finally:
        for target in wanted:
            helper.remove(target.key)
        host.close()


def test_no_tgtd_on_the_control_port_fails_as_tgtadm_would(sshd, caplog):
    """... and quietly: the daemon watch asks a tgtd that is down every second, and
    paramiko logged each refused stream at ERROR."""
    host = SSHHost(sshd.address, port=sshd.port, key_file=sshd.key_file)
    try:
        helper = TgtHelper(host, portals=["127.0.0.1:3260"], control_port=4097, manage_daemon=False)
        with caplog.at_level(logging.DEBUG, logger="paramiko"):
            assert not helper.answering()
            result = helper._run("--op", "show", "--mode", "sys", check=False)
        assert result.returncode != 0 and "can't send the request to tgtd" in result.stderr, result
        assert helper._socket is not None  # a daemon that is not there is no reason to give up the socket
        refusals = [r for r in caplog.records if r.name.startswith("paramiko") and "open FAILED" in r.getMessage()]
        assert not refusals, [r.getMessage() for r in refusals]
        with caplog.at_level(logging.DEBUG, logger="paramiko"), pytest.raises(paramiko.ChannelException):
            host._transport().open_channel("direct-tcpip", ("127.0.0.1", 1), ("127.0.0.1", 0))
        # other channels' refusals are still logged
        assert any("open FAILED" in r.getMessage() for r in caplog.records if r.name.startswith("paramiko"))
    finally:
        host.close()
