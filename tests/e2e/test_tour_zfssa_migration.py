"""Client tour: a volume moved between two Oracle ZFS Storage Appliances by
their replication, against two ZFSSA emulators (tests/emulators/zfssa: the
appliance's REST API over real ZFS and tgtd; the replication a real `zfs send
| zfs receive` between the two emulators' pools). A tour Shoal has a
`zfssa_iscsi` backend on each (the second names its replication_ip; the first
emulator has the second as its replication target), and the unmodified
`openstack` and `cinder` clients do the rest: `volume migrate --host` to the
second appliance (by replication, the volume's snapshot along), then `volume
set --type --migration-policy on-demand` back to the first (no replication
target that way: the generic copy). The data written over iSCSI with the
connection info of `cinder attachment-create` is read back the same way after
each move."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from shoal.drivers.zfssa.appliance import Appliance
from shoal.drivers.zfssa.config import ApplianceAccess
from shoal.drivers.zfssa.rest import RestClient
from tests.e2e.attach_cli import attached
from tests.e2e.tour_fixtures import VOLUMES, remove, tour_shoal, wait_status, wait_until
from tests.fixtures.shoal import backend_table
from tests.integration.zfssa_helpers import (
    INITIATOR_A,
    iscsi_read,
    iscsi_table,
    iscsi_write,
    pattern,
    token,
)

pytestmark = pytest.mark.e2e
SRC, DST = "zfssa-one", "zfssa-two"
HOST_A = {"initiator": INITIATOR_A, "ip": "127.0.0.1", "host": "compute-a"}
MOVE = 600.0  # a migration on a busy 2-core machine


@pytest.fixture(scope="module")
def appliances(zpool, tmp_path_factory, zfssa_appliance_factory):
    """emulator: two emulated appliances, the first replicating to the second,
    a tour Shoal with a backend on each, and a type for each backend."""
    one, two = zfssa_appliance_factory("zfssa1"), zfssa_appliance_factory("zfssa2")
    src = iscsi_table(one, availability_zone="zfssa-one")
    dst = iscsi_table(two, availability_zone="zfssa-two", replication_ip=two.replication_ip)
    api_one = Appliance(RestClient(ApplianceAccess.model_validate(src["appliance"])))
    api_two = Appliance(RestClient(ApplianceAccess.model_validate(dst["appliance"])))
    peer = api_one.rest.call("POST", "/storage/v1/replication/targets",
                             {"hostname": two.replication_ip, "root_password": two.password,
                              "label": f"tour-{token()}"}, ok=(201,)).data["target"]
    try:
        with tour_shoal(zpool, tmp_path_factory, "tour-zfssa-move", backend_table(SRC, src) +
                        backend_table(DST, dst)) as tour:
            made = tour.osc_batch("admin", *[
                ["volume", "type", "create", "--public", "--property", f"volume_backend_name={name}",
                 f"{name}-{token()}", "-f", "json"] for name in (SRC, DST)])
            try:
                yield SimpleNamespace(tour=tour, src=src, dst=dst, one=api_one, two=api_two,
                                      types={SRC: made[0]["name"], DST: made[1]["name"]})
            finally:
                tour.osc("admin", "volume", "type", "delete", *[t["id"] for t in made], check=False)
    finally:
        api_one.rest.call("DELETE", f"/storage/v1/replication/targets/{peer['id']}", ok=(204,))


def luns(api: Appliance, table: dict, volume_id: str) -> list[str]:
    return sorted(n["name"] for n in api.luns(table["pool"], table["project"]) if volume_id in n["name"])


def reads(data: dict, dest, expected) -> bool:
    done = iscsi_read(data, INITIATOR_A, dest)
    assert done.returncode == 0, done.stderr
    return dest.read_bytes() == expected.read_bytes()


def moved(tour, volume_id: str, host: str) -> dict:
    """The volume once its migration succeeded onto `host` (admin's view)."""
    admin = tour.sdk("admin").block_storage

    def done():
        volume = admin.get_volume(volume_id)
        assert volume.migration_status != "error", f"the migration of {volume_id} failed"
        return volume if volume.migration_status == "success" and volume.status == "available" else None
    volume = wait_until(f"{volume_id} to be migrated", done, timeout=MOVE)
    assert volume.host == host, volume.host
    return volume


def test_volume_moves_between_appliances_by_replication_with_the_real_clients(appliances, tmp_path):
    """emulator: `openstack volume migrate --host` moves a written volume with
    its snapshot from the first appliance to the second by replication; the
    data and the snapshot's data read over iSCSI from the second appliance;
    `openstack volume set --type --migration-policy on-demand` brings it back
    by the generic copy (no replication target that way), data intact."""
    tour, src, dst = appliances.tour, appliances.src, appliances.dst
    member = tour.sdk("a-member").block_storage
    first, second = pattern(tmp_path / "first", 0x41), pattern(tmp_path / "second", 0x42)
    vol = tour.osc_json("a-member", "volume", "create", "--size", "1", "--availability-zone", "zfssa-one",
                        "zm-vol")["id"]
    made = [vol]
    try:
        wait_status(member.get_volume, vol, "available")
        assert tour.osc_json("admin", "volume", "show", vol)["os-vol-host-attr:host"] == f"shoal@{SRC}#{src['pool']}"
        with attached(tour, "a-member", vol, HOST_A) as (_, data):
            iscsi_write(data, INITIATOR_A, first)
        snap = tour.osc_json("a-member", "volume", "snapshot", "create", "--volume", vol, "zm-snap")["id"]
        wait_status(member.get_snapshot, snap, "available")
        with attached(tour, "a-member", vol, HOST_A) as (_, data):
            iscsi_write(data, INITIATOR_A, second)

        there = f"shoal@{DST}#{dst['pool']}"
        tour.osc("admin", "volume", "migrate", "--host", there, vol)
        moved(tour, vol, there)
        assert luns(appliances.two, dst, vol) == [f"volume-{vol}"] and luns(appliances.one, src, vol) == []
        with attached(tour, "a-member", vol, HOST_A) as (_, data):
            assert data["target_portal"] == dst["target_portal"]
            assert reads(data, tmp_path / "seen-moved", second)
        from_snap = tour.osc_json("a-member", "volume", "create", "--snapshot", snap, "--size", "1",
                                  "zm-from-snap")["id"]
        made.append(from_snap)
        wait_status(member.get_volume, from_snap, "available")
        with attached(tour, "a-member", from_snap, HOST_A) as (_, data):
            assert reads(data, tmp_path / "seen-snap", first)
        tour.osc("a-member", "volume", "delete", from_snap)
        tour.osc("a-member", "volume", "snapshot", "delete", snap)
        wait_until("zm-snap to go", lambda: not [s for s in member.snapshots() if s.id == snap])

        tour.osc("admin", "volume", "set", "--type", appliances.types[SRC], "--migration-policy", "on-demand", vol)
        moved(tour, vol, f"shoal@{SRC}#{src['pool']}")
        assert luns(appliances.one, src, vol) == [f"volume-{vol}"] and luns(appliances.two, dst, vol) == []
        with attached(tour, "a-member", vol, HOST_A) as (_, data):
            assert data["target_portal"] == src["target_portal"]
            assert reads(data, tmp_path / "seen-back", second)
    finally:
        remove(member, VOLUMES, made)
