"""What /metrics reads at scrape time: the task queue as it fills and drains,
and pool capacity from the placement cache (a fresh report is not read again;
a backend that cannot report is shown down, the scrape goes on)."""

from __future__ import annotations

import threading

from shoal.config import Settings
from shoal.drivers.base import PoolStats
from shoal.services.common.core import Core
from shoal.services.common.gauges import ServiceGauges
from shoal.services.common.tasks import TaskRunner

GiB = 1 << 30


class CountingDriver:
    """Stands in for a backend's pools(): reports one pool and counts the reads."""

    def __init__(self, fail: bool = False):
        self.reads, self.fail = 0, fail

    def pools(self):
        self.reads += 1
        if self.fail:
            raise ConnectionError("host unreachable")
        return [PoolStats(name="tank", total_gb=10.0, free_gb=4.0, allocated_gb=6.0)]


def scrape(gauges: ServiceGauges) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in gauges.collect() for s in family.samples}


def test_task_queue_depth_and_oldest_age():
    tasks = TaskRunner(workers=1)
    gate, started = threading.Event(), threading.Event()
    try:
        tasks.submit(lambda: (started.set(), gate.wait(30)))
        assert started.wait(30)
        tasks.submit(lambda: None)
        tasks.submit(lambda: None)
        load = tasks.load()
        assert (load.queued, load.running) == (2, 1) and load.oldest_queued_seconds > 0
    finally:
        gate.set()
    assert tasks.wait_idle(30)
    assert tasks.load().queued == 0 and tasks.load().running == 0 and tasks.load().oldest_queued_seconds == 0
    tasks.shutdown()


def test_pool_capacity_from_the_cache():
    shares, volumes = CountingDriver(), CountingDriver(fail=True)
    core = Core(settings=Settings(), db=None, drivers={"zfs": shares}, tasks=TaskRunner(1),
                volume_drivers={"far": volumes})
    gauges = ServiceGauges(core)
    first, second = scrape(gauges), scrape(gauges)
    assert shares.reads == 1  # the second scrape used the fresh report
    where = (("backend", "zfs"), ("pool", "tank"), ("service", "share"))
    assert second[("shoal_pool_total_bytes", where)] == 10 * GiB
    assert second[("shoal_pool_free_bytes", where)] == 4 * GiB
    assert second[("shoal_pool_allocated_bytes", where)] == 6 * GiB
    assert first[("shoal_backend_up", (("backend", "zfs"), ("service", "share")))] == 1
    assert first[("shoal_backend_up", (("backend", "far"), ("service", "volume")))] == 0
    assert second[("shoal_tasks_queued", ())] == 0
    core.tasks.shutdown()
