"""The tgt helper against a real tgtd, checked from outside with libiscsi and qemu.

The daemon is the session's private instance (tests/fixtures/tgtd.py) on its own
control port and portal; tests that kill it use a private instance of their
own. Each test exports sparse 64 MiB files of its own under fresh IQNs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from shoal.exports.iscsi.base import Chap, IscsiTarget
from shoal.exports.iscsi.tgt import TgtError, TgtHelper
from shoal.hosts import LocalHost

pytestmark = pytest.mark.integration

for _tool in ("iscsi-ls", "iscsi-inq", "iscsi-readcapacity16", "qemu-img", "qemu-io"):
    if not shutil.which(_tool):
        pytest.skip(f"{_tool} is not installed: run scripts/host-setup", allow_module_level=True)

MiB = 1024 * 1024
HOST1 = "iqn.2026-11.org.shoal.test-client:host1"
HOST2 = "iqn.2026-11.org.shoal.test-client:host2"
STRANGER = "iqn.2026-11.org.shoal.test-client:stranger"
_numbers = itertools.count(1)


def sha256(path: Path, size: int) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read(size)).hexdigest()


def sparse_file(path: Path, size: int = 64 * MiB) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


@pytest.fixture
def export(tgtd, tmp_path):
    """make(*initiators, helper=, chap=) -> an applied IscsiTarget on a fresh sparse file;
    every target made is removed after the test."""
    made: list[tuple[TgtHelper, IscsiTarget]] = []

    def make(*initiators: str, helper: TgtHelper | None = None, chap: Chap | None = None) -> IscsiTarget:
        n = next(_numbers)
        key = str(uuid.uuid4())
        target = IscsiTarget(
            key=key,
            iqn=f"iqn.2026-11.org.shoal.test:volume-{key}",
            backing=str(sparse_file(tmp_path / f"volume{n}.img")),
            chap=chap or Chap(f"user{n}x{os.getpid()}", f"secret{n}{uuid.uuid4().hex[:12]}"),
            initiators=tuple(initiators),
        )
        helper = helper or tgtd.helper
        made.append((helper, target))
        helper.apply(target)
        return target

    yield make
    for helper, target in made:
        helper.remove(target.key)


def inq(tgtd, target: IscsiTarget, initiator: str, secret: str | None = None) -> subprocess.CompletedProcess:
    url = tgtd.url(target.iqn, target.lun, target.chap.user, secret or target.chap.secret)
    return tgtd.client("iscsi-inq", url, initiator)


def capacity(tgtd, target: IscsiTarget, initiator: str = HOST1) -> int:
    url = tgtd.url(target.iqn, target.lun, target.chap.user, target.chap.secret)
    result = tgtd.client("iscsi-readcapacity16", url, initiator, "-s")
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


def logs_in(tgtd, target: IscsiTarget, initiator: str) -> bool:
    return inq(tgtd, target, initiator).returncode == 0


def qemu_img(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=120)


def qemu_io(spec: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-io", "-f", "raw", "-c", command, spec], capture_output=True, text=True, timeout=120)


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def wait_for_session(tgtd, target: IscsiTarget, initiator: str, process: subprocess.Popen) -> None:
    """Until tgtd shows `initiator` logged in to `target` (through `process`)."""
    deadline = time.monotonic() + 30
    while not any(s.initiator == initiator for t in tgtd.helper.targets() if t.iqn == target.iqn for s in t.sessions):
        assert time.monotonic() < deadline and process.poll() is None, f"{initiator} did not log in"
        time.sleep(0.05)


def backing_open_in(pids: list[int], path: str) -> bool:
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                if os.path.realpath(fd) == os.path.realpath(path):
                    return True
        except OSError:
            continue
    return False


# -- visibility, CHAP, ACL --------------------------------------------------------------


def test_exported_lun_is_seen_with_chap_by_an_allowed_initiator(tgtd, export):
    target = export(HOST1)
    url = tgtd.url(user=target.chap.user, secret=target.chap.secret)
    listing = tgtd.client("iscsi-ls", url, HOST1, "-s")
    assert listing.returncode == 0, output(listing)
    assert f"Target:{target.iqn}" in listing.stdout
    assert "Lun:1" in listing.stdout and "DIRECT_ACCESS" in listing.stdout
    result = inq(tgtd, target, HOST1)
    assert result.returncode == 0, output(result)
    assert "DIRECT_ACCESS" in result.stdout
    assert capacity(tgtd, target) == 64 * MiB


def test_wrong_or_missing_chap_secret_fails(tgtd, export):
    target = export(HOST1)
    wrong = inq(tgtd, target, HOST1, secret="not-the-secret-1234")
    assert wrong.returncode != 0 and "Authentication failure" in output(wrong)
    anonymous = tgtd.client("iscsi-inq", tgtd.url(target.iqn, 1), HOST1)
    assert anonymous.returncode != 0


def test_initiator_not_in_acl_is_refused_and_does_not_see_the_target(tgtd, export):
    target = export(HOST1)
    refused = inq(tgtd, target, STRANGER)
    assert refused.returncode != 0 and "Target not found" in output(refused)
    url = tgtd.url(user=target.chap.user, secret=target.chap.secret)
    assert target.iqn not in tgtd.client("iscsi-ls", url, STRANGER).stdout


def test_no_initiators_means_nobody(tgtd, export):
    target = export()
    assert not logs_in(tgtd, target, HOST1)
    assert not logs_in(tgtd, target, STRANGER)


def test_removing_an_initiator_from_the_acl_refuses_it_afterwards(tgtd, export):
    target = export(HOST1, HOST2)
    assert logs_in(tgtd, target, HOST1) and logs_in(tgtd, target, HOST2)
    tgtd.helper.apply(dataclasses.replace(target, initiators=(HOST2,)))
    assert not logs_in(tgtd, target, HOST1)
    assert logs_in(tgtd, target, HOST2)
    tgtd.helper.apply(dataclasses.replace(target, initiators=()))
    assert not logs_in(tgtd, target, HOST2)


def test_address_acl_entries_are_removed(tgtd, export):
    """An `-I ALL` binding made by hand would let anyone in: apply takes it out."""
    target = export(HOST1)
    tid = next(t.tid for t in tgtd.helper.targets() if t.iqn == target.iqn)
    subprocess.run(
        ["tgtadm", "-C", str(tgtd.control_port), "--lld", "iscsi", "--op", "bind", "--mode", "target",
         "--tid", str(tid), "-I", "ALL"], check=True,
    )  # fmt: skip
    assert logs_in(tgtd, target, STRANGER)
    tgtd.helper.apply(target)
    assert not logs_in(tgtd, target, STRANGER)
    assert logs_in(tgtd, target, HOST1)


def test_changed_secret_takes_effect_and_the_old_one_fails(tgtd, export):
    target = export(HOST1)
    changed = dataclasses.replace(target, chap=Chap(target.chap.user, "a-brand-new-secret-99"))
    tgtd.helper.apply(changed)
    assert inq(tgtd, changed, HOST1).returncode == 0
    old = inq(tgtd, target, HOST1)
    assert old.returncode != 0 and "Authentication failure" in output(old)


def test_a_new_process_resets_unknown_secrets_without_opening_the_target(tgtd, export):
    """A helper that never set the secret (Shoal restarted) re-creates the account
    behind a guard account: the target never accepts a login without CHAP."""
    target = export(HOST1)
    fresh = TgtHelper(LocalHost(name="another-process"), portals=[tgtd.portal], control_port=tgtd.control_port)
    fresh.apply(target)
    anonymous = tgtd.client("iscsi-inq", tgtd.url(target.iqn, 1), HOST1)
    assert anonymous.returncode != 0
    assert logs_in(tgtd, target, HOST1)
    [shown] = [t for t in tgtd.helper.targets() if t.iqn == target.iqn]
    assert shown.accounts == [target.chap.user]  # the guard is gone


def test_apply_twice_changes_nothing(tgtd, export):
    target = export(HOST1, HOST2)
    seen: list[tuple[str, ...]] = []

    class Recording(TgtHelper):  # every request to tgtd, by socket or by tgtadm
        def _run(self, *args, **kw):
            seen.append(args)
            return super()._run(*args, **kw)

    Recording(LocalHost(), portals=[tgtd.portal], control_port=tgtd.control_port).apply(target)
    assert seen and all("show" in args for args in seen), seen


# -- data -------------------------------------------------------------------------------


def test_data_written_over_iscsi_lands_in_the_backing_file_and_reads_back(tgtd, export, tmp_path):
    target = export(HOST1)
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(4 * MiB))
    spec = tgtd.qemu(target.iqn, target.chap.user, target.chap.secret, HOST1, size=4 * MiB)
    written = qemu_img("convert", "-n", "-f", "raw", "-O", "raw", str(source), spec)
    assert written.returncode == 0, written.stderr
    assert sha256(Path(target.backing), 4 * MiB) == sha256(source, 4 * MiB)
    back = tmp_path / "back.bin"
    read = qemu_img("convert", "-O", "raw", spec, str(back))
    assert read.returncode == 0, read.stderr
    assert sha256(back, 4 * MiB) == sha256(source, 4 * MiB)


def test_two_initiators_attached_at_once_both_work(tgtd, export):
    """Multi-attach: one initiator keeps a session open while the other writes;
    the first then reads what the second wrote."""
    target = export(HOST1, HOST2)
    first = subprocess.Popen(
        ["qemu-io", "-f", "raw", tgtd.qemu(target.iqn, target.chap.user, target.chap.secret, HOST1)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_session(tgtd, target, HOST1, first)
        second = qemu_io(tgtd.qemu(target.iqn, target.chap.user, target.chap.secret, HOST2), "write -P 0xcd 1M 64k")
        assert second.returncode == 0 and "wrote 65536/65536" in second.stdout, output(second)
        out, err = first.communicate("read -P 0xcd 1M 64k\nquit\n", timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert "read 65536/65536" in out and "Pattern verification failed" not in out + err, out + err


# -- resize -----------------------------------------------------------------------------


def test_resize_shows_the_new_capacity_and_keeps_the_data_and_sessions(tgtd, export):
    target = export(HOST1, HOST2)
    spec = tgtd.qemu(target.iqn, target.chap.user, target.chap.secret, HOST1)
    wrote = qemu_io(spec, "write -P 0x5a 0 1M")
    assert wrote.returncode == 0, output(wrote)
    assert capacity(tgtd, target) == 64 * MiB
    attached = subprocess.Popen(  # HOST2 stays logged in across the resize
        ["qemu-io", "-f", "raw", tgtd.qemu(target.iqn, target.chap.user, target.chap.secret, HOST2)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_session(tgtd, target, HOST2, attached)
        os.truncate(target.backing, 128 * MiB)
        tgtd.helper.resize(target.key)
        assert capacity(tgtd, target) == 128 * MiB
        out, err = attached.communicate("read -P 0x5a 0 1M\nwrite -P 0x77 2M 64k\nquit\n", timeout=60)
    finally:
        if attached.poll() is None:
            attached.kill()
            attached.communicate()
    assert "read 1048576/1048576" in out and "wrote 65536/65536" in out, out + err
    assert "Pattern verification failed" not in out + err
    check = qemu_io(spec, "read -P 0x77 2M 64k")
    assert check.returncode == 0 and "Pattern verification failed" not in check.stdout, output(check)
    beyond = qemu_io(spec, "write -P 0x11 100M 64k")  # past the old end: a new session sees the new size
    assert beyond.returncode == 0 and "wrote 65536/65536" in beyond.stdout, output(beyond)


# -- remove -----------------------------------------------------------------------------


def test_remove_is_idempotent_and_releases_the_backing_file(tgtd, export):
    target = export(HOST1)
    session = subprocess.Popen(
        ["qemu-io", "-f", "raw", tgtd.qemu(target.iqn, target.chap.user, target.chap.secret, HOST1)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert backing_open_in(tgtd.pids(), target.backing)
        tgtd.helper.remove(target.key)  # even with an initiator logged in
        tgtd.helper.remove(target.key)
        tgtd.helper.remove(target.iqn)
        tgtd.helper.remove("no-such-volume")
    finally:
        session.kill()
        session.communicate()
    assert target.iqn not in [t.iqn for t in tgtd.helper.targets()]
    assert not backing_open_in(tgtd.pids(), target.backing)
    assert not logs_in(tgtd, target, HOST1)
    accounts = subprocess.run(
        ["tgtadm", "-C", str(tgtd.control_port), "--lld", "iscsi", "--op", "show", "--mode", "account"],
        capture_output=True, text=True,
    ).stdout
    assert target.chap.user not in accounts.split()


def test_remove_by_key_in_a_new_process_finds_the_target_by_its_iqn(tgtd, export):
    target = export(HOST1)
    fresh = TgtHelper(LocalHost(name="yet-another-process"), portals=[tgtd.portal], control_port=tgtd.control_port)
    fresh.remove(target.key)  # the IQN ends with the key
    assert target.iqn not in [t.iqn for t in tgtd.helper.targets()]


# -- daemon -----------------------------------------------------------------------------


def test_running_daemon_has_no_problems_and_start_is_idempotent(tgtd):
    assert tgtd.helper.problems() == []
    pids = tgtd.pids()
    tgtd.helper.start()
    assert tgtd.pids() == pids
    assert [str(p) for p in tgtd.helper.portals()] == [tgtd.portal]


def test_ensure_after_a_tgtd_crash_brings_every_target_back(tgtd_factory, export):
    private = tgtd_factory()
    one = export(HOST1, helper=private.helper)
    two = export(HOST1, HOST2, helper=private.helper)
    private.kill()
    assert private.helper.problems() and not private.helper.healthy()
    private.helper.start()
    assert private.helper.targets() == []
    private.helper.ensure([one, two])
    for target, allowed in ((one, [HOST1]), (two, [HOST1, HOST2])):
        for initiator in allowed:
            assert logs_in(private, target, initiator)
        assert not logs_in(private, target, STRANGER)
        assert inq(private, target, HOST1, secret="wrong-secret-12345").returncode != 0
    assert private.helper.problems() == []


def test_ensure_starts_a_dead_daemon_it_owns(tgtd_factory, export):
    private = tgtd_factory()
    target = export(HOST1, helper=private.helper)
    private.kill()
    private.helper.ensure([target])
    assert logs_in(private, target, HOST1)
    assert capacity(private, target) == 64 * MiB


def test_a_lun_whose_reopen_failed_is_not_serving_until_ensure_opens_it_again(tgtd, export):
    """What a fresh pass meets when a backing file's file system is not mounted
    again yet: the re-open fails and leaves the LUN with no backing store, while
    the target is still listed. Such a target is not counted as serving, and an
    ensure() opens the file again."""
    target = export(HOST1)
    moved = Path(target.backing + ".away")
    Path(target.backing).rename(moved)
    tid = next(t.tid for t in tgtd.helper.targets() if t.iqn == target.iqn)
    with pytest.raises(TgtError):
        tgtd.helper._reopen(tid, target.lun, target.backing)
    assert target.iqn in tgtd.helper.iqns()
    assert tgtd.helper.target_states()[target.iqn] is False
    spec = tgtd.qemu(target.iqn, target.chap.user, target.chap.secret, HOST1, size=MiB)
    assert qemu_io(spec, "read 0 4k").returncode != 0  # nothing behind the LUN

    moved.rename(target.backing)
    tgtd.helper.ensure([target])
    assert tgtd.helper.target_states()[target.iqn] is True
    read = qemu_io(spec, "read 0 4k")
    assert read.returncode == 0, output(read)
