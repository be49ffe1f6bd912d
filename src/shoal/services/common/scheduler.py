"""Placement: which backend and pool gets a new share or volume.

Filters by the type's backend name, by availability zone and by the type's
specs the driver must honour (`validate_extra_specs`), then takes the pool with
the most free space that still fits after its reserved percentage.

Shares follow Manila's capabilities filter (`share_specs_unmet`: a type asking
for a vendor or capability no pool reports places nowhere). Volumes follow
Cinder's filters besides: every spec naming a capability must
be met by the pool's reported capabilities (`capabilities.unmet`: a type
asking for a vendor, protocol or multiattach no pool has places nowhere), and
capacity is Cinder's: a thin volume on a thin-capable pool fits while the
pool's provisioned ratio stays within `max_over_subscription_ratio` and the
over-subscribed free space holds it; a thick one needs the real free space.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from shoal.drivers.base import DriverError, PoolStats, ShareDriver

from . import capabilities

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
    backend's stats (a `zfs get`, a `stat -f`) unless no report younger than
    `max_age` is known (Cinder's volume service reports every 60 s; refreshing
    more often only puts a stats read beside the creates that asked for it). What
    is placed is not subtracted: thin pools count data written, as fresh stats do."""

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


VOLUME_BACKEND_KEY = "volume_backend_name"


def fits(pool: PoolStats, size_gb: int) -> bool:
    reserved = pool.total_gb * pool.capabilities.get("reserved_percentage", 0) / 100
    return pool.free_gb - reserved >= size_gb


def wants_thin(extra_specs: dict[str, str]) -> bool:
    """Cinder's reading of a type: thin unless it asks for thick."""
    if extra_specs.get("provisioning:type", "").strip().lower() == "thick":
        return False
    for key in ("thin_provisioning_support", "capabilities:thin_provisioning_support"):
        if key in extra_specs:
            return capabilities.matches(True, extra_specs[key])
    return True


def volume_fits(pool: PoolStats, size_gb: int, thin: bool) -> str | None:
    """Why a volume of `size_gb` does not fit the pool (Cinder's capacity filter), or None."""
    caps = pool.capabilities
    reserved = pool.total_gb * caps.get("reserved_percentage", 0) / 100
    free = pool.free_gb - reserved
    ratio = float(caps.get("max_over_subscription_ratio", 1.0) or 1.0)
    if thin and caps.get("thin_provisioning_support") and ratio >= 1:
        provisioned = float(caps.get("provisioned_capacity_gb", pool.allocated_gb))
        if pool.total_gb > 0 and (provisioned + size_gb) / pool.total_gb > ratio:
            return (f"{provisioned + size_gb:.1f} GiB provisioned would exceed {ratio:g} x "
                    f"{pool.total_gb:.1f} GiB (max_over_subscription_ratio)")
        if free * ratio < size_gb:
            return f"{free:.1f} GiB free (x{ratio:g} thin), {size_gb} GiB needed"
        return None
    if free < size_gb:
        return f"{free:.1f} GiB free{' (thick)' if thin is False else ''}, {size_gb} GiB needed"
    return None


def _pool_facts(name: str, driver, pool: PoolStats) -> dict:
    """What a volume pool offers: its capabilities and its backend's own facts."""
    return {"volume_backend_name": name, "storage_protocol": getattr(driver, "storage_protocol", None),
            "availability_zone": driver.availability_zone, "pool_name": pool.name,
            "total_capacity_gb": pool.total_gb, "free_capacity_gb": pool.free_gb, **pool.capabilities}


# Manila's capabilities filter passes these by (the AZ and QoS filters read them).
SHARE_SPECS_NOT_CAPABILITIES = frozenset({"availability_zones", "default_qos_type"})


def share_pool_facts(name: str, driver, pool: PoolStats) -> dict:
    """What a share pool offers, as Manila's scheduler and pool list show it."""
    return {"pool_name": pool.name, "total_capacity_gb": pool.total_gb, "free_capacity_gb": pool.free_gb,
            "allocated_capacity_gb": pool.allocated_gb, "share_backend_name": name,
            "storage_protocol": "NFS", "vendor_name": "Shoal", "driver_version": "1.0",
            "driver_name": type(driver).__name__, "availability_zone": driver.availability_zone,
            **pool.capabilities}


def share_specs_unmet(extra_specs: dict[str, str], facts: dict, skip: frozenset[str] = frozenset()) -> str | None:
    """Why a share pool does not meet a share type (Manila's capabilities filter), or None."""
    return capabilities.unmet(extra_specs, facts, SHARE_SPECS_NOT_CAPABILITIES | skip)


def pool_after_retype(backend: str, driver, pool: str | None, extra_specs: dict[str, str],
                      cache: PoolStatsCache) -> str | None:
    """The pool of a volume its driver retyped in place: its own pool when that
    still meets the new type, else the backend's one pool that does (a StorPool
    template is a pool, and the driver moved the volume to the new template),
    as Cinder's retype gives the volume the pool the scheduler found. Its own
    pool when the stats cannot say (unreachable, or several pools would do)."""
    try:
        pools = cache.pools(f"{VOLUME_BACKEND_KEY}:{backend}", driver)
    except Exception as exc:  # the retype is done; where it shows is secondary
        log.warning("backend %s did not report its pools after a retype: %s", backend, exc)
        return pool
    skip = frozenset({VOLUME_BACKEND_KEY})
    meeting = [p.name for p in pools if capabilities.unmet(extra_specs, _pool_facts(backend, driver, p), skip) is None]
    if pool in meeting or len(meeting) != 1:
        return pool
    return meeting[0]


def pool_on(backend: str, driver, pool: str | None, size_gb: int, extra_specs: dict[str, str],
            cache: PoolStatsCache) -> str:
    """The pool of `backend` a volume moves to (a migration or a retype, as Cinder's
    scheduler checks the host it is given): `pool` if it meets the type, the
    backend's name included, and holds the size; with no pool named, the one with
    the most room. NoValidPool with the reasons otherwise."""
    try:
        driver.validate_extra_specs(extra_specs)
        pools = cache.pools(f"{VOLUME_BACKEND_KEY}:{backend}", driver)
    except DriverError as exc:
        raise NoValidPool(f"{backend}: {exc}") from None
    named = [p for p in pools if pool is None or p.name == pool]
    if not named:
        raise NoValidPool(f"backend {backend} has no pool {pool!r}")
    thin, fitting, reasons = wants_thin(extra_specs), [], []
    for candidate in named:
        why = capabilities.unmet(extra_specs, _pool_facts(backend, driver, candidate)) or \
            volume_fits(candidate, size_gb, thin)
        if why:
            reasons.append(f"{backend}#{candidate.name}: {why}")
        else:
            fitting.append((candidate.free_gb, candidate.name))
    if not fitting:
        raise NoValidPool("no pool can hold this volume: " + "; ".join(reasons))
    return max(fitting)[1]


def growth_refused(backend: str, driver, pool: str | None, increase_gb: int, cache: PoolStatsCache,
                   backend_key: str, thin: bool = True) -> str | None:
    """Why the pool a share or volume lives on cannot take `increase_gb` more, or None.
    Cinder's and Manila's schedulers check the resource's own host on extend
    (backend_passes_filters / host_passes_filters with the size increase); this is
    the same capacity rule create placement uses, for that one pool. A refusal by
    cached stats is checked again with fresh ones (space freed meanwhile counts).
    None when the backend cannot tell (unreachable, pool unknown): the driver decides."""
    for fresh in (False, True):
        if fresh:
            cache.forget()
        try:
            pools = cache.pools(f"{backend_key}:{backend}", driver)
        except Exception as exc:
            log.warning("backend %s did not report its pools before an extend: %s", backend, exc)
            return None
        found = [p for p in pools if p.name == pool] or (pools if len(pools) == 1 and pool is None else [])
        if not found:
            return None
        target = found[0]
        if backend_key == VOLUME_BACKEND_KEY:
            why = volume_fits(target, increase_gb, thin)
        else:
            why = None if fits(target, increase_gb) else f"{target.free_gb:.1f} GiB free, {increase_gb} GiB needed"
        if why is None:
            return None
    return f"{backend}#{target.name}: {why}"


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
    volumes = backend_key == VOLUME_BACKEND_KEY  # Cinder's capability and capacity filters apply
    thin = wants_thin(extra_specs) if volumes else True
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
            if volumes:
                why = capabilities.unmet(extra_specs, _pool_facts(name, driver, pool), skip=frozenset({backend_key}))
                why = why or volume_fits(pool, size_gb, thin)
                if why:
                    reasons.append(f"{name}#{pool.name}: {why}")
                else:
                    candidates.append((pool.free_gb, name, pool.name))
            elif why := share_specs_unmet(extra_specs, share_pool_facts(name, driver, pool), frozenset({backend_key})):
                reasons.append(f"{name}#{pool.name}: {why}")
            elif fits(pool, size_gb):
                candidates.append((pool.free_gb, name, pool.name))
            else:
                reasons.append(f"{name}#{pool.name}: {pool.free_gb:.1f} GiB free, {size_gb} GiB needed")
    if wanted_backend and wanted_backend not in drivers:
        reasons.append(f"no backend named {wanted_backend!r}")
    if not candidates:
        what = "volume" if volumes else "share"
        raise NoValidPool(f"no pool can hold this {what}: " + ("; ".join(reasons) or "no backend matches"))
    _, backend, pool = max(candidates)
    return Placement(backend, pool)
