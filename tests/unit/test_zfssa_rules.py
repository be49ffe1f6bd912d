"""The ZFSSA drivers' pure rules: backend tables, the zfssa:* extra specs and
the LUN bodies built from them, initiator groups and LUN numbers, capacity
arithmetic, the manage policies, names from ids, and what stops a rollback."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from shoal.drivers.base import InvalidRequest
from shoal.drivers.registry import BackendConfig, with_driver
from shoal.drivers.zfssa import lun_gc, lun_specs, manage_rules, naming, stats
from shoal.drivers.zfssa.appliance import MASK_ALL
from shoal.drivers.zfssa.config import LunDefaults

GiB = 1024**3
ISCSI = {"driver": "zfssa_iscsi", "appliance": {"address": "10.0.0.5", "user": "admin", "password": "pw"},
         "pool": "pool-0", "project": "shoal", "target_portal": "10.0.1.5:3260"}
NFS = {"driver": "zfssa_nfs", "appliance": {"address": "10.0.0.5", "user": "admin", "password": "pw"},
       "pool": "pool-0", "data_ip": "10.0.1.5"}


def parse(table: dict):
    return TypeAdapter(BackendConfig).validate_python(with_driver(table))


def test_backend_tables():
    iscsi = parse(ISCSI)
    assert iscsi.appliance.verify is True and iscsi.appliance.rest_port == 215 and iscsi.appliance.rest_timeout == 60
    assert iscsi.target_group == "tgt-grp" and iscsi.lun.volblocksize == "8k" and iscsi.manage_policy == "loose"
    assert "pw" not in repr(iscsi)
    nfs = parse(NFS)
    assert (nfs.project, nfs.share, nfs.https_port) == ("NFSProject", "nfs_share", 443)
    for bad in ({"pool": "../etc"}, {"target_portal": "10.0.1.5"}, {"lun": {"volblocksize": "3k"}},
                {"manage_policy": "lax"}, {"target_user": "u"}, {"appliance": {"address": "h/x", "user": "u",
                                                                                 "password": "p"}},
                {"surprise": 1}):
        with pytest.raises(ValidationError):
            parse({**ISCSI, **bad})
    with pytest.raises(ValidationError):
        parse({**ISCSI, "initiator_config": {"g1": [{"iqn": "iqn.1993-08.org.debian:01:a", "user": "u"}]}})


def test_extra_specs_over_the_defaults():
    defaults = LunDefaults()
    assert lun_specs.resolve({}, defaults) == lun_specs.LunSpecs("8k", False, "off", "latency")
    specs = lun_specs.resolve({"zfssa:volblocksize": "32k", "zfssa:sparse": "True", "zfssa:compression": "gzip",
                               "zfssa:logbias": "throughput"}, defaults)
    assert specs == lun_specs.LunSpecs("32k", True, "gzip", "throughput")
    assert lun_specs.resolve({"provisioning:type": "thin"}, defaults).sparse is True
    assert lun_specs.resolve({"provisioning:type": "thin", "zfssa:sparse": "<is> False"}, defaults).sparse is False
    for bad in ({"zfssa:volblocksize": "3k"}, {"zfssa:sparse": "maybe"}, {"zfssa:compression": "zstd"},
                {"zfssa:logbias": "fast"}, {"zfssa:dedup": "on"}, {"provisioning:type": "fat"}):
        with pytest.raises(InvalidRequest):
            lun_specs.check(bad)
    lun_specs.check({"zfssa:logbias": "latency", "capabilities:multiattach": "<is> True"})


def test_lun_bodies():
    specs = lun_specs.LunSpecs("16k", True, "lzjb", "latency")
    assert lun_specs.create_body("volume-1", 3, "tgt-grp", specs) == {
        "name": "volume-1", "volsize": "3g", "targetgroup": "tgt-grp", "initiatorgroup": MASK_ALL,
        "volblocksize": "16k", "sparse": True, "compression": "lzjb", "logbias": "latency",
        "custom:cinder_managed": True}
    clone = lun_specs.clone_body("shoal", "volume-2", specs)
    assert clone["project"] == "shoal" and clone["share"] == "volume-2" and clone["nodestroy"] is True
    assert "volblocksize" not in clone


def test_initiator_groups_and_lun_numbers():
    assert lun_specs.groups_of({"initiatorgroup": MASK_ALL}) == []
    assert lun_specs.groups_of({"initiatorgroup": "g1"}) == ["g1"]
    assert lun_specs.groups_of({"initiatorgroup": ["g1", "g2"]}) == ["g1", "g2"]
    assert lun_specs.initiatorgroup_value([]) == MASK_ALL
    assert lun_specs.initiatorgroup_value(["g1", "g1"]) == "g1"  # one group: a plain string (2013.1.2.x)
    assert lun_specs.initiatorgroup_value(["g2", "g1"]) == ["g1", "g2"]
    assert lun_specs.lun_numbers({"initiatorgroup": ["g1", "g2"], "assignednumber": [0, 3]}) == {"g1": 0, "g2": 3}
    assert lun_specs.lun_numbers({"initiatorgroup": "g1", "assignednumber": 2}) == {"g1": 2}


def test_capacity_from_the_projects_space():
    pool = stats.space_pool("pool-0", {"space_available": 30 * GiB, "space_total": 10 * GiB}, {"x": 1})
    assert (pool.total_gb, pool.free_gb, pool.allocated_gb, pool.capabilities) == (40.0, 30.0, 10.0, {"x": 1})
    assert stats.nfs_reserved_percentage({"space_available": 90, "space_total": 10}, 0, 20.0) == 0
    assert stats.nfs_reserved_percentage({"space_available": 10, "space_total": 90}, 20, 20.0) == 100
    assert stats.nfs_reserved_percentage({"space_available": 40, "space_total": 60}, 0, 0.5) == 100
    assert stats.location_info("10.0.0.5", "pool-0", "shoal", "tgt-grp") == "10.0.0.5:pool-0:shoal:tgt-grp"


@pytest.mark.parametrize("flag,policy,refused", [
    (None, "loose", False), (False, "loose", False), (True, "loose", True),
    (None, "strict", True), (False, "strict", False), (True, "strict", True),
])
def test_manage_policies(flag, policy, refused):
    reason = manage_rules.refusal("LUN x", flag, policy)
    assert (reason is not None) is refused
    if reason:
        assert "fix:" in reason


def test_manageable_listing_reasons():
    assert manage_rules.listing_reason(None, "loose", False) is None
    assert manage_rules.listing_reason(None, "strict", False) == "cinder_managed schema not present"
    assert manage_rules.listing_reason(True, "loose", False) == "managed by another cinder instance?"
    assert manage_rules.listing_reason(True, "loose", True) == "already managed"
    assert lun_specs.managed_flag({"custom:cinder_managed": "True"}) is True
    assert lun_specs.managed_flag({"custom:cinder_managed": False}) is False
    assert lun_specs.managed_flag({}) is None


def test_names_from_ids():
    assert naming.volume("volume-", "ab-12") == "volume-ab-12"
    assert naming.clone_snapshot("ab-12") == "tmp-snapshot-ab-12"
    assert naming.volume_id_of("volume-", "volume-ab-12") == "ab-12"
    assert naming.volume_id_of("volume-", "other") is None
    for bad in ("../x", "a/b", "", "a b"):
        with pytest.raises(InvalidRequest):
            naming.volume("volume-", bad)


def test_a_rollback_is_stopped_only_by_later_snapshots_with_clones():
    snapshots = [
        {"name": "tmp-snapshot-c1", "creation": "20261206T10:00:00", "numclones": 1},  # older: not in the way
        {"name": "snapshot-s1", "creation": "20261206T10:00:05", "numclones": 0},
        {"name": "tmp-snapshot-c2", "creation": "20261206T10:00:09", "numclones": 1},
        {"name": "deleted-snapshot-s0", "creation": "20261206T10:01:00", "numclones": 2},
        {"name": "tmp-snapshot-c3", "creation": "20261206T10:02:00", "numclones": 0},  # its clone went
        {"name": "snapshot-s2", "creation": "20261206T10:00:05", "numclones": 1},  # same second: not counted
    ]
    assert lun_gc.cloned_after(snapshots, "snapshot-s1") == ["the clone c2",
                                                             "the volumes made from deleted-snapshot-s0"]
    assert lun_gc.cloned_after(snapshots, "deleted-snapshot-s0") == []
    assert lun_gc.cloned_after(snapshots, "snapshot-gone") == []


def test_replication_migration_rules():
    """What a migration between appliances by replication goes by: the
    destination's replication_ip (an address, nothing else), the staging
    project named by the hidden target's id, and block sizes compared whatever
    form the appliance answers them in."""
    from shoal.drivers.zfssa.lun_migration import _block_size

    assert parse(ISCSI).replication_ip is None
    assert parse({**ISCSI, "replication_ip": " 10.0.2.5 "}).replication_ip == "10.0.2.5"
    for bad in ("10.0.2.5/24", "", "a b"):
        with pytest.raises(ValidationError):
            parse({**ISCSI, "replication_ip": bad})
    assert naming.migration_project("1234-abcd") == "shoal-migrating-1234-abcd"
    with pytest.raises(InvalidRequest):
        naming.migration_project("../x")
    assert _block_size(8192) == _block_size("8k") == _block_size("8K") == 8192
    assert _block_size("1m") == 1024**2 and _block_size("512") == 512
