"""The zfssa_iscsi driver against the ZFSSA emulator (tests/emulators/zfssa:
the appliance's REST API over real ZFS, tgtd and ganesha), or against a real
appliance when ZFSSA_URL/ZFSSA_USER/ZFSSA_PASSWORD/ZFSSA_POOL/ZFSSA_PROJECT
are set. Data is checked from outside as a compute host would: qemu-img over
iscsi:// with the connection info the driver returns, as the initiator the
connector names. Failure paths use the emulator's hooks (skipped on a real
appliance): a refused call, expired sessions, 503 bursts, a LUN removed behind
Shoal's back."""

from __future__ import annotations

import logging
import socket
import uuid

import pytest

from shoal.drivers.base import (
    DriverError,
    InvalidRequest,
    NotFoundOnBackend,
    UnsafeToManage,
)
from shoal.drivers.volume import Connector, ExportSpec, VolumeRef, VolumeSnapshotRef
from shoal.drivers.zfssa.config import ZfssaIscsiBackendConfig
from shoal.drivers.zfssa.iscsi import ZfssaIscsiVolumeDriver
from shoal.drivers.zfssa.rest import ApplianceNotFound
from tests.integration.zfssa_helpers import (
    INITIATOR_A,
    INITIATOR_B,
    GiB,
    appliance_table,
    iscsi_read,
    iscsi_size,
    iscsi_table,
    iscsi_write,
    pattern,
    token,
)

pytestmark = pytest.mark.integration

A, B = Connector(initiator=INITIATOR_A, host="compute-a"), Connector(initiator=INITIATOR_B, host="compute-b")


def make_driver(zfssa, **extra) -> ZfssaIscsiVolumeDriver:
    return ZfssaIscsiVolumeDriver("zfssa-it", ZfssaIscsiBackendConfig.model_validate(iscsi_table(zfssa, **extra)))


@pytest.fixture(scope="module")
def driver(zfssa_appliance):
    """A started driver with a project, target and initiator groups of its own."""
    drv = make_driver(zfssa_appliance)
    drv.start()
    yield drv
    if zfssa_appliance.emulated:  # the project is the test's own only on the emulator
        for lun in drv.api.luns(drv.config.pool, drv.config.project):
            drv._drop_lun(lun["name"])


def new_volume(driver, size_gb: int = 1, **specs) -> VolumeRef:
    ref = VolumeRef(str(uuid.uuid4()), driver.config.pool, size_gb, extra_specs=specs)
    result = driver.create_volume(ref)
    return VolumeRef(ref.id, ref.pool, size_gb, result.provider_location, specs)


def snap(driver, volume: VolumeRef) -> VolumeSnapshotRef:
    ref = VolumeSnapshotRef(str(uuid.uuid4()), volume)
    return VolumeSnapshotRef(ref.id, volume, driver.create_snapshot(ref).provider_location)


def attach(driver, volume: VolumeRef, *connectors: Connector) -> dict:
    return driver.export(volume, ExportSpec(connectors=connectors or (A,))).data


def lun_names(driver) -> set[str]:
    return {lun["name"] for lun in driver.api.luns(driver.config.pool, driver.config.project)}


def test_volume_data_through_snapshot_clone_and_extend(driver, tmp_path):
    """emulator: write over iSCSI, snapshot, overwrite, then a larger volume
    from the snapshot and a clone each read back the right data from outside."""
    volume = new_volume(driver)
    data = attach(driver, volume)
    assert data["target_portals"] == [driver.config.target_portal] and data["auth_method"] == "CHAP"
    iscsi_write(data, INITIATOR_A, pattern(tmp_path / "one", 0x31))
    first = snap(driver, volume)
    iscsi_write(data, INITIATOR_A, pattern(tmp_path / "two", 0x32))

    bigger = VolumeRef(str(uuid.uuid4()), driver.config.pool, 2)
    bigger = VolumeRef(bigger.id, bigger.pool, 2, driver.create_volume_from_snapshot(bigger, first).provider_location)
    seen = attach(driver, bigger)
    assert iscsi_read(seen, INITIATOR_A, tmp_path / "b").returncode == 0
    assert (tmp_path / "b").read_bytes() == (tmp_path / "one").read_bytes()
    assert iscsi_size(seen, INITIATOR_A) == 2 * GiB

    clone = VolumeRef(str(uuid.uuid4()), driver.config.pool, 1)
    clone = VolumeRef(clone.id, clone.pool, 1, driver.create_cloned_volume(clone, volume).provider_location)
    seen = attach(driver, clone)
    assert iscsi_read(seen, INITIATOR_A, tmp_path / "c").returncode == 0
    assert (tmp_path / "c").read_bytes() == (tmp_path / "two").read_bytes()

    driver.extend_volume(volume, 3)
    assert iscsi_size(attach(driver, volume), INITIATOR_A) == 3 * GiB

    with pytest.raises(InvalidRequest, match="cannot be smaller"):
        driver.create_volume_from_snapshot(VolumeRef(str(uuid.uuid4()), driver.config.pool, 1),
                                           VolumeSnapshotRef(first.id, VolumeRef(volume.id, volume.pool, 3,
                                                                                  volume.provider_location)))
    for v in (bigger, clone):
        driver.delete_volume(v)
    driver.delete_snapshot(first)
    driver.delete_volume(volume)
    assert not lun_names(driver) & {volume.provider_location, bigger.provider_location, clone.provider_location}


def test_revert_to_a_snapshot_through_the_appliances_rollback(driver, tmp_path):
    """emulator: the appliance's snapshot rollback brings back the snapshot's
    data, read from outside over iSCSI; a volume extended since keeps its size;
    a rollback past a snapshot a clone depends on is refused and changes nothing,
    and check_revert refuses it beforehand (naming the clone) while the clone is there."""
    volume = new_volume(driver)
    data = attach(driver, volume)
    iscsi_write(data, INITIATOR_A, pattern(tmp_path / "one", 0x51))
    first = snap(driver, volume)
    iscsi_write(data, INITIATOR_A, pattern(tmp_path / "two", 0x52))
    driver.extend_volume(volume, 2)
    grown = VolumeRef(volume.id, volume.pool, 2, volume.provider_location)

    driver.check_revert(VolumeSnapshotRef(first.id, volume, first.provider_location))  # nothing against it
    driver.revert_to_snapshot(VolumeSnapshotRef(first.id, grown, first.provider_location))
    data = attach(driver, grown)
    assert iscsi_read(data, INITIATOR_A, tmp_path / "back").returncode == 0
    assert (tmp_path / "back").read_bytes() == (tmp_path / "one").read_bytes()
    assert iscsi_size(data, INITIATOR_A) == 2 * GiB
    assert driver.api.lun(driver.config.pool, driver.config.project, volume.provider_location)["volsize"] == 2 * GiB
    driver.api.lun_snapshot(driver.config.pool, driver.config.project, volume.provider_location,
                            first.provider_location)  # still there to revert to again

    # A clone made since holds the clone's snapshot of the volume, newer than `first`.
    iscsi_write(data, INITIATOR_A, pattern(tmp_path / "three", 0x53))
    clone = VolumeRef(str(uuid.uuid4()), driver.config.pool, 2)
    clone = VolumeRef(clone.id, clone.pool, 2, driver.create_cloned_volume(clone, grown).provider_location)
    with pytest.raises(InvalidRequest, match=f"needed by the clone {clone.id}"):
        driver.check_revert(VolumeSnapshotRef(first.id, grown, first.provider_location))
    with pytest.raises(DriverError, match="clones"):
        driver.revert_to_snapshot(VolumeSnapshotRef(first.id, grown, first.provider_location))
    assert iscsi_read(attach(driver, grown), INITIATOR_A, tmp_path / "kept").returncode == 0
    assert (tmp_path / "kept").read_bytes() == (tmp_path / "three").read_bytes()
    driver.delete_volume(clone)
    driver.check_revert(VolumeSnapshotRef(first.id, grown, first.provider_location))  # the clone is gone
    driver.delete_snapshot(first)
    driver.delete_volume(grown)


def test_attach_and_detach_change_exactly_the_connectors_groups(driver, tmp_path):
    """emulator: two hosts in two initiator groups attach one volume
    (multi-attach); after the first detaches it is refused, the other reads on.
    The LUN joins every appliance group that holds a connector's initiator
    (other backends on the same appliance may have put A and B in groups too)."""
    volume = new_volume(driver)
    both = attach(driver, volume, A, B)
    lun = driver.api.lun(driver.config.pool, driver.config.project, volume.provider_location)
    groups = groups_holding(driver, INITIATOR_A, INITIATOR_B)
    assert set(driver.config.initiator_config) <= set(groups)
    assert sorted(lun_specs_groups(lun)) == groups
    assert iscsi_read(both, INITIATOR_B, tmp_path / "b").returncode == 0
    a_info = attach(driver, volume, B, A)  # newest connector last: A's LUN number
    assert iscsi_read(a_info, INITIATOR_A, tmp_path / "a").returncode == 0

    only_b = attach(driver, volume, B)
    lun = driver.api.lun(driver.config.pool, driver.config.project, volume.provider_location)
    assert sorted(lun_specs_groups(lun)) == groups_holding(driver, INITIATOR_B)
    assert iscsi_read(only_b, INITIATOR_B, tmp_path / "b2").returncode == 0
    assert iscsi_read(a_info, INITIATOR_A, tmp_path / "a2").returncode != 0

    driver.unexport(volume)
    assert iscsi_read(only_b, INITIATOR_B, tmp_path / "b3").returncode != 0
    with pytest.raises(InvalidRequest, match="in no initiator group"):
        attach(driver, volume, Connector(initiator="iqn.2026-12.org.shoal.test:stranger"))
    driver.delete_volume(volume)


def groups_holding(driver, *initiators: str) -> list[str]:
    return sorted(group["name"] for group in driver.api.initiator_groups()
                  if set(group.get("initiators") or ()) & set(initiators))


def lun_specs_groups(lun: dict) -> list[str]:
    from shoal.drivers.zfssa.lun_specs import groups_of

    return groups_of(lun)


def test_extra_specs_reach_the_lun(driver):
    """emulator: zfssa:* specs become the LUN's properties."""
    volume = new_volume(driver, 1, **{"zfssa:volblocksize": "16k", "zfssa:sparse": "True",
                                      "zfssa:compression": "gzip", "zfssa:logbias": "throughput"})
    lun = driver.api.lun(driver.config.pool, driver.config.project, volume.provider_location)
    assert (lun["compression"], lun["logbias"], lun["sparse"]) == ("gzip", "throughput", True)
    assert str(lun["volblocksize"]) in ("16k", "16384")
    assert lun["custom:cinder_managed"] is True
    driver.delete_volume(volume)


def test_retype_changes_the_lun_in_place(driver, tmp_path):
    """emulator: a new type's sparse, compression and logbias are set on the
    LUN, whose data stays; a new volblocksize (fixed at create) is refused in
    place (False: the volume would have to be migrated) and changes nothing."""
    before = {"zfssa:compression": "off", "zfssa:logbias": "latency", "zfssa:sparse": "False"}
    volume = new_volume(driver, 1, **before)
    data = attach(driver, volume)
    iscsi_write(data, INITIATOR_A, pattern(tmp_path / "one", 0x61))
    after = {"zfssa:compression": "gzip", "zfssa:logbias": "throughput", "zfssa:sparse": "True"}
    assert driver.retype(volume, after) is True
    lun = driver.api.lun(driver.config.pool, driver.config.project, volume.provider_location)
    assert (lun["compression"], lun["logbias"], lun["sparse"]) == ("gzip", "throughput", True)
    assert iscsi_read(attach(driver, volume), INITIATOR_A, tmp_path / "seen").returncode == 0
    assert (tmp_path / "seen").read_bytes() == (tmp_path / "one").read_bytes()

    retyped = VolumeRef(volume.id, volume.pool, 1, volume.provider_location, after)
    assert driver.retype(retyped, {**after, "zfssa:volblocksize": "64k"}) is False
    lun = driver.api.lun(driver.config.pool, driver.config.project, volume.provider_location)
    assert lun["compression"] == "gzip" and str(lun["volblocksize"]) in ("8k", "8192")
    driver.delete_volume(volume)


def test_a_failed_clone_fails_and_leaves_nothing(driver, zfssa_appliance):
    """emulator: the appliance refuses the clone; the call raises (the original
    reported success) and the temporary snapshot is gone."""
    source = new_volume(driver)
    zfssa_appliance.fail_next("PUT", r"/snapshots/tmp-snapshot-[^/]+/clone$", 500)
    clone = VolumeRef(str(uuid.uuid4()), driver.config.pool, 1)
    with pytest.raises(DriverError, match="500"):
        driver.create_cloned_volume(clone, source)
    with pytest.raises(ApplianceNotFound):
        driver.api.lun_snapshot(driver.config.pool, driver.config.project, source.provider_location,
                                f"tmp-snapshot-{clone.id}")
    assert f"volume-{clone.id}" not in lun_names(driver)
    driver.delete_volume(source)


def test_a_source_deleted_before_its_clone_is_collected_with_it(driver):
    """emulator: deleting a volume a clone depends on succeeds (hidden), and
    it is gone once the clone is."""
    source = new_volume(driver)
    s = snap(driver, source)
    child = VolumeRef(str(uuid.uuid4()), driver.config.pool, 1)
    child = VolumeRef(child.id, child.pool, 1, driver.create_volume_from_snapshot(child, s).provider_location)
    driver.delete_snapshot(s)
    driver.delete_volume(source)
    assert source.provider_location not in lun_names(driver)
    assert f"deleted-{source.provider_location}" in lun_names(driver)
    driver.delete_volume(child)
    assert not {f"deleted-{source.provider_location}", child.provider_location} & lun_names(driver)


def test_sessions_expiring_and_busy_bursts(driver, zfssa_appliance):
    """emulator: expired sessions are renewed; a 503 burst shorter than the
    retries is ridden out, a longer one is an error that says so."""
    zfssa_appliance.expire_sessions()
    volume = new_volume(driver)
    zfssa_appliance.busy(3)
    driver.extend_volume(volume, 2)
    assert driver.api.lun(driver.config.pool, driver.config.project, volume.provider_location)["volsize"] == 2 * GiB
    zfssa_appliance.busy(50)
    try:
        with pytest.raises(DriverError, match="503"):
            driver.extend_volume(volume, 3)
    finally:
        zfssa_appliance.emulator.injector.clear()
    driver.delete_volume(volume)


def test_a_lun_removed_behind_shoals_back(driver):
    """emulator: someone deletes the LUN on the appliance; attach says so, delete
    succeeds, and recovery reports the volume."""
    volume = new_volume(driver)
    driver.api.delete_lun(driver.config.pool, driver.config.project, volume.provider_location)
    with pytest.raises(NotFoundOnBackend, match="gone"):
        attach(driver, volume)
    assert volume.id in driver.recover([volume])
    driver.delete_volume(volume)


def test_manage_and_unmanage_in_both_policies(driver, zfssa_appliance):
    """emulator: a LUN made by hand is listed and managed (loose); under strict
    it needs cinder_managed = false first; once managed it is listed as not
    safe, "already managed" (by a volume of Shoal's) or "managed by another
    cinder instance?" (by none); unmanage renames it and clears the flag."""
    pool, project = driver.config.pool, driver.config.project
    hand = f"by-hand-{token()}"
    driver.api.create_lun(pool, project, {"name": hand, "volsize": "1g", "targetgroup": driver.config.target_group,
                                          "initiatorgroup": "com.sun.ms.vss.hg.maskAll"})
    listed = {item.reference: item for item in driver.manageable_volumes([])}
    assert listed[hand].safe_to_manage and listed[hand].size_gb == 1

    strict = make_driver(zfssa_appliance, project=project, target_group=driver.config.target_group,
                         manage_policy="strict")
    item = {i.reference: i for i in strict.manageable_volumes([])}[hand]
    assert (item.safe_to_manage, item.reason_not_safe) == (False, "cinder_managed schema not present")
    target = VolumeRef(str(uuid.uuid4()), pool, 1)
    with pytest.raises(UnsafeToManage, match="manage_policy is strict"):
        strict.manage_existing(target, {"source-name": hand})
    driver.api.modify_lun(pool, project, hand, {"custom:cinder_managed": False})
    result = strict.manage_existing(target, {"source-name": hand})
    assert (result.provider_location, result.size_gb) == (f"volume-{target.id}", 1)
    managed = VolumeRef(target.id, pool, 1, result.provider_location)
    entry = {i.reference: i for i in driver.manageable_volumes([managed])}[managed.provider_location]
    assert (entry.safe_to_manage, entry.managed_id, entry.reason_not_safe) == (False, target.id, "already managed")
    elsewhere = {i.reference: i for i in driver.manageable_volumes([])}[managed.provider_location]  # not Shoal's
    assert (elsewhere.safe_to_manage, elsewhere.reason_not_safe) == (False, "managed by another cinder instance?")
    with pytest.raises(UnsafeToManage, match="already managed"):
        driver.manage_existing(VolumeRef(str(uuid.uuid4()), pool, 1), {"source-name": managed.provider_location})
    with pytest.raises(UnsafeToManage, match="no LUN named"):
        driver.manage_existing(VolumeRef(str(uuid.uuid4()), pool, 1), {"source-name": "nothing-here"})

    driver.unmanage(managed)
    lun = driver.api.lun(pool, project, f"unmanaged-{managed.provider_location}")
    assert lun["custom:cinder_managed"] is False
    driver.api.delete_lun(pool, project, f"unmanaged-{managed.provider_location}")


def test_stats_come_from_the_project_and_carry_no_credentials(driver, zfssa_appliance):
    """emulator: one pool, sized by the project's space; no password anywhere."""
    [pool] = driver.pools()
    assert pool.name == driver.config.pool and pool.total_gb > 0 and 0 < pool.free_gb <= pool.total_gb
    caps = pool.capabilities
    assert caps["vendor_name"] == "Oracle" and caps["storage_protocol"] == "iSCSI" and caps["multiattach"] is True
    assert zfssa_appliance.password not in repr(caps) and zfssa_appliance.user not in caps["location_info"]


def test_misconfiguration_is_named_with_its_fix(driver, zfssa_appliance):
    """emulator: wrong pool, missing project, missing target group, wrong
    password, nothing listening: one line each, naming the fix."""
    assert driver.problems() == []
    wrong_pool = make_driver(zfssa_appliance, pool="no-such-pool")
    [problem] = wrong_pool.problems()
    assert "pool 'no-such-pool' does not exist" in problem and "fix:" in problem
    with pytest.raises(DriverError, match="no-such-pool"):
        wrong_pool.start()
    if zfssa_appliance.emulated:
        problems = make_driver(zfssa_appliance, project=f"never-made-{token()}").problems()
        assert any("does not exist in pool" in p and "fix:" in p for p in problems)
        problems = make_driver(zfssa_appliance, project=driver.config.project).problems()
        assert any("target 'shoal-tg-" in p and "fix:" in p for p in problems)
    bad_password = {**appliance_table(zfssa_appliance), "password": "wrong-password"}
    [problem] = make_driver(zfssa_appliance, appliance=bad_password).problems()
    assert "refused" in problem and "wrong-password" not in problem
    nobody = {**appliance_table(zfssa_appliance), "rest_port": 1}
    [problem] = make_driver(zfssa_appliance, appliance=nobody).problems()
    assert "cannot reach the REST API" in problem


def test_tls_is_verified(zfssa_appliance):
    """emulator: without the appliance's CA the certificate is refused, with a
    fix; with `verify = false` (asked for) the same appliance is reached."""
    no_ca = {**appliance_table(zfssa_appliance), "ca_file": None}
    [problem] = make_driver(zfssa_appliance, appliance=no_ca).problems()
    assert "ca_file" in problem
    unchecked = make_driver(zfssa_appliance, appliance={**no_ca, "verify": False})
    assert unchecked.api.version().get("asn")


def test_an_appliance_that_never_answers_times_out(zfssa_appliance):
    """emulator's settings, at a port that accepts connections and never
    answers (a hung appliance): the call ends with an error naming
    rest_timeout instead of waiting on."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        hung = {**appliance_table(zfssa_appliance), "address": "127.0.0.1", "rest_port": silent.getsockname()[1],
                "rest_timeout": 2}
        [problem] = make_driver(zfssa_appliance, appliance=hung).problems()
    assert "rest_timeout" in problem, problem


def test_no_password_or_chap_secret_is_logged(zfssa_appliance, caplog):
    """emulator: at DEBUG, through a start that makes an initiator and a
    target with CHAP secrets, an expired session, a 503 burst, a refused call
    and a refused login, Shoal's log holds neither the appliance's password
    nor a CHAP secret."""
    initiator_secret, target_secret = f"ini{token()}sec", f"tgt{token()}sec"
    caplog.set_level(logging.DEBUG)
    drv = make_driver(zfssa_appliance, target_password=target_secret, initiator_config={
        f"shoal-ig-log-{token()}": [{"iqn": f"iqn.2004-10.com.example:log-{token()}", "user": "log-chap",
                                     "password": initiator_secret}]})
    drv.start()
    zfssa_appliance.expire_sessions()
    volume = new_volume(drv)
    zfssa_appliance.busy(2)
    drv.extend_volume(volume, 2)
    zfssa_appliance.fail_next("PUT", r"/luns/", 500)
    with pytest.raises(DriverError):
        drv.extend_volume(volume, 3)
    wrong = f"wrong{token()}"
    assert make_driver(zfssa_appliance, appliance={**appliance_table(zfssa_appliance), "password": wrong}).problems()
    drv.delete_volume(volume)
    logged = caplog.text
    assert "ZFSSA" in logged  # the calls were logged, only not their secrets
    for secret in (zfssa_appliance.password, wrong, initiator_secret, target_secret):
        assert secret not in logged
