"""What /metrics reads at scrape time: the task queue, the flows, the pools.

A Prometheus collector over the running services. Pool capacity comes from the
same cache placement uses (PoolStatsCache): a report younger than its ttl is
served as it is, an older one is served while a refresh runs in the
background, so a scrape runs no command while a report is fresh.
"""

from __future__ import annotations

import logging

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from .core import Core
from .scheduler import VOLUME_BACKEND_KEY

log = logging.getLogger(__name__)

GiB = 1 << 30
SHARE_BACKEND_KEY = "share_backend_name"  # the cache keys placement uses (scheduler.choose)


class ServiceGauges:
    def __init__(self, core: Core):
        self.core = core

    def collect(self):
        yield from self._tasks()
        yield from self._flows()
        yield from self._pools()

    def _tasks(self):
        load = self.core.tasks.load()
        yield GaugeMetricFamily("shoal_tasks_queued", "Background tasks waiting for a worker.", value=load.queued)
        yield GaugeMetricFamily("shoal_tasks_running", "Background tasks running now.", value=load.running)
        yield GaugeMetricFamily("shoal_task_oldest_queued_seconds",
                                "How long the oldest waiting background task has waited (0: none waits).",
                                value=load.oldest_queued_seconds)

    def _flows(self):
        try:
            from .flows import FINISHED, FLOWS
        except ImportError:  # no flow engine in this build
            return
        family = GaugeMetricFamily("shoal_flows", "Durable flows not finished yet, by state.", labels=["state"])
        try:
            with self.core.db.connection() as connection:
                rows = connection.execute(select(FLOWS.c.state, func.count()).group_by(FLOWS.c.state)).all()
        except Exception as exc:  # no flow table yet (schema not upgraded): nothing to show
            log.debug("flows not counted: %s", exc)
            return
        for state, count in rows:
            if state not in FINISHED:
                family.add_metric([str(state)], count)
        yield family

    def _pools(self):
        labels = ["backend", "service", "pool"]
        total = GaugeMetricFamily("shoal_pool_total_bytes", "A pool's size, from its backend's last report.", labels=labels)
        free = GaugeMetricFamily("shoal_pool_free_bytes", "A pool's free space, from its backend's last report.",
                                 labels=labels)
        allocated = GaugeMetricFamily("shoal_pool_allocated_bytes", "Space allocated in a pool, from its backend's "
                                      "last report.", labels=labels)
        up = GaugeMetricFamily("shoal_backend_up", "1 if the backend reported its pools, 0 if it could not.",
                               labels=["backend", "service"])
        for service, key, drivers in (("share", SHARE_BACKEND_KEY, self.core.drivers),
                                      ("volume", VOLUME_BACKEND_KEY, self.core.volume_drivers)):
            for name, driver in drivers.items():
                try:
                    pools = self.core.pool_stats.pools(f"{key}:{name}", driver)
                except Exception as exc:  # unreachable: say so, and the scrape goes on
                    log.info("pool stats of %s backend %s: %s", service, name, exc)
                    up.add_metric([name, service], 0)
                    continue
                up.add_metric([name, service], 1)
                for pool in pools:
                    where = [name, service, pool.name]
                    total.add_metric(where, pool.total_gb * GiB)
                    free.add_metric(where, pool.free_gb * GiB)
                    allocated.add_metric(where, pool.allocated_gb * GiB)
        yield from (total, free, allocated, up)
