"""Client tour, block storage: `openstack volume …`, `cinder` and openstacksdk with
password auth, as a member of tour-a, a member of tour-b, a reader of tour-a and the admin."""

from __future__ import annotations

import pytest

from tests.e2e.tour_fixtures import (VOLUMES, assert_not_found, listed, one_in_each_project, remove, wait_deleted,
                                     wait_status, wait_until)

pytestmark = pytest.mark.e2e


def cli_table(text: str) -> list[list[str]]:
    """The rows of a prettytable as printed by `cinder` (header row first)."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]


def cli_show(text: str) -> dict[str, str]:
    return {row[0]: row[1] for row in cli_table(text)[1:] if len(row) >= 2}


@pytest.fixture(scope="module")
def vols(tour):
    """a-vol with a snapshot in tour-a, b-vol in tour-b (made with the SDK, which is quick;
    the CLI tours below make their own)."""
    with one_in_each_project(tour, VOLUMES, "vol") as made:
        yield made


def test_member_volume_tour_with_openstack(tour):
    a = tour.sdk("a-member").block_storage
    batch = lambda *commands: tour.osc_batch("a-member", *commands)  # noqa: E731
    created = tour.osc_json("a-member", "volume", "create", "--size", "1", "--description", "made by the tour",
                            "tour-vol")
    made = [created["id"]]
    try:
        assert created["status"] == "creating" and created["size"] == 1 and created["name"] == "tour-vol"
        wait_status(a.get_volume, created["id"], "available")
        rows, shown = batch(["volume", "list", "-f", "json"], ["volume", "show", "tour-vol", "-f", "json"])
        # (words with spaces or shell syntax cannot go through a batch)
        tour.osc("a-member", "volume", "set", "--name", "tour-vol2", "--description", "renamed; $(touch /tmp/x)",
                 "tour-vol")
        renamed, snap = batch(["volume", "show", created["id"], "-f", "json"],
                              ["volume", "snapshot", "create", "--volume", "tour-vol2", "tour-snap", "-f", "json"])
        rows = {v["Name"]: v for v in rows}
        assert rows["tour-vol"]["ID"] == created["id"] and rows["tour-vol"]["Status"] == "available"
        assert (shown["id"], shown["size"], shown["description"]) == (created["id"], 1, "made by the tour")
        assert (renamed["name"], renamed["description"]) == ("tour-vol2", "renamed; $(touch /tmp/x)")
        assert snap["volume_id"] == created["id"] and snap["status"] == "creating"
        wait_status(a.get_snapshot, snap["id"], "available")

        snaps, from_snap, clone = batch(
            ["volume", "snapshot", "list", "-f", "json"],
            ["volume", "create", "--snapshot", "tour-snap", "--size", "2", "tour-from-snap", "-f", "json"],
            ["volume", "create", "--source", "tour-vol2", "tour-clone", "-f", "json"])
        made += [from_snap["id"], clone["id"]]
        snaps = {s["Name"]: s for s in snaps}
        assert snaps["tour-snap"]["ID"] == snap["id"] and snaps["tour-snap"]["Status"] == "available"
        assert from_snap["snapshot_id"] == snap["id"] and clone["source_volid"] == created["id"]
        assert wait_status(a.get_volume, from_snap["id"], "available").size == 2
        assert wait_status(a.get_volume, clone["id"], "available").size == 1

        batch(["volume", "set", "--size", "2", "tour-vol2"], ["volume", "snapshot", "delete", "tour-snap"])
        wait_until("tour-vol2 to be 2 GiB", lambda: a.get_volume(created["id"]).size == 2)
        assert wait_status(a.get_volume, created["id"], "available").size == 2
        wait_deleted(a.get_snapshot, snap["id"])

        (snaps,) = batch(["volume", "snapshot", "list", "-f", "json"],
                         ["volume", "delete", "tour-vol2", "tour-from-snap", "tour-clone"])
        assert "tour-snap" not in {s["Name"] for s in snaps}
        for volume_id in made:
            wait_deleted(a.get_volume, volume_id)
        assert not {"tour-vol2", "tour-from-snap", "tour-clone"} & {v.name for v in a.volumes()}
    finally:
        remove(a, VOLUMES, made)


def test_member_volume_tour_with_cinder(tour, vols):
    a = tour.sdk("a-member").block_storage
    cinder = lambda *args, **kw: tour.cinder("a-member", *args, **kw)  # noqa: E731
    shown = cli_show(cinder("create", "--name", "tour-cinder", "--description", "by cinder", "1").stdout)
    volume_id = shown["id"]
    try:
        assert shown["name"] == "tour-cinder" and shown["size"] == "1" and shown["status"] == "creating"
        wait_status(a.get_volume, volume_id, "available")
        rows = cli_table(cinder("list").stdout)
        header, body = rows[0], [dict(zip(rows[0], row)) for row in rows[1:]]
        assert "ID" in header and "Name" in header
        names = {row["Name"]: row for row in body}
        assert names["tour-cinder"]["Status"] == "available" and names["tour-cinder"]["ID"] == volume_id
        assert "a-vol" in names and "b-vol" not in names
        shown = cli_show(cinder("show", "tour-cinder").stdout)
        assert (shown["id"], shown["description"], shown["status"]) == (volume_id, "by cinder", "available")

        cinder("extend", "tour-cinder", "2")
        wait_until("tour-cinder to be 2 GiB", lambda: a.get_volume(volume_id).size == 2)
        snap = cli_show(cinder("snapshot-create", "--name", "tour-cinder-snap", "tour-cinder").stdout)
        assert snap["volume_id"] == volume_id
        wait_status(a.get_snapshot, snap["id"], "available")
        assert "tour-cinder-snap" in cinder("snapshot-list").stdout
        cinder("snapshot-delete", "tour-cinder-snap")
        wait_deleted(a.get_snapshot, snap["id"])

        # tour-b's volume is not there for tour-a, by id as much as by name
        other = cinder("show", vols.b, check=False)
        assert other.returncode != 0 and "No volume with a name or ID" in other.stderr
        cinder("delete", "tour-cinder")
        wait_deleted(a.get_volume, volume_id)
        assert "tour-cinder" not in cinder("list").stdout
    finally:
        remove(a, VOLUMES, [volume_id])


def test_member_volume_tour_with_openstacksdk(tour, vols):
    from openstack import exceptions

    a, b = tour.sdk("a-member").block_storage, tour.sdk("b-member").block_storage
    volume = a.create_volume(size=1, name="tour-sdk", description="by the sdk")
    try:
        volume = wait_status(a.get_volume, volume.id, "available")
        assert (volume.size, volume.description, volume.project_id) == (1, "by the sdk", tour.projects["tour-a"])
        assert {"tour-sdk", "a-vol"} <= {v.name for v in a.volumes()}
        a.extend_volume(volume, 2)
        wait_until("tour-sdk to be 2 GiB", lambda: a.get_volume(volume.id).size == 2)
        snap = a.create_snapshot(volume_id=volume.id, name="tour-sdk-snap")
        wait_status(a.get_snapshot, snap.id, "available")
        assert "tour-sdk-snap" in {s.name for s in a.snapshots()}
        # Another project's volume is "not found" for the SDK as well, never "forbidden".
        with pytest.raises(exceptions.NotFoundException):
            b.get_volume(volume.id)
        with pytest.raises(exceptions.NotFoundException):
            b.get_snapshot(snap.id)
        a.delete_snapshot(snap)
        wait_deleted(a.get_snapshot, snap.id)
    finally:
        remove(a, VOLUMES, [volume.id])


def test_other_project_does_not_see_volumes(tour, vols):
    volumes, snaps = listed(tour, "b-member", "volume")
    assert vols.b in volumes and vols.a not in volumes and vols.a_snap not in snaps
    tour.osc_batch_fails("b-member", f"No Volume found for {vols.a}", ["volume", "show", vols.a])
    with tour.http(tour.token_id("b-member")) as http:
        base = f"/volume/v3/{tour.projects['tour-b']}"
        assert_not_found(http, [f"{base}/volumes/{vols.a}", f"{base}/snapshots/{vols.a_snap}"])
        assert http.delete(f"{base}/volumes/{vols.a}").status_code == 404
    assert tour.sdk("a-member").block_storage.get_volume(vols.a).status == "available"


def test_reader_reads_but_cannot_change_volumes(tour, vols):
    volumes, snaps = listed(tour, "a-reader", "volume")
    assert vols.a in volumes and vols.b not in volumes and vols.a_snap in snaps
    tour.osc_batch_fails("a-reader", "ForbiddenException: 403", ["volume", "create", "--size", "1", "reader-vol"],
                         ["volume", "delete", vols.a],
                         ["volume", "snapshot", "create", "--volume", vols.a, "reader-snap"])
    a = tour.sdk("a-member").block_storage
    assert "reader-vol" not in {v.name for v in a.volumes()}
    assert "reader-snap" not in {s.name for s in a.snapshots()}
    assert a.get_volume(vols.a).status == "available"


def test_admin_types_all_projects_and_admin_actions(tour, vols):
    try:
        created, shown, types, everything, own = tour.osc_batch(
            "admin", ["volume", "type", "create", "--private", "--description", "tour-a-only", "tour-private",
                      "-f", "json"],
            ["volume", "type", "set", "--project", "tour-a", "tour-private"],
            ["volume", "type", "show", "tour-private", "-f", "json"],
            ["volume", "type", "list", "-f", "json"],
            ["volume", "list", "--all-projects", "-f", "json"], ["volume", "list", "-f", "json"])
        assert created["name"] == "tour-private" and created["is_public"] is False
        assert tour.projects["tour-a"] in str(shown["access_project_ids"])
        assert "tour-private" in {t["Name"] for t in types}
        assert {vols.a, vols.b} <= {v["ID"] for v in everything}
        assert vols.a not in {v["ID"] for v in own}
        (a_types,) = tour.osc_batch("a-member", ["volume", "type", "list", "-f", "json"])
        assert "tour-private" in {t["Name"] for t in a_types}
        (b_types,) = tour.osc_batch("b-member", ["volume", "type", "list", "-f", "json"])
        assert "tour-private" not in {t["Name"] for t in b_types}

        # Admin-only: types and reset-status; a member gets 403 and nothing changes.
        tour.osc_batch_fails("a-member", "ForbiddenException: 403", ["volume", "type", "create", "member-type"],
                             ["volume", "set", "--state", "error", vols.a])
        denied = tour.cinder("a-member", "reset-state", "--state", "error", vols.a, check=False)
        assert denied.returncode != 0 and "HTTP 403" in denied.stdout + denied.stderr
        a = tour.sdk("a-member").block_storage
        assert a.get_volume(vols.a).status == "available"

        # The admin resets tour-a's volume by id, from the admin project (as upstream).
        (shown,) = tour.osc_batch("admin", ["volume", "show", vols.a, "-f", "json"],
                                  ["volume", "set", "--state", "error", vols.a])
        assert shown["os-vol-tenant-attr:tenant_id"] == tour.projects["tour-a"]
        assert a.get_volume(vols.a).status == "error"
        tour.cinder("admin", "reset-state", "--state", "available", vols.a)
        assert a.get_volume(vols.a).status == "available"
    finally:
        tour.osc("admin", "volume", "type", "delete", "tour-private", check=False)
    assert "tour-private" not in {t.name for t in tour.sdk("admin").block_storage.types()}
