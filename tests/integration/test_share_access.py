"""Who may mount a share: access rules, as an NFS client on 127.0.0.1 sees them.

On one machine the client's address is 127.0.0.1, so a rule for 127.0.0.1 (or
127.0.0.0/8) grants and a rule for 127.0.0.2 does not. Every outcome is checked
with libnfs against the share's export, and in the dataset itself.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from .share_helpers import (
    assert_mount_refused,
    assert_nfs_writable,
    assert_write_refused,
    fault,
    nfs_ls,
    nfs_read,
    share_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_rw_then_ro_then_nothing(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    share = api.create_share()
    path = api.mountpoint(share["id"])

    # No rule: the export exists but refuses every client.
    assert api.rules(share["id"]) == []
    assert_mount_refused(server, path)

    # rw for 127.0.0.1: active, and a client there can write; the file is in the dataset.
    rule = api.allow(share["id"], "127.0.0.1", "rw")
    assert rule["state"] == "active" and rule["access_level"] == "rw" and rule["access_type"] == "ip"
    assert api.share(share["id"])["access_rules_status"] == "active"
    assert_nfs_writable(server, path, "rw.txt", "from the rw client\n")

    # Switch to ro: deny, then allow ro. Mounting works, reading works, writing does not.
    api.deny(share["id"], rule["id"])
    assert api.rules(share["id"]) == []
    assert_mount_refused(server, path)
    ro = api.allow(share["id"], "127.0.0.1", "ro")
    assert ro["access_level"] == "ro"
    listing = nfs_ls(server, path)
    assert listing.returncode == 0 and "rw.txt" in listing.stdout, listing.stderr
    assert nfs_read(server, path, "rw.txt").stdout == "from the rw client\n"
    assert_write_refused(server, path)

    # Deny the last rule: back to nobody.
    api.deny(share["id"], ro["id"])
    assert_mount_refused(server, path)
    resp = api.action(share["id"], "access_list")
    assert resp.status_code == 200 and resp.json()["access_list"] == []


def test_only_the_named_client_or_network_gets_in(share_api):
    api, server = share_api, share_api.server
    share = api.create_share()
    path = api.mountpoint(share["id"])

    other = api.allow(share["id"], "127.0.0.2", "rw")
    assert other["state"] == "active"
    assert_mount_refused(server, path)  # a rule for someone else grants us nothing

    net = api.allow(share["id"], "127.0.0.0/8", "rw")
    assert net["state"] == "active" and net["access_to"] == "127.0.0.0/8"
    assert_nfs_writable(server, path, "net.txt")

    api.deny(share["id"], net["id"])
    assert_mount_refused(server, path)
    assert [r["id"] for r in api.rules(share["id"])] == [other["id"]]


def test_rules_are_listed_and_shown_by_id(share_api):
    api, client = share_api, share_api.client
    share = api.create_share()
    first = api.allow(share["id"], "10.0.0.1", "rw")
    second = api.allow(share["id"], "10.1.0.0/16", "ro")

    listed = api.rules(share["id"])
    assert {(r["id"], r["access_to"], r["access_level"], r["state"]) for r in listed} == {
        (first["id"], "10.0.0.1", "rw", "active"), (second["id"], "10.1.0.0/16", "ro", "active")}
    assert all(r["share_id"] == share["id"] for r in listed)
    only_ro = client.get("/share-access-rules", params={"share_id": share["id"], "access_level": "ro"})
    assert [r["id"] for r in only_ro.json()["access_list"]] == [second["id"]]

    shown = client.get(f"/share-access-rules/{first['id']}")
    assert shown.status_code == 200
    assert shown.json()["access"]["access_to"] == "10.0.0.1" and shown.json()["access"]["share_id"] == share["id"]

    # The same address twice is refused; a share id is required to list.
    fault(api.action(share["id"], "allow_access", {"access_type": "ip", "access_to": "10.0.0.1",
                                                   "access_level": "ro"}), 400)
    fault(client.get("/share-access-rules"), 400)

    api.deny(share["id"], first["id"])
    fault(client.get(f"/share-access-rules/{first['id']}"), 404)
    assert [r["id"] for r in api.rules(share["id"])] == [second["id"]]
    # Denying it again: not found.
    fault(api.action(share["id"], "deny_access", {"access_id": first["id"]}), 404)


def test_an_unsupported_rule_fails_alone(share_api):
    """A `user` rule cannot be expressed over NFS here: it goes to `error`, and an
    ip rule on the same share stays `active` and keeps working."""
    api, client, server = share_api, share_api.client, share_api.server
    share = api.create_share()
    path = api.mountpoint(share["id"])
    good = api.allow(share["id"], "127.0.0.1", "rw")
    bad = api.allow(share["id"], "alice", "rw", access_type="user", wait="error")
    assert bad["state"] == "error"

    assert wait_for_status(client, f"/share-access-rules/{good['id']}", "active", key="state")
    assert api.share(share["id"])["access_rules_status"] == "error"
    assert_nfs_writable(server, path, "still.txt")

    # A rule in error can be denied (it was never in force); the share is clean again.
    api.deny(share["id"], bad["id"])
    assert api.wait_rules_settled(share["id"])["access_rules_status"] in ("active", "error")
    assert [r["id"] for r in api.rules(share["id"])] == [good["id"]]
    assert_nfs_writable(server, path, "after.txt")


def test_three_hundred_rules_all_become_active(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    share = api.create_share()
    path = api.mountpoint(share["id"])
    base = ipaddress.ip_address("10.20.0.1")
    targets = [str(base + i) for i in range(299)] + ["127.0.0.1"]

    def allow(to: str) -> str:
        resp = api.action(share["id"], "allow_access", {"access_type": "ip", "access_to": to, "access_level": "rw"})
        assert resp.status_code == 200, resp.text
        return resp.json()["access"]["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(allow, targets))
    assert len(set(ids)) == 300

    def settled():
        status = api.share(share["id"])["access_rules_status"]
        rules = api.rules(share["id"])
        if status == "syncing" or any(r["state"] in ("queued_to_apply", "applying") for r in rules):
            return None
        return status, rules

    # Waits for the rules themselves, not only for access_rules_status: that can read `active`
    # for a moment while a last rule is still queued (ShareAccess.allow's "syncing" is lost
    # when the sync's final write lands between its read and its commit).
    status, rules = wait_until(settled, timeout=120, what="all 300 rules to be applied")
    assert status == "active"
    assert len(rules) == 300
    assert {r["state"] for r in rules} == {"active"}, {r["access_to"]: r["state"] for r in rules if r["state"] != "active"}
    assert {r["access_to"] for r in rules} == set(targets)
    assert_nfs_writable(server, path, "crowd.txt")


def test_allows_and_denies_at_once_end_as_asked_in_the_db_and_in_ganesha(share_api):
    """Requests race each other and the syncs they start: a request that finds
    no sync of the share running claims the rules itself and hands its sync what
    it read; the others queue behind the running sync. Whichever way, the rules
    end as asked, and ganesha's export holds exactly their clients."""
    api, server = share_api, share_api.server
    share = api.create_share()
    share_id, path = share["id"], api.mountpoint(share["id"])
    first = [f"10.40.0.{i}" for i in range(1, 21)]
    ids = {to: api.allow(share_id, to, wait=None)["id"] for to in first}
    denied = first[::2]
    added = [f"10.40.1.{i}" for i in range(1, 21)] + ["127.0.0.1"]
    work = [("deny", to) for to in denied] + [("allow", to) for to in added]
    random.Random(7).shuffle(work)

    def act(item: tuple[str, str]) -> None:
        kind, to = item
        if kind == "deny":
            api.deny(share_id, ids[to], wait=False)
        else:
            api.allow(share_id, to, wait=None)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(act, work))

    def settled():
        rules = api.rules(share_id)
        if api.share(share_id)["access_rules_status"] == "syncing" or any(r["state"] != "active" for r in rules):
            return None
        return rules

    rules = wait_until(settled, timeout=120, what="the allows and denies to be applied")
    expected = (set(first) - set(denied)) | set(added)
    assert {r["access_to"] for r in rules} == expected
    assert api.share(share_id)["access_rules_status"] == "active"
    exports = [f.read_text() for f in (server.state_dir / "ganesha" / "exports.d").glob("*.conf")]
    (export,) = [text for text in exports if f'Path = "{path}";' in text]
    assert set(re.findall(r"Clients = ([^;]+);", export)) == expected
    assert_nfs_writable(server, path, "raced.txt")


def test_a_share_from_a_snapshot_does_not_inherit_its_parents_rules(share_api):
    api, server = share_api, share_api.server
    parent = api.create_share()
    parent_path = api.mountpoint(parent["id"])
    api.allow(parent["id"], "127.0.0.1", "rw")
    assert_nfs_writable(server, parent_path, "inherited-data.txt", "data, not rules\n")
    snap = api.create_snapshot(parent["id"])

    child = api.create_share(snapshot_id=snap["id"])
    child_path = api.mountpoint(child["id"])
    assert child_path != parent_path
    assert api.rules(child["id"]) == []
    assert_mount_refused(server, child_path)

    # The data did come along: grant access and read it.
    api.allow(child["id"], "127.0.0.1", "ro")
    assert nfs_read(server, child_path, "inherited-data.txt").stdout == "data, not rules\n"

    api.delete_share(child["id"])
    api.delete_snapshot(snap["id"])
    api.delete_share(parent["id"])
    wait_gone(api.client, f"/shares/{parent['id']}")


def test_rules_of_many_shares_made_during_a_reload_all_wait_for_the_next(share_api):
    """An access sync waits for ganesha's reload, and a reload takes in every export
    file written while the one before ran. The syncs wait in threads of their own,
    not in the 8 task workers: with ganesha stopped (SIGSTOP) before it could act on
    a first share's reload, the rules of twelve more shares are all written to their
    export files, ready for the next reload. With the syncs in the workers, only
    seven were until the first reload ended, one reload per seven shares at best."""
    api, server = share_api, share_api.server
    shares = [api.create_share() for _ in range(13)]
    ganesha = server.state_dir / "ganesha"
    written = lambda share: "127.0.0.1" in (ganesha / "exports.d" / f"{share['id']}.conf").read_text()  # noqa: E731
    pid = int((ganesha / "ganesha.pid").read_text().split()[0])
    os.kill(pid, signal.SIGSTOP)
    try:
        rules = [api.allow(shares[0]["id"], wait=None)]
        wait_until(lambda: written(shares[0]), timeout=15, what="the first share's export file")
        rules += [api.allow(share["id"], wait=None) for share in shares[1:]]
        wait_until(lambda: all(written(share) for share in shares[1:]), timeout=15,
                   what="the twelve other shares' export files, written while the first reload waits")
    finally:
        os.kill(pid, signal.SIGCONT)
    for rule in rules:
        wait_for_status(api.client, f"/share-access-rules/{rule['id']}", "active", key="state")
    for share in shares:
        api.delete_share(share["id"])
