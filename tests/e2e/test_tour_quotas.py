"""Client tour, quotas: `openstack quota show/set/delete --volume` and `openstack share quota
show/set/delete` as the admin; the limit holds for the project's member (413) and a member
may read but not change quotas (403)."""

from __future__ import annotations

import pytest

from tests.e2e.tour_fixtures import SHARES, VOLUMES, remove, wait_status

pytestmark = pytest.mark.e2e


def limits(rows: list[dict]) -> dict:
    """`openstack quota show -f json` rows as {resource: limit}."""
    return {row["Resource"]: row["Limit"] for row in rows}


def test_volume_quota_show_set_and_enforce(tour):
    b = tour.sdk("b-member").block_storage
    made: list[str] = []
    room = len(list(b.volumes())) + 1  # whatever tour-b holds already, and one more
    before, after = tour.osc_batch("admin", ["quota", "show", "tour-b", "-f", "json"],
                                   ["quota", "set", "--volumes", str(room), "--gigabytes", str(room + 2), "tour-b"],
                                   ["quota", "show", "tour-b", "-f", "json"])
    try:
        assert (limits(after)["volumes"], limits(after)["gigabytes"]) == (room, room + 2)
        assert limits(after)["snapshots"] == limits(before)["snapshots"]  # untouched
        (mine,) = tour.osc_batch("b-member", ["quota", "show", "-f", "json"])  # a member reads its own
        assert limits(mine)["volumes"] == room

        made.append(b.create_volume(size=1, name="quota-1").id)
        wait_status(b.get_volume, made[0], "available")
        tour.osc_batch_fails("b-member", "HttpException: 413", ["volume", "create", "--size", "1", "quota-2"])
        assert "quota-2" not in {v.name for v in b.volumes()}
        # Only the admin changes quotas (the project is given by id: a member may not look it up by name).
        tour.osc_batch_fails("b-member", "ForbiddenException: 403",
                             ["quota", "set", "--volumes", "9", tour.projects["tour-b"]])
    finally:
        remove(b, VOLUMES, made)
        tour.osc("admin", "quota", "delete", "--volume", "tour-b")
    (reset,) = tour.osc_batch("admin", ["quota", "show", "tour-b", "-f", "json"])
    assert limits(reset) == limits(before)


def test_share_quota_show_set_and_enforce(tour):
    b = tour.sdk("b-member").shared_file_system
    made: list[str] = []
    room = len(list(b.shares())) + 1
    before, after = tour.osc_batch("admin", ["share", "quota", "show", "tour-b", "-f", "json"],
                                   ["share", "quota", "set", "--shares", str(room), "--gigabytes", str(room + 3),
                                    "tour-b"],
                                   ["share", "quota", "show", "tour-b", "-f", "json"])
    try:
        assert after["id"] == tour.projects["tour-b"]
        assert (after["shares"], after["gigabytes"], after["snapshots"]) == (room, room + 3, before["snapshots"])
        (mine,) = tour.osc_batch("b-member", ["share", "quota", "show", tour.projects["tour-b"], "-f", "json"])
        assert mine["shares"] == room

        made.append(b.create_share(share_proto="NFS", size=1, name="quota-1").id)
        wait_status(b.get_share, made[0], "available")
        tour.osc_batch_fails("b-member", "(HTTP 413)", ["share", "create", "NFS", "1", "--name", "quota-2"])
        assert "quota-2" not in {s.name for s in b.shares()}
        tour.osc_batch_fails("b-member", "(HTTP 403)", ["share", "quota", "set", "--shares", "9",
                                                        tour.projects["tour-b"]])
    finally:
        remove(b, SHARES, made)
        tour.osc("admin", "share", "quota", "delete", "tour-b")
    (reset,) = tour.osc_batch("admin", ["share", "quota", "show", "tour-b", "-f", "json"])
    assert reset == before
