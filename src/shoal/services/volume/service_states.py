"""The services of Cinder's os-services as Shoal has them -- the scheduler (`shoal`) and a
`cinder-volume` per backend (`shoal@<backend>`) -- and what an admin sets on them:

- disable / enable: a disabled volume service gets no new volumes (placement skips its
  backend); what it holds stays usable;
- freeze / thaw: a frozen backend gets no new volumes either, and its volumes refuse
  management calls (delete, extend, snapshot), as Cinder's `assert_not_frozen` does.

Placement reads the backends to skip from a copy kept here for TTL seconds (dropped at
once when this process changes a state), so a create costs no extra query; another
Shoal process sharing the database sees a change within TTL."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select

from shoal.db import models
from shoal.db.volume_extras import VolumeServiceState

from ..common import core as c
from ..common.checks import MAX_NAME, check_text
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound

SCHEDULER, VOLUME = "cinder-scheduler", "cinder-volume"
HOST_PREFIX = "shoal@"
TTL = 2.0


def _admin(ctx: RequestContext) -> None:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow volume_extension:services:update to be performed.")


class VolumeServiceStates:
    def __init__(self, core: c.Core):
        self.core = core
        self._lock = threading.Lock()
        self._skip: tuple[float, frozenset[str], frozenset[str]] | None = None  # (read at, unplaceable, frozen)

    def services(self) -> list[tuple[str, str]]:
        """(binary, host) of every service Shoal shows."""
        return [(SCHEDULER, "shoal"), *((VOLUME, f"{HOST_PREFIX}{b}") for b in self.core.volume_drivers)]

    def states(self) -> dict[tuple[str, str], VolumeServiceState]:
        with self.core.db.session() as session:
            return {(row.binary, row.host): row for row in session.scalars(select(VolumeServiceState))}

    def _known(self, binary: Any, host: Any) -> None:
        if (binary, host) not in self.services():
            raise NotFound(f"Could not find binary {binary} on host {host}.")

    def _write(self, binary: str, host: str, **fields) -> VolumeServiceState:
        with self.core.db.session() as session:
            row = session.get(VolumeServiceState, (host, binary))
            if row is None:
                row = VolumeServiceState(host=host, binary=binary, disabled=False, frozen=False)
                session.add(row)
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = models.utcnow()
        with self._lock:
            self._skip = None
        return row

    def set_enabled(self, ctx: RequestContext, binary: Any, host: Any, enabled: bool,
                    reason: Any = None, with_reason: bool = False) -> VolumeServiceState:
        _admin(ctx)
        if with_reason and (not isinstance(reason, str) or not reason.strip()):
            raise Invalid("Invalid input received: Disabled reason contains invalid characters or is too long")
        check_text("disabled_reason", reason, MAX_NAME)
        self._known(binary, host)
        return self._write(binary, host, disabled=not enabled, disabled_reason=None if enabled else reason)

    def set_frozen(self, ctx: RequestContext, host: Any, frozen: bool) -> None:
        _admin(ctx)
        if (VOLUME, host) not in self.services():
            raise Invalid(f"Invalid input received: Invalid host: no volume service on host {host}.")
        self._write(VOLUME, host, frozen=frozen)

    def _sets(self) -> tuple[frozenset[str], frozenset[str]]:
        with self._lock:
            if self._skip is not None and time.monotonic() - self._skip[0] < TTL:
                return self._skip[1], self._skip[2]
        unplaceable, frozen = set(), set()
        for (binary, host), row in self.states().items():
            if binary == VOLUME and host.startswith(HOST_PREFIX):
                backend = host.removeprefix(HOST_PREFIX)
                if row.disabled or row.frozen:
                    unplaceable.add(backend)
                if row.frozen:
                    frozen.add(backend)
        with self._lock:
            self._skip = (time.monotonic(), frozenset(unplaceable), frozenset(frozen))
        return self._skip[1], self._skip[2]

    def placeable(self, drivers: dict) -> dict:
        """The backends new volumes may go to: not disabled, not frozen."""
        skip = self._sets()[0]
        return drivers if not skip else {name: d for name, d in drivers.items() if name not in skip}

    def assert_not_frozen(self, backend: str | None) -> None:
        if backend is not None and backend in self._sets()[1]:
            raise Invalid(f"Invalid input received: Operation not allowed because volume host "
                          f"{HOST_PREFIX}{backend} is frozen.")
