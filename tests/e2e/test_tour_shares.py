"""Client tour, shared file systems: `openstack share …` (python-manilaclient's OSC plugin)
and openstacksdk with password auth, as a member of tour-a, a member of tour-b, a reader
of tour-a and the admin."""

from __future__ import annotations

import pytest

from tests.e2e.tour_fixtures import (SHARES, assert_not_found, listed, one_in_each_project, remove, wait_deleted,
                                     wait_status, wait_until)

pytestmark = pytest.mark.e2e

FORBIDDEN = "(HTTP 403)"  # how manilaclient reports a 403


def wait_rules(sfs, share_id: str, states: list[str]) -> list:
    return wait_until(f"access rules of {share_id} to be {states}",
                      lambda: (rules := list(sfs.access_rules(share_id))) is not None
                      and sorted(r.state for r in rules) == states and rules)


@pytest.fixture(scope="module")
def shares(tour):
    """a-share with a snapshot in tour-a, b-share in tour-b (made with the SDK)."""
    with one_in_each_project(tour, SHARES, "share") as made:
        yield made


def test_member_share_tour_with_openstack(tour):
    a = tour.sdk("a-member").shared_file_system
    batch = lambda *commands: tour.osc_batch("a-member", *commands)  # noqa: E731
    created = tour.osc_json("a-member", "share", "create", "NFS", "1", "--name", "tour-share",
                            "--description", "made by the tour")
    share_id = created["id"]
    try:
        assert created["status"] == "creating" and created["size"] == 1 and created["name"] == "tour-share"
        assert created["share_type_name"] == "default" and created["project_id"] == tour.projects["tour-a"]
        wait_status(a.get_share, share_id, "available")
        rows, shown, rule, snap = batch(
            ["share", "list", "-f", "json"], ["share", "show", "tour-share", "-f", "json"],
            ["share", "access", "create", "tour-share", "ip", "10.0.0.0/24", "--access-level", "ro", "-f", "json"],
            ["share", "snapshot", "create", "tour-share", "--name", "tour-share-snap", "-f", "json"])
        rows = {s["Name"]: s for s in rows}
        assert rows["tour-share"]["ID"] == share_id and rows["tour-share"]["Status"] == "available"
        assert (shown["id"], shown["description"], shown["size"]) == (share_id, "made by the tour", 1)
        assert "export_locations" in shown and str(tour.server.pool_root) in str(shown["export_locations"])
        assert (rule["access_to"], rule["access_type"], rule["access_level"]) == ("10.0.0.0/24", "ip", "ro")
        assert snap["share_id"] == share_id and snap["name"] == "tour-share-snap"
        wait_rules(a, share_id, ["active"])
        wait_status(a.get_share_snapshot, snap["id"], "available")

        rules, snaps, _ = batch(["share", "access", "list", "tour-share", "-f", "json"],
                                ["share", "snapshot", "list", "-f", "json"],
                                ["share", "resize", "tour-share", "2"]) + [None]
        assert [(r["ID"], r["Access To"], r["State"]) for r in rules] == [(rule["id"], "10.0.0.0/24", "active")]
        snaps = {s["Name"]: s for s in snaps}
        assert snaps["tour-share-snap"]["ID"] == snap["id"]
        wait_until("tour-share to be 2 GiB", lambda: a.get_share(share_id).size == 2)
        wait_status(a.get_share, share_id, "available")

        batch(["share", "access", "delete", "tour-share", rule["id"]],
              ["share", "snapshot", "delete", "tour-share-snap"])
        wait_until("the rule to go", lambda: list(a.access_rules(share_id)) == [])
        wait_deleted(a.get_share_snapshot, snap["id"])
        rules, snaps = batch(["share", "access", "list", "tour-share", "-f", "json"],
                             ["share", "snapshot", "list", "-f", "json"])
        assert rules == [] and "tour-share-snap" not in {s["Name"] for s in snaps}

        batch(["share", "delete", "tour-share"])
        wait_deleted(a.get_share, share_id)
        assert "tour-share" not in {s.name for s in a.shares()}
    finally:
        remove(a, SHARES, [share_id])


def test_member_share_tour_with_openstacksdk(tour, shares):
    from openstack import exceptions

    a, b = tour.sdk("a-member").shared_file_system, tour.sdk("b-member").shared_file_system
    share = a.create_share(share_proto="NFS", size=1, name="tour-sdk-share", description="by the sdk")
    try:
        share = wait_status(a.get_share, share.id, "available")
        assert (share.size, share.description, share.project_id) == (1, "by the sdk", tour.projects["tour-a"])
        assert {"tour-sdk-share", "a-share"} <= {s.name for s in a.shares()}
        rule = a.create_access_rule(share.id, access_type="ip", access_to="10.0.0.7", access_level="rw")
        assert (rule.access_to, rule.access_level) == ("10.0.0.7", "rw")
        wait_rules(a, share.id, ["active"])
        assert any(loc.path.startswith("127.0.0.1:/") for loc in a.export_locations(share.id))
        a.resize_share(share.id, 2)
        wait_until("tour-sdk-share to be 2 GiB", lambda: a.get_share(share.id).size == 2)
        wait_status(a.get_share, share.id, "available")
        snap = a.create_share_snapshot(share_id=share.id, name="tour-sdk-snap")
        wait_status(a.get_share_snapshot, snap.id, "available")
        assert "tour-sdk-snap" in {s.name for s in a.share_snapshots()}
        with pytest.raises(exceptions.NotFoundException):
            b.get_share(share.id)
        with pytest.raises(exceptions.NotFoundException):
            b.get_share_snapshot(snap.id)
        a.delete_access_rule(rule.id, share.id)
        a.delete_share_snapshot(snap)
        wait_deleted(a.get_share_snapshot, snap.id)
        wait_until("the rule to go", lambda: list(a.access_rules(share.id)) == [])
    finally:
        remove(a, SHARES, [share.id])


def test_other_project_does_not_see_shares(tour, shares):
    found, snaps = listed(tour, "b-member", "share")
    assert shares.b in found and shares.a not in found and shares.a_snap not in snaps
    tour.osc_batch_fails("b-member", shares.a, ["share", "show", shares.a])
    with tour.http(tour.token_id("b-member")) as http:
        for base in (f"/share/v2/{tour.projects['tour-b']}", "/share/v2"):
            assert_not_found(http, [f"{base}/shares/{shares.a}", f"{base}/snapshots/{shares.a_snap}"])
        assert http.delete(f"/share/v2/shares/{shares.a}").status_code == 404
    assert tour.sdk("a-member").shared_file_system.get_share(shares.a).status == "available"


def test_reader_reads_but_cannot_change_shares(tour, shares):
    found, snaps = listed(tour, "a-reader", "share")
    assert shares.a in found and shares.b not in found and shares.a_snap in snaps
    tour.osc_batch_fails("a-reader", FORBIDDEN, ["share", "create", "NFS", "1", "--name", "reader-share"],
                         ["share", "access", "create", shares.a, "ip", "10.9.9.9"],
                         ["share", "snapshot", "delete", shares.a_snap])
    a = tour.sdk("a-member").shared_file_system
    assert "reader-share" not in {s.name for s in a.shares()}
    assert list(a.access_rules(shares.a)) == []
    assert a.get_share_snapshot(shares.a_snap).status == "available"


def test_admin_share_types_all_projects_and_reset_state(tour, shares):
    a = tour.sdk("a-member").shared_file_system
    try:
        created, private, types, everything, own = tour.osc_batch(
            "admin", ["share", "type", "create", "tour-stype", "false", "--extra-specs",
                      "zfsonlinux:compression=gzip", "-f", "json"],
            ["share", "type", "create", "tour-private-stype", "false", "--public", "false", "-f", "json"],
            ["share", "type", "access", "create", "tour-private-stype", tour.projects["tour-a"]],
            ["share", "type", "list", "--all", "-f", "json"],
            ["share", "list", "--all-projects", "-f", "json"], ["share", "list", "-f", "json"])
        assert created["name"] == "tour-stype" and "compression" in str(created)
        assert str(private["visibility"]).lower() == "private"
        assert {"default", "tour-stype", "tour-private-stype"} <= {t["Name"] for t in types}
        assert {shares.a, shares.b} <= {s["ID"] for s in everything}
        assert shares.a not in {s["ID"] for s in own}
        (a_types,) = tour.osc_batch("a-member", ["share", "type", "list", "-f", "json"])
        assert {"default", "tour-stype", "tour-private-stype"} <= {t["Name"] for t in a_types}
        (b_types,) = tour.osc_batch("b-member", ["share", "type", "list", "-f", "json"])
        assert "tour-stype" in {t["Name"] for t in b_types}
        assert "tour-private-stype" not in {t["Name"] for t in b_types}

        tour.osc_batch_fails("a-member", FORBIDDEN, ["share", "type", "create", "member-stype", "false"])
        # `share set` also resets the task state (admin-only too): two 403s, one failed command
        errors = tour.osc_batch_fails("a-member", "One or more of the set operations failed",
                                      ["share", "set", "--status", "error", shares.a])
        assert errors.count(FORBIDDEN) == 2, errors
        assert a.get_share(shares.a).status == "available"

        # The admin resets tour-a's share by id, from the admin project (as upstream).
        tour.osc_batch("admin", ["share", "set", "--status", "error", shares.a])
        assert a.get_share(shares.a).status == "error"
        tour.osc_batch("admin", ["share", "set", "--status", "available", shares.a])
        assert a.get_share(shares.a).status == "available"
    finally:
        tour.osc("admin", "share", "type", "delete", "tour-stype", "tour-private-stype", check=False)
    (types,) = tour.osc_batch("admin", ["share", "type", "list", "--all", "-f", "json"])
    assert not {"tour-stype", "tour-private-stype"} & {t["Name"] for t in types}
