"""What a LUN's move by replication (lun_migration_flow) leaves on the
appliances when nothing will finish or undo it any more -- its flow's record
lost in a crash before it was saved, or its migration row deleted -- removed
when a `zfssa_iscsi` backend recovers (`sweep`, from the driver's `recover`).

Only what Shoal's moves make, known by Shoal's names:

- source side: a replication action of one LUN of this backend's project
  whose name is Shoal's (`<volume_prefix><id>`), towards a replication target
  that is another `zfssa_iscsi` backend of this Shoal at its `replication_ip`
  (the way `receive_volume` sends; an action to anywhere else is an
  administrator's): its running update cancelled, its package on that
  appliance dropped, the action deleted, and the LUN's `inherited` flag back
  to true once it has no action left;
- destination side: a project `shoal-migrating-<id>` in this backend's pool
  (the staging project a package is severed into), deleted with its content.

Each side is looked at only where a move can have been (another backend
naming a replication_ip; this one naming it), so an appliance without
replication is not asked about it.

Left alone: whatever a move running in this process works on. `moving()`
registers a move's source LUN and staging project before it touches anything,
under the lock the sweep holds while it judges and removes each object, so a
move never loses what it made to a sweep. A move whose flow is persisted and
runs later loses nothing either: a receive starts by removing what its
earlier attempt left (lun_migration.forget_attempts), whoever removed it first.

Not known here, so not swept: a package whose action is gone already (its
source cannot be told from an administrator's); `release_sent` drops the
package with the action so that none is left that way. The registry is one
process's: two Shoal processes driving one appliance's migrations at once
would not see each other's moves.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from shoal.drivers.base import DriverError

from . import lun_migration_flow as flow
from . import naming
from . import replication_api as repl
from .rest import ApplianceError, ApplianceNotFound

if TYPE_CHECKING:
    from .lun_migration import LunMigrationMixin

log = logging.getLogger(__name__)

_lock = threading.Lock()
_moving: set[tuple[str, ...]] = set()
_drivers: weakref.WeakSet = weakref.WeakSet()  # every zfssa_iscsi driver of this process


def known(driver: LunMigrationMixin) -> None:
    """A driver whose appliance a move may go to (its replication_ip) or come from."""
    _drivers.add(driver)


def lun_key(asn: str, pool: str, project: str, lun: str) -> tuple[str, ...]:
    return ("lun", asn, pool, project, lun)


def staging_key(asn: str, pool: str, project: str) -> tuple[str, ...]:
    return ("staging", asn, pool, project)


@contextmanager
def moving(*keys: tuple[str, ...]) -> Iterator[None]:
    """A move in this process works on these objects: sweeps leave them alone."""
    with _lock:
        _moving.update(keys)
    try:
        yield
    finally:
        with _lock:
            _moving.difference_update(keys)


def peer_of(driver: LunMigrationMixin, action: dict) -> LunMigrationMixin | None:
    """The backend of this process an action of `driver`'s appliance sends to,
    by its replication target (ASN and `<replication_ip>:216`), or None."""
    target = next((t for t in repl.targets(driver.api) if t.get("label") == action.get("target")), None)
    if target is None:
        return None
    for other in list(_drivers):
        if other is driver or not other.config.replication_ip:
            continue
        if target.get("address") != f"{other.config.replication_ip}:{repl.REPLICATION_PORT}":
            continue
        try:
            if repl.asn(other.api) == str(target.get("asn")) and action.get("target_pool") == other.config.pool:
                return other
        except ApplianceError:
            continue
    return None


def drop_sent(driver: LunMigrationMixin, action: dict, here_asn: str) -> None:
    """An action of a move and what it sent: the update cancelled if it runs,
    the package on the destination (when it is a backend of this process), the action."""
    action_id = str(action["id"])
    try:
        flow.settled(driver.api, action_id, driver.config.replication_timeout)
    except ApplianceNotFound:
        return
    peer = peer_of(driver, action)
    if peer is not None:
        flow.drop_package(peer.api, here_asn, action_id)
    flow.drop_action(driver.api, action_id, driver.config.replication_timeout)


def _lun_of(action: dict, project: str) -> str | None:
    """The one share of `project` an action sends (its `share`, or what its
    `replication_of` names); None for a whole project's or another project's."""
    if action.get("project") == project and action.get("share"):
        return str(action["share"])
    parent, _, share = str(action.get("replication_of") or "").partition("/")
    return share if parent == project and share and "/" not in share else None


def sweep(driver: LunMigrationMixin) -> list[str]:
    """Remove what moves no one runs left on `driver`'s appliance; returns what
    went. One object that cannot be removed stops none of the others."""
    sends = any(other is not driver and other.config.replication_ip for other in list(_drivers))
    receives = bool(driver.config.replication_ip)
    if not (sends or receives):
        return []
    here = repl.asn(driver.api)
    gone = (_sweep_actions(driver, here) if sends else []) + (_sweep_staging(driver, here) if receives else [])
    if gone:
        log.warning("backend %s: removed what interrupted migrations left on the appliance: %s",
                    driver.backend_name, ", ".join(gone))
    return gone


def _sweep_actions(driver: LunMigrationMixin, here: str) -> list[str]:
    cfg, gone = driver.config, []
    for action in repl.actions(driver.api):
        lun = _lun_of(action, cfg.project)
        if not (action.get("id") and lun and action.get("pool") == cfg.pool
                and naming.volume_id_of(cfg.volume_prefix, lun) is not None):
            continue
        with _lock:
            if lun_key(here, cfg.pool, cfg.project, lun) in _moving:
                continue
            try:
                if peer_of(driver, action) is None:
                    continue  # not the way a move goes: an administrator's
                drop_sent(driver, action, here)
                if not driver._own_actions(lun):
                    repl.set_inherited(driver.api, cfg.pool, cfg.project, lun, True)
                gone.append(f"replication action {action['id']} of {lun}")
            except ApplianceNotFound:
                gone.append(f"replication action {action['id']} of {lun}")
            except DriverError as exc:  # the appliance's refusal, or an update that would not end
                log.error("backend %s: cannot remove replication action %s of %s that no migration owns: %s",
                          driver.backend_name, action["id"], lun, exc)
    return gone


def _sweep_staging(driver: LunMigrationMixin, here: str) -> list[str]:
    cfg, gone = driver.config, []
    for project in repl.projects(driver.api, cfg.pool):
        name = str(project.get("name") or "")
        if naming.migration_project_id(name) is None:
            continue
        with _lock:
            if staging_key(here, cfg.pool, name) in _moving:
                continue
            try:
                flow.drop_project(driver.api, cfg.pool, name)
                gone.append(f"project {name}")
            except ApplianceError as exc:
                log.error("backend %s: cannot remove staging project %s that no migration owns: %s",
                          driver.backend_name, name, exc)
    return gone
