"""The capacity check of an extend (scheduler.growth_refused): the pool the resource
lives on must hold the increase, by the rule create placement uses, and a refusal by
cached stats is checked again with fresh ones. Stand-in drivers report fixed stats."""

from __future__ import annotations

from shoal.drivers.base import PoolStats
from shoal.services.common.scheduler import VOLUME_BACKEND_KEY, PoolStatsCache, growth_refused

SHARES = "share_backend_name"


class Reporting:
    """A driver whose pools() answers the stats it is given, one report after another."""

    def __init__(self, *reports: list[PoolStats] | Exception):
        self.reports, self.calls = list(reports), 0

    def pools(self):
        report = self.reports[min(self.calls, len(self.reports) - 1)]
        self.calls += 1
        if isinstance(report, Exception):
            raise report
        return report


def pool(free: float, total: float = 8.0, name: str = "p", **caps) -> PoolStats:
    return PoolStats(name=name, total_gb=total, free_gb=free, allocated_gb=total - free, capabilities=caps)


def test_a_share_grows_only_by_what_its_pool_has_free():
    driver = Reporting([pool(5.0, reserved_percentage=25)])  # 8 GiB, 2 reserved: 3 usable
    assert growth_refused("b", driver, "p", 3, PoolStatsCache(), SHARES) is None
    why = growth_refused("b", driver, "p", 4, PoolStatsCache(), SHARES)
    assert why == "b#p: 5.0 GiB free, 4 GiB needed"


def test_a_thin_volume_by_the_over_subscription_ratio_a_thick_one_by_free_space():
    thin_pool = pool(4.0, thin_provisioning_support=True, max_over_subscription_ratio=2.0,
                     provisioned_capacity_gb=10.0)
    driver = Reporting([thin_pool])
    assert growth_refused("b", driver, "p", 6, PoolStatsCache(), VOLUME_BACKEND_KEY, thin=True) is None
    assert "max_over_subscription_ratio" in growth_refused("b", driver, "p", 7, PoolStatsCache(), VOLUME_BACKEND_KEY)
    assert "(thick)" in growth_refused("b", driver, "p", 5, PoolStatsCache(), VOLUME_BACKEND_KEY, thin=False)


def test_a_refusal_by_cached_stats_is_read_again():
    cache, driver = PoolStatsCache(), Reporting([pool(1.0)], [pool(6.0)])
    cache.pools(f"{SHARES}:b", driver)  # the cached report: 1 GiB free
    assert growth_refused("b", driver, "p", 5, cache, SHARES) is None  # the fresh one: 6 GiB
    assert driver.calls == 2


def test_what_the_backend_cannot_tell_is_left_to_the_driver():
    assert growth_refused("b", Reporting(OSError("unreachable")), "p", 5, PoolStatsCache(), SHARES) is None
    assert growth_refused("b", Reporting([pool(1.0, name="other")]), "p", 5, PoolStatsCache(), SHARES) is None
    # a backend of one pool, the resource's pool not recorded: that pool
    assert growth_refused("b", Reporting([pool(1.0)]), None, 5, PoolStatsCache(), SHARES) is not None
