"""The StorPool volume driver against the StorPool API emulator
(tests/emulators/storpool: a real HTTP server on 127.0.0.1 speaking
/ctrl/1.0/..., volumes as files in ZFS datasets, attached to this host as loop
devices under /dev/storpool). The driver reads the emulator's client config
as it would a cluster's (/etc/storpool.conf plus the environment), and os-brick's
unmodified StorPoolConnector attaches what `export` returns: data written
through its device is read back after a snapshot, a clone, an extend and a
revert."""

from __future__ import annotations

import platform
import uuid

import pytest

from shoal.drivers.base import DriverError, NotFoundOnBackend
from shoal.drivers.storpool.config import StorPoolBackendConfig
from shoal.drivers.storpool.volumes import StorPoolVolumeDriver
from shoal.drivers.volume import Connector, ExportSpec, VolumeRef, VolumeSnapshotRef
from tests.fixtures.shoal import running_shoal
from tests.fixtures.storpool import OTHER_HOSTS
from tests.integration.storpool_helpers import Attached

from .volume_helpers import cinder, wait_for_status, wait_gone

pytestmark = pytest.mark.integration

GiB = 1024**3
HERE = Connector(host=platform.node(), ip="127.0.0.1")


def make_driver(**kwargs) -> StorPoolVolumeDriver:
    return StorPoolVolumeDriver("sp", StorPoolBackendConfig(driver="storpool", **kwargs))


def vol(size: int = 1, **specs) -> VolumeRef:
    volume_id = str(uuid.uuid4())
    return VolumeRef(volume_id, "default", size, provider_location=f"os--volume-{volume_id}", extra_specs=specs)


def snap(volume: VolumeRef) -> VolumeSnapshotRef:
    return VolumeSnapshotRef(str(uuid.uuid4()), volume)


def name(volume: VolumeRef) -> str:
    return f"os--volume-{volume.id}"


def summary(emulator, volume_or_name) -> dict:
    key = volume_or_name if isinstance(volume_or_name, str) else name(volume_or_name)
    return emulator.store.volumes[key].summary()


def attach(driver, volume, connector=HERE) -> Attached:
    return Attached(driver.export(volume, ExportSpec(connectors=(connector,))).data)


def read_back(driver, volume, offset: int, length: int) -> bytes:
    device = attach(driver, volume)
    try:
        return device.read(offset, length)
    finally:
        device.close()


# ---- stats and settings -----------------------------------------------------------------------


def test_pools_carry_the_emulators_disks_and_templates(storpool_emulator):
    """Emulator: default plus template_<name> pools, all with §4.6's numbers."""
    driver = make_driver(replication=3)
    numbers = storpool_emulator.stats_numbers()
    pools = driver.pools()
    assert [p.name for p in pools] == ["default", "template_hybrid", "template_ssd"]
    assert [p.capabilities.get("storpool_template") for p in pools] == [None, "hybrid", "ssd"]
    for pool in pools:
        assert pool.total_gb == round(numbers["total"] / GiB, 2)
        assert pool.allocated_gb == round(numbers["used"] / GiB, 2)
        assert pool.free_gb == round(numbers["free"] * 4096 / 4224 / 3 / GiB, 2)
    assert driver.problems() == []


def test_client_ids_come_from_the_hosts_sections(storpool_emulator):
    """Emulator's /etc/storpool.conf: this host's SP_OURID, and other hosts' sections."""
    driver = make_driver()
    volume = vol()
    driver.create_volume(volume)
    host, client_id = next(iter(OTHER_HOSTS.items()))
    info = driver.export(volume, ExportSpec(connectors=(HERE, Connector(host=host))))
    assert (info.driver_volume_type, info.data) == \
        ("storpool", {"client_id": client_id, "volume": volume.id, "access_mode": "rw"})
    assert driver.export(volume, ExportSpec(connectors=(HERE,))).data["client_id"] == 1
    assert make_driver(client_ids={host: 40}).export(volume, ExportSpec(connectors=(Connector(host=host),))) \
        .data["client_id"] == 40


# ---- data through os-brick ----------------------------------------------------------------------


def test_data_through_os_brick_survives_snapshot_clone_extend_and_revert(storpool_emulator):
    """Emulator: os-brick attaches each volume as /dev/storpool-byid/<globalId>."""
    driver = make_driver()
    volume = vol(1)
    assert driver.create_volume(volume).provider_location == name(volume)
    device = attach(driver, volume)
    assert device.path.startswith("/dev/storpool-byid/")
    device.write(4096, b"first")
    snapshot = snap(volume)
    driver.create_snapshot(snapshot)
    device.write(4096, b"later")

    # A volume from the snapshot, bigger; a clone of the volume as it is now.
    from_snapshot, clone = vol(2), vol(1)
    driver.create_volume_from_snapshot(from_snapshot, snapshot)
    driver.create_cloned_volume(clone, volume)
    assert read_back(driver, from_snapshot, 4096, 5) == b"first"
    assert summary(storpool_emulator, from_snapshot)["size"] == 2 * GiB
    assert read_back(driver, clone, 4096, 5) == b"later"

    # Extend while attached: os-brick's extend_volume sees the new size.
    driver.extend_volume(volume, 3)
    assert device.connector.extend_volume(device.properties) == 3 * GiB
    device.write(2 * GiB + 512, b"grown")
    device.close()

    # Revert (detached, as StorPool wants): the snapshot's data, the volume's size kept.
    driver.revert_to_snapshot(VolumeSnapshotRef(snapshot.id, VolumeRef(volume.id, "default", 3)))
    assert summary(storpool_emulator, volume)["size"] == 3 * GiB
    assert read_back(driver, volume, 4096, 5) == b"first"
    assert read_back(driver, volume, 2 * GiB + 512, 5) == bytes(5)  # written after the snapshot: gone

    for v in (clone, from_snapshot):
        driver.delete_volume(v)
    driver.delete_snapshot(snapshot)
    driver.delete_volume(volume)
    assert storpool_emulator.store.volumes == {} and storpool_emulator.store.snapshots == {}


def test_a_clone_into_another_template_keeps_its_transient_parent(storpool_emulator):
    """Emulator: the snapshot moves to the new template, is tagged transient, and goes with the clone."""
    driver = make_driver()
    source, clone = vol(1, storpool_template="hybrid"), vol(1, storpool_template="ssd")
    driver.create_volume(source)
    device = attach(driver, source)
    device.write(0, b"source data")
    device.close()
    driver.create_cloned_volume(clone, source)
    parent = f"os--clone--none--snapshot-{clone.id}"
    transient = storpool_emulator.store.snapshots[parent].summary()
    assert (transient["templateName"], transient["tags"]) == ("ssd", {"transient": "1.0"})
    assert (summary(storpool_emulator, clone)["templateName"], summary(storpool_emulator, clone)["parentName"]) == \
        ("ssd", parent)
    assert read_back(driver, clone, 0, 11) == b"source data"
    driver.delete_volume(clone)
    assert parent not in storpool_emulator.store.snapshots


def test_a_failed_clone_leaves_no_snapshot(storpool_emulator):
    """Emulator: VolumeCreate refused after the transient snapshot was made."""
    driver = make_driver()
    source, clone = vol(1), vol(1, storpool_template="ssd")
    driver.create_volume(source)
    storpool_emulator.fail_next(1, name="insufficientResources", descr="no room", transient=False,
                                calls={"VolumeCreate"})
    with pytest.raises(DriverError, match="insufficientResources: no room"):
        driver.create_cloned_volume(clone, source)
    assert list(storpool_emulator.store.snapshots) == []
    assert list(storpool_emulator.store.volumes) == [name(source)]


def test_same_template_clone_is_based_on_its_source(storpool_emulator):
    """Emulator: baseOn, no snapshot of ours (StorPool's own is anonymous); the
    source may be deleted before the clone."""
    driver = make_driver(template="hybrid")
    source, clone = vol(1), vol(2)
    driver.create_volume(source)
    driver.create_cloned_volume(clone, source)
    assert [c[2].get("baseOn") for c in storpool_emulator.calls("VolumeCreate")] == [None, name(source)]
    assert summary(storpool_emulator, clone)["templateName"] == "hybrid"
    assert all(s.startswith("*") for s in storpool_emulator.store.snapshots)
    driver.delete_volume(source)
    driver.delete_volume(clone)
    assert storpool_emulator.store.volumes == {}


# ---- templates, retype, migration ----------------------------------------------------------------


def test_templates_and_retype_in_place(storpool_emulator):
    """Emulator: the type's template, the backend's, else the replication; retype
    changes the template through os-brick's volume_update(name, data) (the
    upstream call with keywords raised TypeError, §4.5)."""
    driver = make_driver(replication=2)
    typed, plain = vol(1, storpool_template="ssd"), vol(1)
    driver.create_volume(typed)
    driver.create_volume(plain)
    assert (summary(storpool_emulator, typed)["templateName"], summary(storpool_emulator, typed)["replication"]) == \
        ("ssd", 2)
    assert (summary(storpool_emulator, plain)["templateName"], summary(storpool_emulator, plain)["replication"]) == \
        ("", 2)
    assert make_driver(template="hybrid").create_volume(vol(1)) is not None
    assert driver.retype(plain, {"storpool_template": "hybrid"}) is True
    assert summary(storpool_emulator, plain)["templateName"] == "hybrid"
    assert driver.retype(typed, {"volume_backend_name": "elsewhere"}) is False
    assert summary(storpool_emulator, typed)["templateName"] == "ssd"


def test_update_migrated_volume_swaps_the_names(storpool_emulator):
    """Emulator: the migrated data ends under the original's name, the old data under the new one's."""
    driver = make_driver()
    original, migrated = vol(1), vol(1)
    driver.create_volume(original)
    driver.create_volume(migrated)
    device = attach(driver, migrated)
    device.write(0, b"migrated")
    device.close()
    ids = (summary(storpool_emulator, original)["globalId"], summary(storpool_emulator, migrated)["globalId"])
    assert driver.update_migrated_volume(original, migrated) is None
    assert (summary(storpool_emulator, migrated)["globalId"], summary(storpool_emulator, original)["globalId"]) == ids
    assert read_back(driver, original, 0, 8) == b"migrated"
    driver.delete_volume(migrated)  # the old data, as services delete the migration's temporary
    assert list(storpool_emulator.store.volumes) == [name(original)]
    assert driver.update_migrated_volume(original, vol(1)) is not None  # no such temporary: nothing renamed

    # The original gone already: one rename.
    again = vol(1)
    driver.create_volume(again)
    driver.delete_volume(original)
    assert driver.update_migrated_volume(original, again) is None
    assert list(storpool_emulator.store.volumes) == [name(original)]


# ---- failures ------------------------------------------------------------------------------------


def test_transient_errors_are_retried_with_the_same_body(storpool_emulator):
    """Emulator: two transient failures, then VolumeCreate runs; every try carries
    the JSON object (os-brick's own retry would send a JSON string, which the
    emulator refuses)."""
    driver = make_driver()
    volume = vol(1)
    storpool_emulator.fail_next(2, calls={"VolumeCreate"})
    driver.create_volume(volume)
    bodies = [c[2] for c in storpool_emulator.calls("VolumeCreate")]
    assert bodies == [{"name": name(volume), "size": GiB, "replication": 3}] * 3
    storpool_emulator.fail_next(1, name="busy", descr="not now", transient=False, calls={"VolumeUpdate"})
    with pytest.raises(DriverError, match="busy: not now"):
        driver.extend_volume(volume, 2)


def test_an_api_that_is_down_is_a_clear_error(storpool_emulator):
    """Emulator down: connection refused, retried, then a DriverError naming the API."""
    driver = make_driver(api_retries=1)
    storpool_emulator.down()
    try:
        with pytest.raises(DriverError, match=r"StorPool API at 127\.0\.0\.1:\d+ did not answer volume_create "
                                              r"after 2 tries: .*Connection refused"):
            driver.create_volume(vol(1))
        assert "fix: start the StorPool API" in driver.problems()[0]
    finally:
        storpool_emulator.up()
    driver.create_volume(vol(1))


def test_multiattach_and_delete_of_a_volume_attached_elsewhere(storpool_emulator):
    """Emulator: attached here through os-brick and on another host (client 2,
    as its own os-brick would), both read-write; this host detaches; the delete
    detaches the other host, then deletes."""
    driver = make_driver()
    volume = vol(1)
    driver.create_volume(volume)
    here = attach(driver, volume)
    driver.api.call("volumes_reassign", [{"volume": name(volume), "rw": [2]}])
    assert storpool_emulator.store.volumes[name(volume)].attachments == {1: "rw", 2: "rw"}
    here.write(0, b"shared")
    here.close()
    assert storpool_emulator.store.volumes[name(volume)].attachments == {2: "rw"}
    driver.delete_volume(volume)
    assert storpool_emulator.store.volumes == {}
    driver.delete_volume(volume)  # gone already: fine
    with pytest.raises(NotFoundOnBackend):
        driver.extend_volume(volume, 2)
    with pytest.raises(NotFoundOnBackend):
        driver.export(volume, ExportSpec(connectors=(HERE,)))


def test_snapshot_with_a_child_volume_can_be_deleted(storpool_emulator):
    """Emulator: the snapshot goes from the listing; the child keeps its data."""
    driver = make_driver()
    volume, child = vol(1), vol(1)
    driver.create_volume(volume)
    snapshot = snap(volume)
    driver.create_snapshot(snapshot)
    driver.create_volume_from_snapshot(child, snapshot)
    driver.delete_snapshot(snapshot)
    driver.delete_snapshot(snapshot)  # gone already: fine
    driver.delete_volume(volume)
    assert list(storpool_emulator.store.volumes) == [name(child)]


# ---- through Shoal --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shoal_with_storpool(zpool, tmp_path_factory, storpool_emulator_session):
    emulator = storpool_emulator_session
    extra = f"""
[backends.sp]
driver = "storpool"
api_host = "{emulator.host}"
api_port = {emulator.port}
auth_token = "{emulator.token}"
"""
    with running_shoal(zpool, tmp_path_factory, "storpool-svc", extra_config=extra) as server:
        yield server


def test_through_shoal_a_type_places_attaches_and_retypes_in_place(shoal_with_storpool, storpool_emulator):
    """Emulator behind a real `shoal serve`: a type naming a template lands in its
    pool, the Cinder attachment API hands out the storpool connection info that
    os-brick attaches, and a retype to another template happens in place."""
    with cinder(shoal_with_storpool) as client:
        types = {}
        for template in ("ssd", "hybrid"):
            types[template] = client.post("/types", json={"volume_type": {
                "name": f"sp-{template}-{uuid.uuid4().hex[:6]}",
                "extra_specs": {"volume_backend_name": "sp", "storpool_template": template}}}).json()["volume_type"]
        try:
            pools = {p["name"]: p["capabilities"] for p in
                     client.get("/scheduler-stats/get_pools", params={"detail": "true"}).json()["pools"]}
            assert {"shoal@sp#default", "shoal@sp#template_ssd", "shoal@sp#template_hybrid"} <= set(pools)
            caps = pools["shoal@sp#template_ssd"]
            assert (caps["storage_protocol"], caps["multiattach"], caps["storpool_template"]) == \
                ("storpool", True, "ssd")

            created = client.post("/volumes", json={"volume": {"size": 1, "volume_type": types["ssd"]["id"]}})
            volume = wait_for_status(client, f"/volumes/{created.json()['volume']['id']}", "available")
            assert volume["os-vol-host-attr:host"] == "shoal@sp#template_ssd"
            assert summary(storpool_emulator, f"os--volume-{volume['id']}")["templateName"] == "ssd"

            resp = client.post("/attachments", json={"attachment": {
                "volume_uuid": volume["id"], "instance_uuid": str(uuid.uuid4()),
                "connector": {"host": platform.node(), "ip": "127.0.0.1"}}})
            assert resp.status_code == 200, resp.text
            attachment = resp.json()["attachment"]
            info = attachment["connection_info"]
            assert info["driver_volume_type"] == "storpool"
            assert info["data"] == {"client_id": 1, "volume": volume["id"], "access_mode": "rw"}
            device = Attached(info["data"])
            device.write(0, b"via shoal")
            assert device.read(0, 9) == b"via shoal"
            device.close()
            assert client.delete(f"/attachments/{attachment['id']}").status_code == 200

            resp = client.post(f"/volumes/{volume['id']}/action", json={"os-retype": {
                "new_type": types["hybrid"]["id"], "migration_policy": "never"}})
            assert resp.status_code == 202, resp.text
            retyped = wait_for_status(client, f"/volumes/{volume['id']}", "available")
            assert retyped["volume_type"] == types["hybrid"]["name"]
            assert retyped["os-vol-host-attr:host"] == "shoal@sp#template_hybrid"  # the new template's pool
            assert summary(storpool_emulator, f"os--volume-{volume['id']}")["templateName"] == "hybrid"

            assert client.delete(f"/volumes/{volume['id']}").status_code == 202
            wait_gone(client, f"/volumes/{volume['id']}")
            assert storpool_emulator.store.volumes == {}
        finally:
            for vtype in types.values():
                client.delete(f"/types/{vtype['id']}")
