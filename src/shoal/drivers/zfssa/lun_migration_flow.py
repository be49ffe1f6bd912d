"""The steps of a LUN's move between two appliances by replication (reference
§3.8, Cinder's `zfssa_volume_migration` flow), each undone when a later one
fails (taskflow's revert, in reverse order):

| step | does | undone by |
|---|---|---|
| stop-inheriting | source: the LUN's `replication {inherited: false}` | its former value back |
| create-action | source: a replication action for the LUN alone | the action deleted (its snapshots go) |
| send-update | source: `sendupdate`, polled until it ends | the update cancelled if it runs, the package dropped on the destination |
| sever | destination: the package becomes project `shoal-migrating-<id>` | that project deleted |
| keep-snapshots | destination: of the snapshots that came along, only the volume's own stay | (in the project above) |
| rename | destination: the LUN named for the new volume, Shoal's target group, masked | (in the project above) |
| move-in | destination: the LUN moved into the backend's project | the LUN deleted |
| drop-project | destination: the emptied project deleted | -- |
| finish | source: the action deleted, `inherited` as it was | -- |

Unlike the original, the source is left exactly as it was (its flag put back,
the action and its snapshots gone: the original left `inherited` false),
nothing is left on the destination when a step fails (the original left a
received package behind), an update that fails or never ends fails the move
(bounded by `replication_timeout`), a cancel of the flow (a force-delete)
stops the appliance's update at the next poll (`cancelupdate`) and reverts
instead of waiting for it to end, and the source LUN is not deleted here:
services remove the old data once the volume points at the new (after their
commit), so a crash in between loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from taskflow import engines, task
from taskflow.patterns import linear_flow

from shoal.drivers.base import DriverError
from shoal.hosts import transfer

from . import replication_api as repl
from .appliance import MASK_ALL, Appliance
from .rest import ApplianceError, ApplianceNotFound

log = logging.getLogger(__name__)
POLL = 1.0  # seconds between looks at a running update (the original: 5)
CANCEL_LOOK = 0.1  # seconds between looks for a cancel of the flow while waiting


@dataclass(frozen=True)
class End:
    """One side of the move: an appliance and where the LUN is (or goes) there."""

    api: Appliance
    pool: str
    project: str


@dataclass(frozen=True)
class Move:
    source: End
    dest: End
    lun: str  # the LUN's name on the source (and in the package)
    new_name: str  # its name on the destination (the new volume's)
    target_label: str  # the source's replication target that is the destination
    source_asn: str
    staging: str  # the project the package is severed into
    snapshots: tuple[str, ...]  # the volume's snapshots (the action's include_snaps brings them along)
    settings: dict  # the LUN's properties on the destination (target group, type's specs)
    timeout: float
    progress: Callable[[int], None]


def cancelled() -> bool:
    """The flow this thread runs for was cancelled (a force-delete of the volume):
    its processes would have been stopped; the appliance's update is no process
    of Shoal's, so it is looked at here (hosts.transfer.stopped)."""
    return transfer.stopped()


def _nap() -> None:
    """POLL seconds, cut short by a cancel."""
    end = time.monotonic() + POLL
    while not cancelled() and time.monotonic() < end:
        time.sleep(min(CANCEL_LOOK, max(0.0, end - time.monotonic())))


def settled(api: Appliance, action_id: str, timeout: float, wanted: bool = False) -> dict:
    """The action once no update of it is running (the original's poll). An
    update nobody waits for (`wanted` false: an earlier attempt's, or one being
    undone), or one whose flow was cancelled meanwhile, is cancelled on the
    appliance (`cancelupdate`) rather than waited out."""
    deadline = time.monotonic() + timeout
    asked = False
    while True:
        found = repl.action(api, action_id)
        if found.get("state") != "sending":
            return found
        if not asked and (not wanted or cancelled()):
            log.info("ZFSSA migration: cancelling the running update of replication action %s", action_id)
            asked = True
            try:
                repl.cancel_update(api, action_id)
            except ApplianceError as exc:  # e.g. a release without cancelupdate: wait as the original did
                log.warning("ZFSSA migration: could not cancel the update of replication action %s (%s); "
                            "waiting for it to end", action_id, exc)
            continue
        if time.monotonic() > deadline:
            raise DriverError(f"replication action {action_id}: the update still runs after {timeout:g} s "
                              "(replication_timeout)")
        _nap()


def drop_action(api: Appliance, action_id: str, timeout: float) -> None:
    """Delete the action, its running update (if any) cancelled first; gone already is fine."""
    try:
        settled(api, action_id, timeout)
        repl.delete_action(api, action_id)
    except ApplianceNotFound:
        pass


def source_name(dest: Appliance, source_asn: str) -> str | None:
    """The destination's name for the source appliance among its replication sources."""
    return next((s.get("name") for s in repl.sources(dest) if str(s.get("asn")) == source_asn), None)


def drop_package(dest: Appliance, source_asn: str, package: str) -> None:
    name = source_name(dest, source_asn)
    if name is None:
        return
    try:
        repl.delete_package(dest, name, package)
    except ApplianceNotFound:
        pass


def drop_project(api: Appliance, pool: str, project: str) -> None:
    """A staging project and what is in it (a received clone keeps its origin's
    `nodestroy`, which would refuse the delete); gone already is fine."""
    try:
        for lun in api.luns(pool, project):
            if lun.get("nodestroy"):
                api.modify_lun(pool, project, lun["name"], {"nodestroy": False})
        repl.delete_project(api, pool, project)
    except ApplianceNotFound:
        pass


def _undo(what: str, fn: Callable[[], None]) -> None:
    """An undo that fails is logged: the error that matters is the one that made the flow revert."""
    try:
        fn()
    except ApplianceError as exc:
        log.error("ZFSSA migration: could not undo %s: %s", what, exc)


class StopInheriting(task.Task):
    default_provides = "was_inherited"

    def execute(self, move: Move) -> bool:
        src = move.source
        was = repl.inherited(src.api, src.pool, src.project, move.lun)
        repl.set_inherited(src.api, src.pool, src.project, move.lun, False)
        move.progress(2)
        return was

    def revert(self, move: Move, result=None, **kwargs) -> None:
        src = move.source
        previous = result if isinstance(result, bool) else True
        _undo(f"the replication flag of {move.lun}",
              lambda: repl.set_inherited(src.api, src.pool, src.project, move.lun, previous))


class CreateAction(task.Task):
    default_provides = "action_id"

    def execute(self, move: Move) -> str:
        src = move.source
        made = repl.create_action(src.api, src.pool, src.project, move.lun, move.target_label, move.dest.pool)
        if not made.get("id"):
            raise DriverError(f"the appliance made a replication action for {move.lun} but named no id")
        move.progress(5)
        return str(made["id"])

    def revert(self, move: Move, result=None, **kwargs) -> None:
        if isinstance(result, str):
            _undo(f"replication action {result}", lambda: drop_action(move.source.api, result, move.timeout))


class SendUpdate(task.Task):
    def execute(self, move: Move, action_id: str) -> None:
        move.progress(10)
        repl.send_update(move.source.api, action_id)
        done = settled(move.source.api, action_id, move.timeout, wanted=True)
        if cancelled():
            raise DriverError(f"the migration of {move.lun} was cancelled: the appliance's replication update "
                              f"ended {done.get('last_result')!r}")
        if done.get("last_result") != "success":
            raise DriverError(f"the replication update of {move.lun} to the destination appliance ended "
                              f"{done.get('last_result')!r}")
        move.progress(80)

    def revert(self, move: Move, action_id: str, **kwargs) -> None:
        def drop() -> None:
            settled(move.source.api, action_id, move.timeout)  # a late update would make it again
            drop_package(move.dest.api, move.source_asn, action_id)
        _undo(f"replication package {action_id}", drop)


class Sever(task.Task):
    def execute(self, move: Move, action_id: str) -> None:
        name = source_name(move.dest.api, move.source_asn)
        if name is None:
            raise DriverError(f"the destination appliance lists no replication source of ASN {move.source_asn}")
        repl.sever(move.dest.api, name, action_id, move.staging)
        move.progress(85)

    def revert(self, move: Move, **kwargs) -> None:
        _undo(f"project {move.staging}", lambda: drop_project(move.dest.api, move.dest.pool, move.staging))


class KeepSnapshots(task.Task):
    """The replication brings every snapshot of the share (include_snaps): the
    volume's own must all be there; the rest (the appliance's replication
    snapshots, temporary snapshots of the source's clones) go."""

    def execute(self, move: Move) -> None:
        dst = move.dest
        found = {s.get("name") for s in dst.api.lun_snapshots(dst.pool, move.staging, move.lun)}
        missing = sorted(set(move.snapshots) - found)
        if missing:
            raise DriverError(f"the replication of {move.lun} did not bring its snapshots {', '.join(missing)} "
                              "(is include_snaps off on the appliance?)")
        for name in sorted(found - set(move.snapshots)):
            dst.api.delete_lun_snapshot(dst.pool, move.staging, move.lun, name)


class Rename(task.Task):
    def execute(self, move: Move) -> None:
        dst = move.dest
        dst.api.modify_lun(dst.pool, move.staging, move.lun,
                           {"name": move.new_name, "initiatorgroup": MASK_ALL, "nodestroy": False, **move.settings})
        move.progress(90)


class MoveIn(task.Task):
    def execute(self, move: Move) -> None:
        dst = move.dest
        repl.move_lun(dst.api, dst.pool, move.staging, move.new_name, dst.project)
        move.progress(95)

    def revert(self, move: Move, **kwargs) -> None:
        def drop() -> None:
            try:
                move.dest.api.delete_lun(move.dest.pool, move.dest.project, move.new_name)
            except ApplianceNotFound:
                pass
        _undo(f"LUN {move.new_name}", drop)


class DropProject(task.Task):
    def execute(self, move: Move) -> None:
        repl.delete_project(move.dest.api, move.dest.pool, move.staging)


class Finish(task.Task):
    def execute(self, move: Move, action_id: str, was_inherited: bool) -> None:
        src = move.source
        drop_action(src.api, action_id, move.timeout)
        repl.set_inherited(src.api, src.pool, src.project, move.lun, was_inherited)
        move.progress(99)


def run(move: Move) -> None:
    """The move, or everything it did undone and the first failure raised."""
    flow = linear_flow.Flow(f"zfssa-lun-migration-{move.new_name}").add(
        StopInheriting("stop-inheriting"), CreateAction("create-action"), SendUpdate("send-update"),
        Sever("sever"), KeepSnapshots("keep-snapshots"), Rename("rename"), MoveIn("move-in"), DropProject("drop-project"), Finish("finish"))
    engines.run(flow, store={"move": move})
