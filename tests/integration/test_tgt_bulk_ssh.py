"""The tgt helper on a storage host reached over SSH (the private sshd of the
`sshd` fixture, a tgtd of the test's own) whose sshd does not forward to unix
sockets (a login with a `restrict`ed key), so tgtadm carries every request:
after a restart of tgtd every target is made again by ONE command on the host
(xargs running tgtadm per line of an argument file), not five or more SSH round
trips per target; each target is then checked as usual. Checked from outside
with libiscsi: the LUN, CHAP and the initiator ACL of each target hold."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from shoal.exports.iscsi.base import Chap, IscsiTarget
from shoal.exports.iscsi.tgt import TgtHelper
from shoal.hosts import SSHHost
from tests.integration.test_tgt_targets import qemu_io

pytestmark = pytest.mark.integration

for _tool in ("iscsi-inq", "qemu-io"):
    if not shutil.which(_tool):
        pytest.skip(f"{_tool} is not installed: run scripts/host-setup", allow_module_level=True)

MiB = 1024 * 1024
HOST1 = "iqn.2026-11.org.shoal.test-client:bulk1"
HOST2 = "iqn.2026-11.org.shoal.test-client:bulk2"
STRANGER = "iqn.2026-11.org.shoal.test-client:stranger"


def targets(tmp_path: Path, count: int) -> list[IscsiTarget]:
    made = []
    for n in range(count):
        key = str(uuid.uuid4())
        backing = tmp_path / f"volume{n}.img"
        with open(backing, "wb") as fh:
            fh.write(bytes([n + 1]) * 4096)
            fh.truncate(16 * MiB)
        made.append(IscsiTarget(key, f"iqn.2026-11.org.shoal.test:bulk-{key}", str(backing),
                                Chap(f"bulk{n}x{os.getpid()}", f"secret{n}{uuid.uuid4().hex[:12]}"),
                                initiators=(HOST1, HOST2) if n % 2 else (HOST1,)))
    return made


def check_from_outside(local, wanted: list[IscsiTarget]) -> None:
    """Each target's LUN, CHAP account and initiator ACL as a client meets them (libiscsi)."""
    for n, target in enumerate(wanted):
        url = local.url(target.iqn, target.lun, target.chap.user, target.chap.secret)
        assert local.client("iscsi-inq", url, HOST1).returncode == 0, target
        assert (local.client("iscsi-inq", url, HOST2).returncode == 0) == bool(n % 2), target
        wrong = local.url(target.iqn, target.lun, target.chap.user, "not" + target.chap.secret)
        assert local.client("iscsi-inq", wrong, HOST1).returncode != 0
    stranger = local.url(wanted[0].iqn, 1, wanted[0].chap.user, wanted[0].chap.secret)
    assert local.client("iscsi-inq", stranger, STRANGER).returncode != 0
    spec = local.qemu(wanted[3].iqn, wanted[3].chap.user, wanted[3].chap.secret, HOST1, size=MiB)
    read = qemu_io(spec, "read -P 4 0 4k")  # the fourth file's own bytes
    assert read.returncode == 0 and "Pattern verification failed" not in read.stdout, read


def recorded(host: SSHHost, monkeypatch) -> list[tuple[str, ...]]:
    """The argv of every command `host` runs from now on."""
    commands: list[tuple[str, ...]] = []
    real_run = host.run
    monkeypatch.setattr(host, "run", lambda argv, **kw: (commands.append(tuple(argv)), real_run(argv, **kw))[1])
    return commands


@pytest.fixture
def restricted_key(sshd, tmp_path):
    """A key of root's that sshd lets run commands but forward nothing (`restrict`)."""
    key = tmp_path / "restricted_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "shoal-test-restricted", "-f", str(key)],
                   check=True, capture_output=True)
    authorized = Path(sshd.key_file).parent / "authorized_keys"
    before = authorized.read_text()
    authorized.write_text(before + "restrict " + key.with_suffix(".pub").read_text())
    try:
        yield str(key)
    finally:
        authorized.write_text(before)


def test_targets_lost_with_tgtd_come_back_in_one_command_over_ssh(sshd, restricted_key, tgtd_factory, tmp_path,
                                                                  monkeypatch):
    local = tgtd_factory()
    host = SSHHost(sshd.address, port=sshd.port, key_file=restricted_key)
    helper = TgtHelper(host, portals=[local.portal], control_port=local.control_port, manage_daemon=False)
    wanted = targets(tmp_path, 12)
    commands = recorded(host, monkeypatch)
    try:
        helper.ensure(wanted)
        tgtadm = [argv for argv in commands if argv[0] == "tgtadm"]
        assert [argv[0] for argv in commands].count("xargs") == 1
        # One that finds tgtd answering where a stream to its socket was refused (the socket
        # is given up then), the reads of tgtd's state; none per target.
        assert len(tgtadm) <= 5, tgtadm
        assert helper._socket is None
        assert not any(t.chap.secret in " ".join(argv) for argv in commands for t in wanted)
        assert host.run(["ls", "/run"]).stdout.count("shoal-tgt-") == 0  # the argument file is gone
        check_from_outside(local, wanted)

        commands.clear()
        helper.ensure(wanted)  # all in place: nothing to make, nothing per target
        assert [argv[0] for argv in commands].count("xargs") == 0
        assert len([argv for argv in commands if argv[0] == "tgtadm"]) <= 2
    finally:
        for target in wanted:
            helper.remove(target.key)
        host.close()
