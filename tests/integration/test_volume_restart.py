"""Shoal and its tgtd go down; attached volumes come back, half-done work ends steady.

The story: host1 has a volume attached. Shoal's tgtd is killed (its targets
lived only in its memory): within a few periodic checks (2 s in the fixture)
Shoal restarts it and host1 reaches the volume again, with the same CHAP
account and ACL. Then Shoal itself restarts: host1 still reaches the volume.
Finally Shoal is stopped with one volume left `creating` and one left
`deleting` in its database: after the start the first is `error` and the
second is gone, dataset included. A detach cut short between its record and
its unexport leaves a target no attachment needs: the start removes it, and
so does the periodic check for one that appears while Shoal runs.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import uuid

import pytest

from tests.fixtures.shoal import restart_server, start_server, stop_server
from tests.fixtures.zfs import destroy_dataset

from .volume_helpers import (
    GiB,
    HOST1,
    MiB,
    STRANGER,
    Lun,
    assert_refused,
    messages_for,
    pattern,
    sha256,
    tgt_target,
    tgt_targets,
    tgtadm,
    tgtd_pids,
    volume_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
    wait_until,
    volume_iqn,
    zfs,
    zfs_exists,
)

pytestmark = pytest.mark.integration


def kill_tgtd(server) -> None:
    pids = tgtd_pids(server)
    assert pids, "Shoal's tgtd is not running"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    # Gone is: none of these left (the periodic check may start a new one at once).
    wait_until(lambda: set(tgtd_pids(server)).isdisjoint(pids), timeout=10, what="Shoal's tgtd gone")


@pytest.fixture
def attached(volume_api):
    """A 1 GiB volume attached to host1 with a pattern written through the LUN:
    (volume, attachment, lun, data)."""
    volume = volume_api.create_volume(1)
    attachment = volume_api.attach(volume["id"], HOST1)
    lun = Lun.of(attachment["connection_info"])
    data = pattern(f"restart-{volume['id']}")
    lun.write(HOST1, data)
    assert lun.capacity(HOST1) == GiB
    yield volume, attachment, lun, data
    if not tgtd_pids(volume_api.server):  # a failed test must not leave the session's Shoal without tgtd
        restart_server(volume_api.server)
    volume_api.detach(attachment["id"])
    assert_refused(lun, HOST1)
    volume_api.delete_volume(volume["id"])


def assert_served_as_before(volume_api, lun: Lun, data: bytes) -> None:
    """host1 reads the data with the same CHAP account; a wrong secret and a stranger are refused."""
    assert lun.capacity(HOST1) == GiB
    assert sha256(lun.read(HOST1, MiB)) == sha256(data)
    target = tgt_target(volume_api.server, lun.iqn)
    assert target.initiator_acl == [HOST1] and target.accounts == [lun.user] and not target.address_acl
    assert "Authentication failure" in assert_refused(lun, HOST1, secret="wrong-secret-123456")
    assert_refused(lun, STRANGER)


def test_killed_tgtd_is_restarted_by_the_periodic_check(volume_api, attached):
    volume, _, lun, data = attached
    server = volume_api.server
    old_pids = tgtd_pids(server)
    kill_tgtd(server)
    if not tgtd_pids(server):  # not restarted yet: the target lived only in tgtd's memory
        assert not lun.reachable(HOST1)
    # Within a few periodic checks (2 s) tgtd, the target, its CHAP account and ACL are back.
    wait_until(lambda: lun.reachable(HOST1), timeout=12, poll=0.5, what="host1 reaches the volume again")
    assert set(tgtd_pids(server)).isdisjoint(old_pids)
    assert_served_as_before(volume_api, lun, data)
    assert volume_api.volume(volume["id"])["status"] == "in-use"


def test_attached_volume_survives_a_shoal_restart(volume_api, attached):
    volume, _, lun, data = attached
    restart_server(volume_api.server)
    assert volume_api.volume(volume["id"])["status"] == "in-use"
    wait_until(lambda: lun.reachable(HOST1), timeout=30, poll=0.5, what="host1 reaches the volume after restart")
    assert_served_as_before(volume_api, lun, data)


def test_shoal_restart_brings_back_a_dead_tgtd(volume_api, attached):
    """Shoal stopped, its tgtd killed meanwhile: the start re-creates both, with every target."""
    volume, _, lun, data = attached
    server = volume_api.server
    stop_server(server.process)
    kill_tgtd(server)
    server.process = start_server(server.config, server.state_dir, server.url)
    wait_until(lambda: lun.reachable(HOST1), timeout=30, poll=0.5, what="host1 reaches the volume after restart")
    assert_served_as_before(volume_api, lun, data)
    assert volume_api.volume(volume["id"])["status"] == "in-use"


def test_interrupted_create_and_delete_end_steady(volume_api):
    server = volume_api.server
    creating = volume_api.create_volume(1, name="left-creating")
    deleting = volume_api.create_volume(1, name="left-deleting")
    assert zfs_exists(volume_api.dataset(deleting["id"]))

    # Shoal stops with one volume mid-create and one mid-delete.
    stop_server(server.process)
    with sqlite3.connect(server.state_dir / "shoal.db") as db:
        # A create cut short has made its dataset but not yet recorded where (provider_location).
        db.execute("UPDATE volumes SET status = 'creating', task = 'create', provider_location = NULL WHERE id = ?",
                   (creating["id"],))
        db.execute("UPDATE volumes SET status = 'deleting', task = 'delete' WHERE id = ?", (deleting["id"],))
    db.close()
    server.process = start_server(server.config, server.state_dir, server.url)

    failed = wait_for_status(volume_api.client, f"/volumes/{creating['id']}", "error", timeout=30)
    assert failed["name"] == "left-creating"
    assert messages_for(volume_api.client, creating["id"]), "no message says why the volume is in error"
    wait_gone(volume_api.client, f"/volumes/{deleting['id']}", timeout=30)
    wait_until(lambda: not zfs_exists(volume_api.dataset(deleting["id"])), timeout=30,
               what="the interrupted delete's dataset destroyed")

    # The volume left in error can be deleted; its dataset goes too.
    volume_api.delete_volume(creating["id"])
    assert not zfs_exists(volume_api.dataset(creating["id"]))


def test_a_detach_cut_short_leaves_no_target(volume_api):
    """Shoal stops after a detach recorded itself (the attachment row is gone)
    but before the target was removed: after the start, host1 cannot reach the
    volume, the target and its CHAP account are gone, and the volume can go."""
    server = volume_api.server
    volume = volume_api.create_volume(1)
    attachment = volume_api.attach(volume["id"], HOST1)
    lun = Lun.of(attachment["connection_info"])
    assert lun.reachable(HOST1)

    stop_server(server.process)
    with sqlite3.connect(server.state_dir / "shoal.db") as db:
        db.execute("DELETE FROM volume_attachments WHERE id = ?", (attachment["id"],))
        db.execute("UPDATE volumes SET status = 'available', attach_status = 'detached' WHERE id = ?", (volume["id"],))
    db.close()
    assert tgt_target(server, lun.iqn) is not None, "the target outlived Shoal, as after a crash"
    server.process = start_server(server.config, server.state_dir, server.url)

    wait_until(lambda: tgt_target(server, lun.iqn) is None, timeout=30, what="the unneeded target removed")
    assert_refused(lun, HOST1)
    accounts = tgtadm(server, "--op", "show", "--mode", "account")
    assert lun.user not in accounts.stdout, "the target's CHAP account outlived it"
    volume_api.delete_volume(volume["id"])


def test_the_periodic_check_removes_a_target_no_attachment_needs(volume_api):
    """A target named as Shoal names them, for a volume with no attachment (made
    here by hand, as a crash would leave it), is removed by the periodic check;
    an attached volume's target next to it stays and keeps serving."""
    server = volume_api.server
    idle = volume_api.create_volume(1)
    busy = volume_api.create_volume(1)
    attachment = volume_api.attach(busy["id"], HOST1)
    lun = Lun.of(attachment["connection_info"])
    stray = volume_iqn(idle["id"])
    tids = [t.tid for t in tgt_targets(server)]
    made = tgtadm(server, "--op", "new", "--mode", "target", "--tid", str(max(tids, default=0) + 100),
                  "--targetname", stray)
    assert made.returncode == 0, made.stderr

    wait_until(lambda: tgt_target(server, stray) is None, timeout=30, what="the periodic check removes it")
    assert tgt_target(server, lun.iqn) is not None and lun.reachable(HOST1)
    volume_api.detach(attachment["id"])
    for volume in (idle, busy):
        volume_api.delete_volume(volume["id"])


def test_the_periodic_check_makes_a_target_removed_behind_shoals_back_again(volume_api, attached):
    """tgtd runs on, so no health check fails (as a kernel target cleared or restarted
    fails none): the check sees the attached volume's target missing and makes it again,
    with its CHAP account and ACL."""
    volume, _, lun, data = attached
    server = volume_api.server
    gone = tgtadm(server, "--op", "delete", "--mode", "target", "--tid", str(tgt_target(server, lun.iqn).tid),
                  "--force")
    assert gone.returncode == 0, gone.stderr
    assert tgt_target(server, lun.iqn) is None
    wait_until(lambda: tgt_target(server, lun.iqn) is not None and lun.reachable(HOST1), timeout=30, poll=0.5,
               what="the periodic check makes the target again")
    assert_served_as_before(volume_api, lun, data)
    assert volume_api.volume(volume["id"])["status"] == "in-use"


def test_the_periodic_check_opens_again_a_lun_left_without_its_backing_file(volume_api, attached):
    """What a re-open that failed (the file system not mounted again yet when zfs-fuse
    came back) leaves: the target is there, its LUN has no backing store, and no
    health check fails. The check sees that the attached volume's export serves
    nothing and opens the file again; the data is as before."""
    volume, _, lun, data = attached
    server = volume_api.server
    tid = str(tgt_target(server, lun.iqn).tid)
    broken = tgtadm(server, "--op", "update", "--mode", "logicalunit", "--tid", tid, "--lun", "1",
                    "--params", "online=0,path=/nonexistent/volume.raw")
    assert broken.returncode != 0
    assert tgt_target(server, lun.iqn).lun(1).backing_path is None
    wait_until(lambda: (tgt_target(server, lun.iqn).lun(1) or None) is not None
               and tgt_target(server, lun.iqn).lun(1).backing_path is not None, timeout=30, poll=0.5,
               what="the periodic check opens the backing file again")
    assert_served_as_before(volume_api, lun, data)
    assert volume_api.volume(volume["id"])["status"] == "in-use"


def test_a_start_collects_what_a_crash_left_hidden(volume_api):
    """A dataset a delete hid (`shoal:deleted`) before a crash, that nothing
    needs, is destroyed after the next start, in the background; a live
    volume beside it stays."""
    server = volume_api.server
    live = volume_api.create_volume(1)
    root = volume_api.dataset(live["id"]).rsplit("/", 1)[0]
    dead = f"{root}/volume-{uuid.uuid4()}"
    zfs("create", "-o", "shoal:deleted=yes", dead)
    restart_server(server)
    wait_until(lambda: not zfs_exists(dead), timeout=60, what="the hidden dataset collected after the start")
    assert zfs_exists(volume_api.dataset(live["id"]))
    volume_api.delete_volume(live["id"])


def test_a_volume_whose_data_went_while_shoal_was_down_ends_in_error(volume_api):
    """Its dataset destroyed behind Shoal's back while it was stopped: after the
    start the volume is `error` with a message naming the missing data, not
    `available`; one being deleted when Shoal stopped, whose data is gone too,
    simply finishes its delete."""
    server = volume_api.server
    lost = volume_api.create_volume(1, name="data-lost")
    going = volume_api.create_volume(1, name="being-deleted")
    stop_server(server.process)
    for volume in (lost, going):
        destroy_dataset(volume_api.dataset(volume["id"]))
    with sqlite3.connect(server.state_dir / "shoal.db") as db:
        db.execute("UPDATE volumes SET status = 'deleting', task = 'delete' WHERE id = ?", (going["id"],))
    db.close()
    server.process = start_server(server.config, server.state_dir, server.url)

    failed = wait_for_status(volume_api.client, f"/volumes/{lost['id']}", "error", timeout=30)
    assert failed["name"] == "data-lost"
    texts = [m["user_message"] for m in messages_for(volume_api.client, lost["id"])]
    assert any("missing" in text for text in texts), texts
    wait_gone(volume_api.client, f"/volumes/{going['id']}", timeout=30)
    volume_api.delete_volume(lost["id"])
