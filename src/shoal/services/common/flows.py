"""Durable multi-step work: taskflow flows persisted in Shoal's own database.

A flow is built by a module-level factory from plain ids (so it can be built
again after a crash), run by taskflow's serial engine on a background worker,
and its every step saved by taskflow's SQLAlchemy persistence backend on
Shoal's database (tables made by Shoal's migration 0006). Each step is a
`FlowTask` with a `revert()`; a failure reverts the finished steps in reverse.

At start-up `resume_unfinished()` loads every flow a crash left unfinished and
runs it on: the step that was running runs again (steps are written to be
repeated) and the rest follow, or, if it fails now, everything reverts. No
resource is left in its transitional state.

`cancel(flow_id)` stops the processes the flow started (by pid/channel, see
hosts.transfer) and makes its next step fail; the flow then reverts.

Progress: steps write `progress` and `task_state` into their resource's row
(`report`), where the API reads them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Callable

import warnings

from sqlalchemy import MetaData, delete, update

with warnings.catch_warnings():  # taskflow looks for eventlet, which warns that it is deprecated
    warnings.simplefilter("ignore")
    from taskflow import engines, states, task
    from taskflow.persistence import models as tf_models
    from taskflow.persistence.backends import impl_sqlalchemy

from shoal.hosts import transfer

log = logging.getLogger(__name__)

BOOK = "shoal"
_TABLES = impl_sqlalchemy.tables.fetch(MetaData())
FLOWS, ATOMS = _TABLES.flowdetails, _TABLES.atomdetails
FINISHED = (states.SUCCESS, states.REVERTED, states.FAILURE)


class Cancelled(Exception):
    """The flow was cancelled; its steps revert."""


# Steps are rebuilt from plain data after a crash, so they find the running
# services here rather than in their (persisted) arguments.
_context: dict[str, Any] = {}


def context(name: str):
    """What the running Shoal registered under `name` (see Flows.provide)."""
    return _context[name]


class FlowTask(task.Task):
    """A step of a Shoal flow: refuses to start once its flow is cancelled.

    Subclasses implement `execute(...)` and `revert(...)`; both may run again
    after a crash, so both must be safe to repeat."""

    def pre_execute(self):
        flow_id = getattr(_running, "flow_id", None)
        if flow_id is not None and flow_id in _cancelled:
            raise Cancelled(f"flow {flow_id} was cancelled")


_running = threading.local()
_cancelled: set[str] = set()


class _OneConnectionBackend(impl_sqlalchemy.SQLAlchemyBackend):
    """taskflow's SQLAlchemy backend, handing out one Connection for good.

    Upstream makes a Connection, and with it a new set of Table objects, for
    every storage call; SQLAlchemy keys its compiled statements by table, so
    each of a flow's many saves was compiled anew (most of a short flow's
    time, more with every step) and pushed Shoal's own statements out of the
    engine's compiled cache. A Connection holds nothing but those tables: each
    of its calls takes its own transaction from the engine, and close() is a
    no-op, so one serves every thread."""

    def __init__(self, conf, engine):
        super().__init__(conf, engine=engine)
        self._one: impl_sqlalchemy.Connection | None = None
        self._one_lock = threading.Lock()

    def get_connection(self):
        with self._one_lock:
            if self._one is None:
                self._one = super().get_connection()
            return self._one


class Flows:
    def __init__(self, db, tasks):
        self.db, self.tasks = db, tasks
        self.backend = _OneConnectionBackend({"connection": db.url}, engine=db.engine)
        self._book_lock = threading.Lock()
        self._book: tf_models.LogBook | None = None

    def provide(self, name: str, value: Any) -> None:
        """Make `value` reachable to steps as `context(name)`."""
        _context[name] = value

    def _logbook(self) -> tf_models.LogBook:
        with self._book_lock:
            if self._book is None:
                with contextlib.closing(self.backend.get_connection()) as conn:
                    found = [b for b in conn.get_logbooks(lazy=True) if b.name == BOOK]
                    if found:
                        self._book = found[0]
                    else:
                        self._book = tf_models.LogBook(BOOK)
                        conn.save_logbook(self._book)
            return self._book

    # ---- start, resume, cancel -------------------------------------------------------

    def start(self, factory: Callable, factory_args: tuple, store: dict, on_end: Callable | None = None,
              name: str | None = None) -> str:
        """Persist a new flow built by `factory(*factory_args)` and run it in the
        background; returns its id (record it in the resource's row). The flow's
        steps get `store`, plus `flow_id`."""
        book = self._logbook()
        engine = engines.load_from_factory(factory, factory_args=list(factory_args), store=dict(store),
                                           backend=self.backend, book=book)
        flow_id = engine.storage.flow_uuid
        engine.storage.inject({"flow_id": flow_id})
        if name:
            log.info("flow %s (%s) started", flow_id, name)
        self.tasks.submit(self._run, engine, flow_id)
        return flow_id

    def resume_unfinished(self) -> list[str]:
        """Run on every flow a crash left unfinished; returns their ids."""
        resumed = []
        with contextlib.closing(self.backend.get_connection()) as conn:
            books = [b for b in conn.get_logbooks() if b.name == BOOK]
        for book in books:
            for detail in book:
                if detail.state in FINISHED:
                    self._forget(detail.uuid)
                    continue
                try:
                    engine = engines.load_from_detail(detail, backend=self.backend)
                except Exception:
                    log.exception("flow %s cannot be loaded again; dropping it", detail.uuid)
                    self._forget(detail.uuid)
                    continue
                log.info("resuming flow %s (%s), left %s by a restart", detail.uuid, detail.name, detail.state)
                self.tasks.submit(self._run, engine, detail.uuid)
                resumed.append(detail.uuid)
        return resumed

    def cancel(self, flow_id: str) -> int:
        """Stop the flow's processes and fail its next step: it reverts. Returns
        how many processes were stopped."""
        _cancelled.add(flow_id)
        return transfer.stop(flow_id)

    # ---- running ---------------------------------------------------------------------------

    def _run(self, engine, flow_id: str) -> None:
        _running.flow_id = flow_id
        try:
            with transfer.owned_by(flow_id):
                engine.run()
        except Exception as exc:  # the steps reverted and recorded why
            log.warning("flow %s reverted: %s", flow_id, exc)
        finally:
            _running.flow_id = None
            _cancelled.discard(flow_id)
            transfer.release(flow_id)
        if engine.storage.get_flow_state() in FINISHED:
            self._forget(flow_id)

    def _forget(self, flow_id: str) -> None:
        """A finished flow's record is of no more use: remove it with its steps."""
        with self.db.connection() as connection:
            connection.execute(delete(ATOMS).where(ATOMS.c.parent_uuid == flow_id))
            connection.execute(delete(FLOWS).where(FLOWS.c.uuid == flow_id))


def failure_reason(failures) -> str:
    """The first failure's text of a revert's `flow_failures`, for the user."""
    for failure in (failures or {}).values():
        return str(getattr(failure, "exception_str", failure))
    return "failed"


def report(db, model, resource_id: str, **fields) -> None:
    """Write progress (`progress`, `task_state`, ...) into a resource's row."""
    with db.connection() as connection:
        connection.execute(update(model.__table__).where(model.__table__.c.id == resource_id).values(**fields))


def percent(done: int, total: int) -> str:
    """Manila's progress text: '42%'; never 100% before the end."""
    if total <= 0:
        return "0%"
    return f"{min(99, int(done * 100 / total))}%"
