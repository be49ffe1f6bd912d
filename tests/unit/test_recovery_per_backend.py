"""Backends are repaired side by side: a backend whose repair pass is slow (a
thousand exports written to a host over SSH) holds up neither another backend's
pass at start-up nor the daemon watch's noticing that another export daemon died.
Before, the watch looked at one backend after the other in one thread, and at
1000 shares + 1000 volumes the tgtds killed beside a ganesha whose pass ran on an
SSH host were back only after that pass (104 s)."""

from __future__ import annotations

import threading
import uuid

from shoal.db import models
from tests.fixtures.services import services_with_share

WAIT = 10.0  # s; a backend held up by another waits this long, then the test fails (never hangs)


class Backend:
    """A share or volume backend whose daemon can be killed, and whose repair
    pass can be held (`hold`) until `release` is set."""

    availability_zone = "nova"

    def __init__(self, hold: bool = False):
        self.alive = True
        self.hold = hold
        self.release = threading.Event()
        self.passing = threading.Event()  # a repair pass has begun
        self.passed = threading.Event()  # and ended
        self.starts = 0

    # both kinds
    def exports_alive(self) -> bool:
        return self.alive

    def exports_healthy(self) -> bool:
        return self.alive

    def start(self) -> None:
        self.starts += 1
        self.alive = True

    def _pass(self) -> dict:
        self.passing.set()
        if self.hold:
            assert self.release.wait(WAIT), "held up past the test's wait"
        self.passed.set()
        return {}

    # shares
    def exports_stale(self) -> bool:
        return False

    def exports_renewed(self) -> None:
        pass

    def ensure_shares(self, shares, fresh=False):
        return self._pass()

    # volumes
    def ensure_exports(self, volumes):
        return self._pass()

    def exported_volume_ids(self) -> set[str]:
        return set()

    def exports_held(self):
        return None


def add_exported_share(services, backend: str) -> None:
    with services.core.db.session() as session:
        session.add(models.Share(project_id="p", user_id="u", size=1, status="available", backend=backend,
                                 pool="pool", provider_location=f"{backend}/share",
                                 share_type_id=services.share_types.default(session).id))


def test_start_up_passes_of_two_backends_run_side_by_side(tmp_path):
    slow, quick = Backend(hold=True), Backend()
    with services_with_share(tmp_path, Backend(), uuid.uuid4().hex, "someone") as (services, _):
        services.core.drivers.update({"slow": slow, "quick": quick})
        add_exported_share(services, "slow")
        add_exported_share(services, "quick")
        done = threading.Thread(target=services.recovery.ensure_exports)
        done.start()
        try:
            assert quick.passed.wait(WAIT), "the quick backend's pass waited for the slow one's"
            assert slow.passing.is_set() and not slow.passed.is_set()
        finally:
            slow.release.set()
            done.join(WAIT)
        assert slow.passed.is_set()


def test_the_watch_repairs_one_backend_while_another_backend_is_being_repaired(tmp_path):
    slow, quick, volumes = Backend(hold=True), Backend(), Backend()
    with services_with_share(tmp_path, Backend(), uuid.uuid4().hex, "someone") as (services, _):
        services.core.drivers.update({"slow": slow, "quick": quick})
        services.core.volume_drivers.update({"vols": volumes})
        add_exported_share(services, "slow")
        add_exported_share(services, "quick")
        services.recovery.start_periodic(interval=3600, watch_interval=0.02)
        try:
            slow.alive = False
            assert slow.passing.wait(WAIT)
            quick.alive = False  # both die while the slow one is repaired
            volumes.alive = False
            assert quick.passed.wait(WAIT), "the quick backend was repaired only after the slow one"
            assert volumes.passed.wait(WAIT), "the volume backend was repaired only after the slow share backend"
            assert quick.starts == 1 and volumes.starts == 1
            assert not slow.passed.is_set()
        finally:
            slow.release.set()
        assert slow.passed.wait(WAIT) and slow.starts == 1


def test_the_watch_never_repairs_one_backend_twice_at_once(tmp_path):
    """The periodic check and the watch both find the daemon down: the second
    waits for the first pass, then finds it running again."""
    slow = Backend(hold=True)
    with services_with_share(tmp_path, Backend(), uuid.uuid4().hex, "someone") as (services, _):
        services.core.drivers.update({"slow": slow})
        add_exported_share(services, "slow")
        services.recovery.start_periodic(interval=3600, watch_interval=0.02)
        try:
            slow.alive = False
            assert slow.passing.wait(WAIT)
            periodic = threading.Thread(target=services.recovery.check_once)
            periodic.start()
            periodic.join(0.3)
            assert periodic.is_alive(), "the periodic check did not wait for the watch's repair"
        finally:
            slow.release.set()
        periodic.join(WAIT)
        assert slow.starts == 1
