"""Recovery work run for every backend at once, and the daemon watch's threads.

Backends do not wait for each other: one whose host is slow (a thousand exports
written over SSH, a target daemon being refilled) must not hold up the repair of
another's export daemon, which would then be down for as long as the slow pass
takes. Repairs of the same backend and kind never overlap (`repair_lock`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


def run_per_backend(names: Iterable[str], work: Callable[[str], None], what: str) -> None:
    """work(name) for each backend, side by side, until all are done. An
    exception is logged with the backend's name and stops none of the others."""
    names = list(names)

    def guarded(name: str) -> None:
        try:
            work(name)
        except Exception:
            log.exception("backend %s: %s failed", name, what)

    if len(names) <= 1:  # no thread for the common case of one backend
        for name in names:
            guarded(name)
        return
    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="shoal-per-backend") as pool:
        list(pool.map(guarded, names))


def repair_lock(tasks, kind: str, backend: str) -> threading.Lock:
    """The lock held while `backend`'s exports of `kind` are repaired: the daemon
    watch and the periodic check never repair the same ones at once."""
    return tasks.key_lock(f"repair-{kind}:{backend}")


def repair_when_down(tasks, kind: str, name: str, drivers: dict, ok: Callable, down: str,
                     ensure_exports: Callable[[str], None]) -> None:
    """Under the repair lock of `name`'s `kind`: when ok(driver) is False, the
    driver is started and its exports are made again, `down` saying what was
    found. A failure is logged; the next check tries again."""
    with repair_lock(tasks, kind, name):  # the watch and the periodic check never repair at once
        try:
            driver = drivers[name]
            if not ok(driver):
                log.warning("backend %s: %s; starting it and exporting every one of its %s again", name, down, kind)
                driver.start()
                ensure_exports(name)
        except Exception:
            log.exception("check of backend %s (%s) failed", name, kind)


def watch(stop: threading.Event, every: float, checks: dict[str, Callable[[], None]]) -> None:
    """One thread per check, each calling it every `every` s until `stop`: a
    check that is busy repairing (minutes, for a thousand exports on a slow host)
    delays no other's noticing its own daemon's death."""
    def loop(check: Callable[[], None]) -> None:
        while not stop.wait(every):
            check()

    for label, check in checks.items():
        threading.Thread(target=loop, args=(check,), name=f"shoal-watch-{label}", daemon=True).start()
