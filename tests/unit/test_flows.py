"""The flow engine (services/common/flows.py) on a migrated SQLite database:
steps run in order, a failure reverts the finished ones in reverse, a cancel
stops the processes the flow started and reverts, and a flow left unfinished
in the database runs on when a new engine resumes it."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from shoal.db.migrate import upgrade
from shoal.db.session import Database
from shoal.services.common.flows import Flows
from shoal.services.common.tasks import TaskRunner

from . import flow_steps


@pytest.fixture
def flows(tmp_path):
    url = f"sqlite:///{tmp_path}/shoal.db"
    upgrade(url)
    db = Database(url)
    runner = TaskRunner(2)
    engine = Flows(db, runner)
    engine.provide("journal", [])
    engine.provide("fail_at", None)
    yield engine
    runner.shutdown()
    db.engine.dispose()


def flow_rows(flows) -> int:
    with flows.db.connection() as conn:
        return conn.execute(text("SELECT count(*) FROM flowdetails")).scalar()


def test_steps_run_in_order_and_the_record_goes_when_done(flows):
    flows.start(flow_steps.three_steps, ("a",), {"item": "x"})
    assert flows.tasks.wait_idle(30)
    from shoal.services.common.flows import context

    assert context("journal") == [("do", "one", "x"), ("do", "two", "x"), ("do", "three", "x")]
    assert flow_rows(flows) == 0


def test_a_failing_step_reverts_the_finished_ones_in_reverse(flows):
    from shoal.services.common.flows import context

    flows.provide("fail_at", "three")
    flows.start(flow_steps.three_steps, ("b",), {"item": "y"})
    assert flows.tasks.wait_idle(30)
    assert context("journal") == [
        ("do", "one", "y"), ("do", "two", "y"), ("do", "three", "y"),
        ("undo", "three", "y"), ("undo", "two", "y"), ("undo", "one", "y"),
    ]
    assert flow_rows(flows) == 0


def test_cancel_stops_the_flows_processes_and_reverts(flows):
    from shoal.hosts import transfer
    from shoal.services.common.flows import context

    streaming = threading.Event()
    flows.provide("streaming", streaming)
    flow_id = flows.start(flow_steps.streaming, ("c",), {"item": "z"})
    assert streaming.wait(30)
    for _ in range(200):  # until the transfer's two processes are registered
        if len(transfer.running(flow_id)) == 2:
            break
        threading.Event().wait(0.05)
    assert len(transfer.running(flow_id)) == 2, transfer.running(flow_id)
    pids = [int(line.split(" pid ")[1].split(":")[0]) for line in transfer.running(flow_id)]
    assert flows.cancel(flow_id) == 2
    assert flows.tasks.wait_idle(30)
    assert context("journal")[-2:] == [("undo", "stream", "z"), ("undo", "before", "z")]
    for pid in pids:  # gone (reaped), not left running
        with pytest.raises(ProcessLookupError):
            import os

            os.kill(pid, 0)


def test_an_unfinished_flow_runs_on_after_a_restart(flows, tmp_path):
    """A flow whose first step finished before a 'crash' (its engine never ran
    on) is resumed by a new Flows on the same database: the rest runs, the
    finished step does not run again."""
    from taskflow import engines

    from shoal.services.common.flows import context

    engine = engines.load_from_factory(flow_steps.three_steps, factory_args=["d"], store={"item": "w"},
                                       backend=flows.backend, book=flows._logbook())
    engine.storage.inject({"flow_id": engine.storage.flow_uuid})
    engine.compile()
    engine.prepare()
    # run only the first step, as if the process died right after it
    it = engine.run_iter()
    for _ in it:
        if context("journal") == [("do", "one", "w")]:
            break
    it.close()
    assert flow_rows(flows) == 1

    again = Flows(flows.db, flows.tasks)
    assert again.resume_unfinished() == [engine.storage.flow_uuid]
    assert flows.tasks.wait_idle(30)
    assert context("journal") == [("do", "one", "w"), ("do", "two", "w"), ("do", "three", "w")]
    assert flow_rows(flows) == 0


def test_flows_reuse_their_compiled_statements(flows):
    """Saving a flow's steps compiles its statements once: later flows add
    nothing to the engine's compiled cache (upstream's backend made new Table
    objects for every call, so each save was compiled anew and Shoal's own
    statements were pushed out of the cache)."""
    cache = flows.db.engine._compiled_cache
    flows.start(flow_steps.three_steps, ("warm",), {"item": "w"})
    assert flows.tasks.wait_idle(30)
    warm = len(cache)
    for index in range(5):
        flows.start(flow_steps.three_steps, (f"c{index}",), {"item": str(index)})
        assert flows.tasks.wait_idle(30)
    assert len(cache) == warm
