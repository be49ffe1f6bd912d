"""Domain services: the rules, the state (only here is the DB touched) and the background work."""

from __future__ import annotations

from shoal.config import Settings
from shoal.db.session import Database

from .backends import build_share_drivers
from .core import Core
from .messages import Messages
from .recovery import Recovery
from .share_access import ShareAccess
from .share_snapshots import ShareSnapshots
from .share_types import ShareTypes
from .shares import Shares
from .tasks import TaskRunner


class Services:
    """Everything the API calls, built from the settings."""

    def __init__(self, settings: Settings, drivers=None, database: Database | None = None):
        self.settings = settings
        self.core = Core(
            settings=settings,
            db=database or Database(settings.database.url),
            drivers=drivers if drivers is not None else build_share_drivers(settings),
            tasks=TaskRunner(settings.service.workers),
        )
        self.share_types = ShareTypes(self.core)
        self.shares = Shares(self.core, self.share_types)
        self.snapshots = ShareSnapshots(self.core)
        self.access = ShareAccess(self.core)
        self.messages = Messages(self.core)
        self.recovery = Recovery(self.core, self.shares, self.snapshots, self.access)

    def start(self, periodic: bool = True) -> None:
        """Bring backends up, finish what a crash interrupted, re-export everything."""
        self.share_types.bootstrap()
        for name, driver in self.core.drivers.items():
            try:
                driver.start()
            except Exception as exc:  # one broken backend must not stop the others
                import logging

                logging.getLogger(__name__).error("backend %s failed to start: %s", name, exc)
        self.recovery.resume_interrupted()
        self.recovery.ensure_exports()
        if periodic:
            self.recovery.start_periodic(self.settings.service.periodic_interval)

    def stop(self) -> None:
        self.recovery.stop()
        self.core.tasks.shutdown()

    def pools(self):
        """(backend, driver, [PoolStats]) for every reachable backend."""
        out = []
        for name, driver in self.core.drivers.items():
            try:
                out.append((name, driver, driver.pools()))
            except Exception:
                out.append((name, driver, []))
        return out
