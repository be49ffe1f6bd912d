"""Growing and shrinking a share: the size in the API and the dataset's refquota
move together, and a shrink that would cut into the data is refused, leaving the
share usable at its old size with a user message that says why."""

from __future__ import annotations

import subprocess
import time

import pytest

from .share_helpers import (
    GiB,
    assert_nfs_writable,
    fault,
    messages_for,
    share_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_until,
    zfs_get,
)

pytestmark = pytest.mark.integration

SETUP_DATA_MB = 1200  # more than 1 GiB: a shrink to 1 GiB must be refused


def resize(api, share_id: str, how: str, new_size) -> None:
    resp = api.action(share_id, how, {"new_size": new_size})
    assert resp.status_code == 202, f"{how} to {new_size}: {resp.status_code} {resp.text}"


def test_extend_grows_the_share_and_its_refquota(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    share = api.create_share(size=1)
    dataset = api.dataset(share["id"])
    assert int(zfs_get(dataset, "refquota")) == 1 * GiB

    resize(api, share["id"], "extend", 3)
    grown = wait_for_status(client, f"/shares/{share['id']}", "available")
    assert grown["size"] == 3
    assert int(zfs_get(dataset, "refquota")) == 3 * GiB

    # Extending to the same or a smaller size, or to something that is not a size: 400.
    for bad in (3, 2, 0, -1, 1.5, "abc", "4.0", True, None):
        fault(api.action(share["id"], "extend", {"new_size": bad}), 400)
    fault(api.action(share["id"], "extend", {}), 400)
    assert api.share(share["id"])["size"] == 3
    assert int(zfs_get(dataset, "refquota")) == 3 * GiB

    # Shrinking to the same or a larger size, or to nonsense: 400 too.
    for bad in (3, 4, 0, "x", 2.5):
        fault(api.action(share["id"], "shrink", {"new_size": bad}), 400)
    assert api.share(share["id"])["status"] == "available"

    # The export and its rules survive the resize.
    api.allow(share["id"])
    assert_nfs_writable(server, api.mountpoint(share["id"]), "after-extend.txt")
    api.delete_share(share["id"])


def test_shrink_never_cuts_into_the_data(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    share = api.create_share(size=3)
    dataset = api.dataset(share["id"])
    mountpoint = api.mountpoint(share["id"])

    # Setup: more than 1 GiB of data, written straight into the dataset (compression is off,
    # so it takes that much space), and wait until ZFS accounts for it.
    assert zfs_get(dataset, "compression") == "off"
    subprocess.run(["dd", "if=/dev/zero", f"of={mountpoint}/ballast", "bs=1M", f"count={SETUP_DATA_MB}",
                    "conv=fsync"], check=True, capture_output=True, timeout=300)
    wait_until(lambda: int(zfs_get(dataset, "referenced")) > 1.1 * GiB, timeout=60,
               what="ZFS to account for the written data", poll=0.5)

    # Shrink below the data: accepted for processing, then refused; the share is available
    # again at its old size, the refquota is untouched, and a user message says why.
    resize(api, share["id"], "shrink", 1)
    deadline = time.monotonic() + 60
    while (shown := api.share(share["id"]))["status"] == "shrinking" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert shown["status"] == "available", shown
    assert shown["size"] == 3
    assert int(zfs_get(dataset, "refquota")) == 3 * GiB
    notes = messages_for(client, share["id"])
    assert notes, "no user message explains the refused shrink"
    assert notes[0]["action_id"] == "009" and notes[0]["detail_id"] == "018", notes[0]  # shrink, refused
    assert "1 GiB" in notes[0]["user_message"] and notes[0]["message_level"] == "ERROR"
    one = client.get(f"/messages/{notes[0]['id']}")
    assert one.status_code == 200 and one.json()["message"]["resource_id"] == share["id"]

    # Shrink to a size the data still fits in: done, and the refquota follows.
    resize(api, share["id"], "shrink", 2)
    shrunk = wait_for_status(client, f"/shares/{share['id']}", "available")
    assert shrunk["size"] == 2
    assert int(zfs_get(dataset, "refquota")) == 2 * GiB
    # The data is all still there.
    assert int(zfs_get(dataset, "referenced")) > 1.1 * GiB
    api.allow(share["id"])
    assert_nfs_writable(server, mountpoint, "after-shrink.txt")
    api.delete_share(share["id"])


def test_extend_beyond_the_pool_leaves_the_share_as_it_was(share_api):
    """Manila's scheduler checks the share's own host on extend (host_passes_filters with
    the size increase): an extend the pool cannot hold ends with the share available at its
    old size, its refquota unchanged, and a user message saying why. The quota is lifted
    for the test, so that the pool and not the quota refuses (issue 14: a share reached
    99,999 GiB on an 8 GiB pool, available)."""
    api, client, project = share_api, share_api.client, share_api.server.project
    lifted = client.put(f"/quota-sets/{project}", json={"quota_set": {"gigabytes": -1, "per_share_gigabytes": -1}})
    assert lifted.status_code == 200, lifted.text
    try:
        share = api.create_share(size=1)
        dataset = api.dataset(share["id"])
        resize(api, share["id"], "extend", 99999)
        after = wait_for_status(client, f"/shares/{share['id']}", "available")
        assert after["size"] == 1
        assert int(zfs_get(dataset, "refquota")) == 1 * GiB
        (message,) = [m for m in messages_for(client, share["id"]) if "99999" in m["user_message"]]
        assert message["user_message"].startswith("allocate host: No storage could be allocated"), message
        assert message["action_id"] == "008" and message["detail_id"] == "002", message  # extend, no valid host
        # what the pool can hold still goes through
        resize(api, share["id"], "extend", 2)
        assert wait_for_status(client, f"/shares/{share['id']}", "available")["size"] == 2
        assert int(zfs_get(dataset, "refquota")) == 2 * GiB
        api.delete_share(share["id"])
    finally:
        assert client.delete(f"/quota-sets/{project}").status_code == 202
