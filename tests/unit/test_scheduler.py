"""Share placement (shoal.services.common.scheduler.choose_pool).

This is pure placement logic: the drivers are tiny stand-ins that report fixed
PoolStats, so no backend, database or process is involved.
"""

from __future__ import annotations

import pytest

from shoal.drivers.base import InvalidRequest, PoolStats
from shoal.services.common.scheduler import NoValidPool, Placement, choose_pool, fits


class StubDriver:
    """Only what the scheduler reads: availability_zone, validate_extra_specs, pools()."""

    def __init__(self, *pools: PoolStats, zone: str = "nova", refuse: str | None = None, broken: Exception | None = None):
        self.availability_zone = zone
        self._pools = list(pools)
        self._refuse = refuse
        self._broken = broken
        self.seen_specs: list[dict] = []

    def validate_extra_specs(self, extra_specs):
        self.seen_specs.append(extra_specs)
        if self._refuse:
            raise InvalidRequest(self._refuse)

    def pools(self):
        if self._broken:
            raise self._broken
        return self._pools


def pool(name: str, free: float, total: float = 100.0, reserved: int | None = None) -> PoolStats:
    caps = {} if reserved is None else {"reserved_percentage": reserved}
    return PoolStats(name=name, total_gb=total, free_gb=free, allocated_gb=total - free, capabilities=caps)


def test_most_free_pool_wins_across_backends():
    drivers = {
        "a": StubDriver(pool("tank", 30), pool("fast", 70)),
        "b": StubDriver(pool("big", 50)),
    }
    assert choose_pool(drivers, 10, {}, None) == Placement("a", "fast")


def test_pool_that_does_not_fit_is_skipped_even_if_only_one_fits():
    drivers = {"a": StubDriver(pool("small", 5)), "b": StubDriver(pool("ok", 6))}
    assert choose_pool(drivers, 6, {}, None) == Placement("b", "ok")


def test_exact_fit_is_accepted():
    assert fits(pool("p", 10), 10)
    assert not fits(pool("p", 9.99), 10)


def test_reserved_percentage_is_respected():
    # 100 GiB total, 25 free, 20 % reserved: only 5 GiB usable
    reserved = pool("reserved", 25, total=100, reserved=20)
    assert fits(reserved, 5)
    assert not fits(reserved, 6)
    drivers = {"a": StubDriver(reserved), "b": StubDriver(pool("plain", 10, total=10))}
    # "reserved" has more raw free space, but after its reserve only "plain" fits 8 GiB
    assert choose_pool(drivers, 8, {}, None) == Placement("b", "plain")


def test_reserved_percentage_counts_against_total_not_free():
    # 1000 total, 200 free, 10 % reserved -> 100 usable (not 180)
    p = pool("p", 200, total=1000, reserved=10)
    assert fits(p, 100)
    assert not fits(p, 101)


def test_share_backend_name_restricts_to_that_backend():
    drivers = {"a": StubDriver(pool("p", 90)), "b": StubDriver(pool("q", 20))}
    assert choose_pool(drivers, 1, {"share_backend_name": "b"}, None) == Placement("b", "q")
    assert drivers["a"].seen_specs == []  # not even asked


def test_unknown_share_backend_name():
    drivers = {"a": StubDriver(pool("p", 90))}
    with pytest.raises(NoValidPool, match="no backend named 'nope'"):
        choose_pool(drivers, 1, {"share_backend_name": "nope"}, None)


def test_share_backend_name_that_does_not_fit():
    drivers = {"a": StubDriver(pool("p", 90)), "b": StubDriver(pool("q", 2))}
    with pytest.raises(NoValidPool, match=r"b#q"):
        choose_pool(drivers, 5, {"share_backend_name": "b"}, None)


def test_requested_availability_zone():
    drivers = {"a": StubDriver(pool("p", 90), zone="az1"), "b": StubDriver(pool("q", 10), zone="az2")}
    assert choose_pool(drivers, 1, {}, "az2") == Placement("b", "q")
    assert choose_pool(drivers, 1, {}, "az1") == Placement("a", "p")


def test_requested_availability_zone_nowhere():
    drivers = {"a": StubDriver(pool("p", 90), zone="az1")}
    with pytest.raises(NoValidPool, match="a: in zone az1, not az9"):
        choose_pool(drivers, 1, {}, "az9")


def test_availability_zones_spec():
    drivers = {
        "a": StubDriver(pool("p", 90), zone="az1"),
        "b": StubDriver(pool("q", 10), zone="az2"),
        "c": StubDriver(pool("r", 20), zone="az3"),
    }
    assert choose_pool(drivers, 1, {"availability_zones": "az2, az3"}, None) == Placement("c", "r")
    assert choose_pool(drivers, 1, {"availability_zones": " az2 "}, None) == Placement("b", "q")


def test_availability_zones_spec_and_requested_zone_must_agree():
    drivers = {"a": StubDriver(pool("p", 90), zone="az1"), "b": StubDriver(pool("q", 10), zone="az2")}
    with pytest.raises(NoValidPool, match="not allowed by the share type"):
        choose_pool(drivers, 1, {"availability_zones": "az2"}, "az1")


def test_driver_refusing_the_specs_is_skipped_with_its_reason():
    offers_dedupe = pool("q", 10)
    offers_dedupe.capabilities["dedupe"] = [True, False]  # as a ZFS pool reports it
    drivers = {"a": StubDriver(pool("p", 90), refuse="this backend cannot give dedupe=True"),
               "b": StubDriver(offers_dedupe)}
    specs = {"dedupe": "<is> True"}
    assert choose_pool(drivers, 1, specs, None) == Placement("b", "q")
    assert drivers["a"].seen_specs == [specs]
    with pytest.raises(NoValidPool, match="a: this backend cannot give dedupe=True"):
        choose_pool({"a": drivers["a"]}, 1, specs, None)


def test_driver_whose_pools_raise_is_skipped(caplog):
    drivers = {"down": StubDriver(broken=ConnectionError("ssh: no route to host")), "up": StubDriver(pool("q", 1))}
    assert choose_pool(drivers, 1, {}, None) == Placement("up", "q")
    assert any("down" in r.getMessage() for r in caplog.records)


def test_only_unreachable_driver():
    drivers = {"down": StubDriver(broken=RuntimeError("boom"))}
    with pytest.raises(NoValidPool, match="down: unreachable"):
        choose_pool(drivers, 1, {}, None)


def test_nothing_fits_explains_each_pool():
    drivers = {
        "a": StubDriver(pool("tank", 3.0), pool("fast", 4.5)),
        "b": StubDriver(pool("big", 9.0), zone="elsewhere"),
    }
    with pytest.raises(NoValidPool) as exc:
        choose_pool(drivers, 10, {}, None)
    message = str(exc.value)
    assert "a#tank: 3.0 GiB free, 10 GiB needed" in message
    assert "a#fast: 4.5 GiB free, 10 GiB needed" in message
    assert "b#big: 9.0 GiB free, 10 GiB needed" in message


def test_no_backends_at_all():
    with pytest.raises(NoValidPool, match="no backend matches"):
        choose_pool({}, 1, {}, None)


def test_backend_with_no_pools():
    with pytest.raises(NoValidPool):
        choose_pool({"a": StubDriver()}, 1, {}, None)


# ---- the stats cache -----------------------------------------------------------


class CountingDriver:
    """Stand-in backend that counts how often its pools are read."""

    availability_zone = "nova"

    def __init__(self, free_gb: float):
        self.free_gb, self.reads = free_gb, 0

    def validate_extra_specs(self, specs):
        pass

    def pools(self):
        from shoal.drivers.base import PoolStats

        self.reads += 1
        return [PoolStats(name="p", total_gb=100.0, free_gb=self.free_gb, allocated_gb=0.0)]


def test_cache_reads_stats_once_within_its_ttl():
    from shoal.services.common.scheduler import PoolStatsCache

    cache = PoolStatsCache(ttl=60)
    driver = CountingDriver(free_gb=10)
    for _ in range(3):
        assert choose_pool({"b": driver}, 3, {}, None, cache=cache) == Placement("b", "p")
    assert driver.reads == 1
    with pytest.raises(NoValidPool, match="10.0 GiB free, 11 GiB needed"):
        choose_pool({"b": driver}, 11, {}, None, cache=cache)


def wait_for_reads(driver, count: int) -> None:
    import time

    deadline = time.monotonic() + 5
    while driver.reads < count:
        assert time.monotonic() < deadline, f"stats read {driver.reads} times, not {count}"
        time.sleep(0.001)


def test_stale_stats_are_used_and_refreshed_in_the_background():
    import threading

    from shoal.services.common.scheduler import PoolStatsCache

    cache = PoolStatsCache(ttl=0, max_age=60)
    driver = CountingDriver(free_gb=10)
    choose_pool({"b": driver}, 3, {}, None, cache=cache)
    gate = threading.Event()
    slow_pools = driver.pools
    driver.pools = lambda: (gate.wait(5), slow_pools())[1]
    # Placement answers from the stale report while the refresh is still blocked.
    assert choose_pool({"b": driver}, 3, {}, None, cache=cache) == Placement("b", "p")
    assert driver.reads == 1
    gate.set()
    wait_for_reads(driver, 2)


def test_stats_older_than_max_age_are_read_before_placing():
    from shoal.services.common.scheduler import PoolStatsCache

    cache = PoolStatsCache(ttl=0, max_age=0)
    driver = CountingDriver(free_gb=10)
    choose_pool({"b": driver}, 3, {}, None, cache=cache)
    choose_pool({"b": driver}, 3, {}, None, cache=cache)
    assert driver.reads == 2


def test_no_fit_by_cached_stats_reads_them_again_before_giving_up():
    from shoal.services.common.scheduler import PoolStatsCache

    cache = PoolStatsCache(ttl=60)
    driver = CountingDriver(free_gb=2)
    with pytest.raises(NoValidPool):
        choose_pool({"b": driver}, 3, {}, None, cache=cache)
    driver.free_gb = 10  # space was freed since the report
    assert choose_pool({"b": driver}, 3, {}, None, cache=cache) == Placement("b", "p")
    assert driver.reads == 3  # first try, its fresh retry, and the retry that fits


# ---- volumes: Cinder's capabilities and capacity filters ------------------------------------

def vpool(name: str, free: float, total: float = 100.0, provisioned: float = 0.0, **caps) -> PoolStats:
    caps = {"thin_provisioning_support": True, "thick_provisioning_support": True, "max_over_subscription_ratio": 20.0,
            "reserved_percentage": 0, "provisioned_capacity_gb": provisioned, "multiattach": True, **caps}
    return PoolStats(name=name, total_gb=total, free_gb=free, allocated_gb=total - free, capabilities=caps)


def place_volume(drivers, size, specs):
    return choose_pool(drivers, size, specs, None, backend_key="volume_backend_name")


def test_volume_backend_name_and_capabilities_choose_the_backend():
    zfs = StubDriver(vpool("tank", 50, storage_protocol="iSCSI"))
    zfs.storage_protocol = "iSCSI"
    nas = StubDriver(vpool("10.0.0.1:/nas", 40, multiattach=False))
    nas.storage_protocol = "NFS"
    drivers = {"zfs": zfs, "nas": nas}
    assert place_volume(drivers, 1, {}) == Placement("zfs", "tank")  # most free
    assert place_volume(drivers, 1, {"volume_backend_name": "nas"}) == Placement("nas", "10.0.0.1:/nas")
    assert place_volume(drivers, 1, {"storage_protocol": "NFS"}) == Placement("nas", "10.0.0.1:/nas")
    assert place_volume(drivers, 1, {"capabilities:storage_protocol": "<in> iSCSI"}) == Placement("zfs", "tank")
    with pytest.raises(NoValidPool) as refused:
        place_volume(drivers, 1, {"volume_backend_name": "nas", "multiattach": "<is> True"})
    assert "multiattach" in str(refused.value) and "no pool can hold this volume" in str(refused.value)


def test_a_type_asking_for_a_vendor_no_backend_has_places_nowhere():
    drivers = {"zfs": StubDriver(vpool("tank", 50, vendor_name="Open Source"))}
    with pytest.raises(NoValidPool, match="vendor_name"):
        place_volume(drivers, 1, {"vendor_name": "Oracle"})
    with pytest.raises(NoValidPool, match="does not report 'replication_enabled'"):
        place_volume(drivers, 1, {"replication_enabled": "<is> True"})


def test_thin_volumes_may_oversubscribe_up_to_the_ratio():
    drivers = {"a": StubDriver(vpool("p", free=10, total=100, provisioned=90, max_over_subscription_ratio=2.0))}
    assert place_volume(drivers, 20, {}) == Placement("a", "p")  # 10 free x2 >= 20, (90+20)/100 <= 2
    with pytest.raises(NoValidPool, match="max_over_subscription_ratio"):
        place_volume(drivers, 111, {})  # (90+111)/100 > 2
    with pytest.raises(NoValidPool, match="free"):
        place_volume(drivers, 21, {})  # 10 x2 < 21


def test_thick_volumes_need_real_free_space():
    drivers = {"a": StubDriver(vpool("p", free=10, total=100))}
    assert place_volume(drivers, 10, {"provisioning:type": "thick"}) == Placement("a", "p")
    with pytest.raises(NoValidPool, match="thick"):
        place_volume(drivers, 11, {"provisioning:type": "thick"})
    # A pool that cannot thin-provision gives real free space only, whatever the type says.
    drivers = {"a": StubDriver(vpool("p", free=10, total=100, thin_provisioning_support=False))}
    with pytest.raises(NoValidPool):
        place_volume(drivers, 11, {})


def test_reserved_percentage_counts_for_volumes_too():
    drivers = {"a": StubDriver(vpool("p", free=25, total=100, reserved_percentage=20, max_over_subscription_ratio=1.0))}
    assert place_volume(drivers, 5, {}) == Placement("a", "p")
    with pytest.raises(NoValidPool):
        place_volume(drivers, 6, {})


def template_pool(name: str, template: str | None) -> PoolStats:
    return PoolStats(name=name, total_gb=100, free_gb=50, allocated_gb=50, capabilities={"storpool_template": template})


def test_a_volume_retyped_in_place_moves_to_the_one_pool_that_meets_its_new_type():
    from shoal.services.common.scheduler import PoolStatsCache, pool_after_retype

    driver = StubDriver(template_pool("default", None), template_pool("template_ssd", "ssd"),
                        template_pool("template_hybrid", "hybrid"))
    cache = PoolStatsCache(ttl=60)
    specs = {"volume_backend_name": "sp", "storpool_template": "hybrid"}
    assert pool_after_retype("sp", driver, "template_ssd", specs, cache) == "template_hybrid"
    # Its own pool still meets the type; or no pool (or several) says where it is: it stays.
    assert pool_after_retype("sp", driver, "template_hybrid", specs, cache) == "template_hybrid"
    assert pool_after_retype("sp", driver, "template_ssd", {"volume_backend_name": "sp"}, cache) == "template_ssd"
    assert pool_after_retype("sp", driver, "default", {"storpool_template": "none-such"}, cache) == "default"
    broken = StubDriver(broken=RuntimeError("down"))
    assert pool_after_retype("sp", broken, "template_ssd", specs, PoolStatsCache(ttl=60)) == "template_ssd"


def test_shares_follow_manilas_capabilities_filter():
    """A share type's unscoped and `capabilities:` specs must be met by what the pool
    reports (Manila's CapabilitiesFilter); scoped vendor specs and availability_zones
    are for others."""
    compressing = pool("c", 10)
    compressing.capabilities.update({"compression": [True, False], "snapshot_support": True})
    drivers = {"a": StubDriver(pool("plain", 90)), "b": StubDriver(compressing)}
    assert choose_pool(drivers, 1, {"compression": "<is> True"}, None) == Placement("b", "c")
    assert choose_pool(drivers, 1, {"capabilities:snapshot_support": "<is> True"}, None) == Placement("b", "c")
    assert choose_pool(drivers, 1, {"zfs:compression": "gzip", "availability_zones": "nova"}, None) == \
        Placement("a", "plain")
    assert choose_pool(drivers, 1, {"vendor_name": "Shoal"}, None) == Placement("a", "plain")
    with pytest.raises(NoValidPool, match="vendor_name='foobar'"):
        choose_pool(drivers, 1, {"vendor_name": "foobar"}, None)
