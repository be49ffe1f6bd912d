"""Extending volumes, offline and online, checked on ZFS and from the attached host.

The story: an available volume grows from 1 to 2 GiB (its file grows; a host
attaching afterwards sees 2 GiB). Then host1 attaches it, logs in and keeps
the session open while the volume grows to 3 GiB: the same host reads the new
capacity, its data is intact, the volume is in-use again. Shrinking, the same
size and sizes that are not integers are refused and change nothing.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from .volume_helpers import (
    GiB,
    HOST1,
    MiB,
    Lun,
    backing_file,
    fault,
    messages_for,
    pattern,
    sha256,
    tgt_target,
    volume_api,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.integration


def extend(volume_api, volume_id: str, new_size, back_to: str) -> dict:
    resp = volume_api.action(volume_id, "os-extend", {"new_size": new_size})
    assert resp.status_code == 202, resp.text
    return volume_api.wait_volume(volume_id, back_to)


def logged_in(server, lun: Lun, initiator: str) -> bool:
    target = tgt_target(server, lun.iqn)
    return target is not None and any(s.initiator == initiator for s in target.sessions)


def test_extend_available_volume(volume_api):
    volume = volume_api.create_volume(1)
    vid = volume["id"]
    grown = extend(volume_api, vid, 2, "available")
    assert grown["size"] == 2
    assert os.stat(backing_file(volume_api.dataset(vid))).st_size == 2 * GiB
    attachment = volume_api.attach(vid, HOST1)
    assert Lun.of(attachment["connection_info"]).capacity(HOST1) == 2 * GiB
    volume_api.detach(attachment["id"])
    volume_api.delete_volume(vid)


def test_extend_attached_volume_online(volume_api):
    volume = volume_api.create_volume(1)
    vid = volume["id"]
    attachment = volume_api.attach(vid, HOST1)
    lun = Lun.of(attachment["connection_info"])
    data = pattern(f"online-{vid}")
    lun.write(HOST1, data)
    assert lun.capacity(HOST1) == GiB

    # host1 stays logged in (an open qemu-io) across the extend.
    session = subprocess.Popen(["qemu-io", "-f", "raw", lun.qemu_spec(HOST1)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not logged_in(volume_api.server, lun, HOST1):
            assert time.monotonic() < deadline and session.poll() is None, "host1 did not log in"
            time.sleep(0.05)
        grown = extend(volume_api, vid, 3, "in-use")
        assert grown["size"] == 3 and len(grown["attachments"]) == 1
        assert logged_in(volume_api.server, lun, HOST1), "the session was cut by the extend"
        out, err = session.communicate("read -P 0 2M 64k\nquit\n", timeout=60)
    finally:
        if session.poll() is None:
            session.kill()
            session.communicate()
    assert "read 65536/65536" in out and "Pattern verification failed" not in out + err, out + err

    # The attached initiator sees the new size; the data is still there.
    assert lun.capacity(HOST1) == 3 * GiB
    assert sha256(lun.read(HOST1, MiB)) == sha256(data)
    assert os.stat(backing_file(volume_api.dataset(vid))).st_size == 3 * GiB
    assert tgt_target(volume_api.server, lun.iqn).initiator_acl == [HOST1]

    volume_api.detach(attachment["id"])
    volume_api.delete_volume(vid)


@pytest.mark.parametrize("new_size", [
    pytest.param(1, id="same"),
    pytest.param(0, id="zero"),
    pytest.param(-2, id="negative"),
    pytest.param(1.5, id="float"),
    pytest.param("2.5", id="float-string"),
    pytest.param("abc", id="text"),
    pytest.param(True, id="bool"),
    pytest.param(None, id="null"),
    pytest.param([3], id="list"),
])
def test_shrink_same_size_and_non_integers_are_refused(volume_api, new_size):
    volume = volume_api.create_volume(2 if new_size == 1 else 1)
    vid = volume["id"]
    if new_size == 1:  # a shrink from 2 to 1 is refused as well as the same size
        fault(volume_api.action(vid, "os-extend", {"new_size": 2}), 400)
    fault(volume_api.action(vid, "os-extend", {"new_size": new_size}), 400)
    shown = volume_api.volume(vid)
    assert shown["status"] == "available" and shown["size"] == volume["size"]
    assert os.stat(backing_file(volume_api.dataset(vid))).st_size == volume["size"] * GiB
    volume_api.delete_volume(vid)


def test_extend_needs_a_body(volume_api):
    volume = volume_api.create_volume(1)
    fault(volume_api.action(volume["id"], "os-extend", {}), 400)
    fault(volume_api.action(volume["id"], "os-extend", None), 400)
    assert volume_api.volume(volume["id"])["size"] == 1
    volume_api.delete_volume(volume["id"])


def test_extend_beyond_the_pool_puts_the_volume_back(volume_api):
    """Cinder's scheduler checks the volume's own backend on extend (backend_passes_filters
    with the new size; its capacity filter counts the increase): an extend the pool cannot
    hold puts the volume back in its previous status at its old size, with a user message
    saying why. The quota is lifted for the test, so that the pool and not the quota
    refuses (issue 14: a volume reached 1,000,000 GiB on an 8 GiB pool, available)."""
    client, project = volume_api.client, volume_api.server.project
    lifted = client.put(f"/os-quota-sets/{project}",
                        json={"quota_set": {"gigabytes": -1, "per_volume_gigabytes": -1}})
    assert lifted.status_code == 200, lifted.text
    try:
        vid = volume_api.create_volume(1)["id"]
        after = extend(volume_api, vid, 1000000, "available")
        assert after["size"] == 1
        assert os.stat(backing_file(volume_api.dataset(vid))).st_size == 1 * GiB
        (message,) = [m for m in messages_for(client, vid) if "1000000" in m["user_message"]]
        assert "No valid backend was found" in message["user_message"], message
        assert message["event_id"] == "VOLUME_VOLUME_007_003", message  # EXTEND_VOLUME, NO_BACKEND_AVAILABLE
        assert extend(volume_api, vid, 2, "available")["size"] == 2  # what the pool holds still goes through
        volume_api.delete_volume(vid)
    finally:
        assert client.delete(f"/os-quota-sets/{project}").status_code == 200
