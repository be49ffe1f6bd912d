"""Placement: which backend and pool gets a new share.

Filters by the type's backend name, by availability zone and by
the type's capabilities the driver must meet, then takes the pool with the most
free space that still fits the share after its reserved percentage.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from shoal.drivers.base import DriverError, PoolStats, ShareDriver

log = logging.getLogger(__name__)


class NoValidPool(Exception):
    pass


class StatsUnknown(Exception):
    """Placement would have to ask a backend for its pools (see PoolStatsCache)."""


@dataclass(frozen=True)
class Placement:
    backend: str
    pool: str


class PoolStatsCache:
    """Pool stats for placement, kept the way Cinder's and Manila's schedulers keep
    the backends' periodic reports: placement uses the last report, and one older
    than `ttl` is refreshed in the background, so a create never waits on a
    `zfs get` unless no report younger than `max_age` is known (Cinder's volume
    service reports every 60 s; refreshing more often only puts a `zfs get` beside
    the creates that asked for it). Pools are thin
    (refquota, sparse volumes), so what is placed is not subtracted: fresh stats do
    not count placed sizes either, only data written."""

    def __init__(self, ttl: float = 30.0, max_age: float = 300.0):
        self.ttl, self.max_age = ttl, max_age
        self._entries: dict[str, tuple[float, list[PoolStats]]] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def pools(self, key: str, driver, wait: bool = True) -> list[PoolStats]:
        """The pools' stats; with wait=False, StatsUnknown instead of reading them
        when no usable report is at hand (a request thread must not wait on a host)."""
        with self._lock:
            at, pools = self._entries.get(key, (0.0, []))
            age = time.monotonic() - at
            if pools and age < self.max_age:
                if age >= self.ttl and key not in self._refreshing:
                    self._refreshing.add(key)
                    threading.Thread(target=self._refresh, args=(key, driver), daemon=True,
                                     name=f"pool-stats-{key}").start()
                return pools
        if not wait:
            raise StatsUnknown(key)
        return self._read(key, driver)

    def forget(self) -> None:
        with self._lock:
            self._entries.clear()

    def _read(self, key: str, driver) -> list[PoolStats]:
        pools = driver.pools()
        with self._lock:
            self._entries[key] = (time.monotonic(), pools)
        return pools

    def _refresh(self, key: str, driver) -> None:
        try:
            self._read(key, driver)
        except Exception as exc:  # the next placement reads them itself once they are too old
            log.warning("could not refresh pool stats of %s: %s", key, exc)
        finally:
            with self._lock:
                self._refreshing.discard(key)


def fits(pool: PoolStats, size_gb: int) -> bool:
    reserved = pool.total_gb * pool.capabilities.get("reserved_percentage", 0) / 100
    return pool.free_gb - reserved >= size_gb


def choose_pool(
    drivers: dict[str, ShareDriver], size_gb: int, extra_specs: dict[str, str], availability_zone: str | None,
    backend_key: str = "share_backend_name", cache: PoolStatsCache | None = None,
) -> Placement:
    """`backend_key` is the extra spec naming a backend: Manila's share_backend_name
    or Cinder's volume_backend_name. With `cache`, stats come from it; when no pool
    fits by the cached stats, they are read afresh once before giving up."""
    try:
        return _choose(drivers, size_gb, extra_specs, availability_zone, backend_key, cache)
    except NoValidPool:
        if cache is None:
            raise
        cache.forget()
        return _choose(drivers, size_gb, extra_specs, availability_zone, backend_key, cache)


def choose_pool_now(
    drivers: dict[str, ShareDriver], size_gb: int, extra_specs: dict[str, str], availability_zone: str | None,
    backend_key: str, cache: PoolStatsCache,
) -> Placement | None:
    """Placement from the cached reports alone, for a request thread: None when it
    would need I/O (no usable report) or finds no pool (the background task then
    reads fresh stats and records the reason)."""
    try:
        return _choose(drivers, size_gb, extra_specs, availability_zone, backend_key, cache, wait=False)
    except (StatsUnknown, NoValidPool):
        return None


def _choose(
    drivers: dict[str, ShareDriver], size_gb: int, extra_specs: dict[str, str], availability_zone: str | None,
    backend_key: str, cache: PoolStatsCache | None, wait: bool = True,
) -> Placement:
    wanted_backend = extra_specs.get(backend_key)
    wanted_zones = [z.strip() for z in extra_specs.get("availability_zones", "").split(",") if z.strip()]
    candidates: list[tuple[float, str, str]] = []
    reasons: list[str] = []
    for name, driver in drivers.items():
        if wanted_backend and name != wanted_backend:
            continue
        if availability_zone and driver.availability_zone != availability_zone:
            reasons.append(f"{name}: in zone {driver.availability_zone}, not {availability_zone}")
            continue
        if wanted_zones and driver.availability_zone not in wanted_zones:
            reasons.append(f"{name}: zone {driver.availability_zone} not allowed by the share type")
            continue
        try:
            driver.validate_extra_specs(extra_specs)
            pools = cache.pools(f"{backend_key}:{name}", driver, wait) if cache else driver.pools()
        except StatsUnknown:
            raise
        except DriverError as exc:
            reasons.append(f"{name}: {exc}")
            continue
        except Exception as exc:  # an unreachable backend must not stop placement elsewhere
            log.warning("backend %s did not report its pools: %s", name, exc)
            reasons.append(f"{name}: unreachable")
            continue
        for pool in pools:
            if fits(pool, size_gb):
                candidates.append((pool.free_gb, name, pool.name))
            else:
                reasons.append(f"{name}#{pool.name}: {pool.free_gb:.1f} GiB free, {size_gb} GiB needed")
    if wanted_backend and wanted_backend not in drivers:
        reasons.append(f"no backend named {wanted_backend!r}")
    if not candidates:
        raise NoValidPool("no pool can hold this share: " + ("; ".join(reasons) or "no backend matches"))
    _, backend, pool = max(candidates)
    return Placement(backend, pool)
