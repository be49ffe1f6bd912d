"""Deferred delete of LUNs and snapshots that clones still need (the
contract: volume and snapshot deletes succeed even when clones depend on the
data).

The appliance refuses to destroy a LUN while a clone hangs off one of its
snapshots, and destroying a snapshot destroys its clones with it. So what
clones still need is hidden instead: a LUN is renamed `deleted-<name>` and
masked from every initiator, a snapshot renamed `deleted-<name>`. The state
lives in the names, on the appliance, so it survives a restart. When a clone
goes, its origin is collected: the clone's own temporary snapshot
(`tmp-snapshot-<clone id>`) or a hidden snapshot it came from is deleted once
no clone hangs off it, then the origin LUN if it is hidden and the appliance
lets it go (it refuses while another clone still needs it, and the LUN simply
stays hidden).
"""

from __future__ import annotations

import logging

from .appliance import MASK_ALL, Appliance
from .naming import CLONE_SNAPSHOT_PREFIX, volume_id_of
from .rest import ApplianceError, ApplianceNotFound

log = logging.getLogger(__name__)

HIDDEN_PREFIX = "deleted-"


def is_hidden(name: str) -> bool:
    return name.startswith(HIDDEN_PREFIX)


def hide(api: Appliance, pool: str, project: str, name: str) -> None:
    hidden = name if is_hidden(name) else HIDDEN_PREFIX + name
    api.modify_lun(pool, project, name, {"name": hidden, "initiatorgroup": MASK_ALL})


def delete_or_hide(api: Appliance, pool: str, project: str, name: str) -> bool:
    """Delete the LUN, or hide it when the appliance refuses because clones
    need it. True when it is gone (or was already)."""
    try:
        api.delete_lun(pool, project, name)
        return True
    except ApplianceNotFound:
        return True
    except ApplianceError as exc:
        if exc.status not in (400, 403, 409):
            raise
        log.info("ZFSSA LUN %s/%s is still needed by a clone (%s); hiding it until its last clone goes",
                 project, name, exc)
    hide(api, pool, project, name)
    return False


def hide_snapshot(api: Appliance, pool: str, project: str, lun: str, snapshot: str) -> None:
    api.rename_lun_snapshot(pool, project, lun, snapshot, HIDDEN_PREFIX + snapshot)


def cloned_after(snapshots: list[dict], name: str) -> list[str]:
    """What hangs off the LUN's snapshots taken after snapshot `name` (of the
    appliance's list of them): "the clone <volume id>" for a clone's temporary
    snapshot, else "the volumes made from <snapshot>". Later means a later
    creation time, which the appliance gives to the second: a snapshot of the
    same second is not counted (the rollback itself then decides)."""
    created = next((s.get("creation") or "" for s in snapshots if s.get("name") == name), None)
    if created is None:
        return []
    found = []
    for snap in snapshots:
        leaf = snap.get("name") or ""
        if (snap.get("creation") or "") > created and int(snap.get("numclones") or 0):
            clone = leaf.removeprefix(CLONE_SNAPSHOT_PREFIX)
            found.append(f"the clone {clone}" if clone != leaf else f"the volumes made from {leaf}")
    return sorted(found)


def _drop_unneeded_snapshot(api: Appliance, pool: str, project: str, lun: str, snapshot: str) -> None:
    """Delete a snapshot only when no clone hangs off it: on the appliance a
    snapshot delete takes its clones with it."""
    if int(api.lun_snapshot(pool, project, lun, snapshot).get("numclones") or 0) == 0:
        api.delete_lun_snapshot(pool, project, lun, snapshot)


def collect_origin(api: Appliance, pool: str, prefix: str, origin: dict, clone_id: str | None) -> dict | None:
    """After the LUN of volume `clone_id` is gone: the snapshot it was cloned
    from when that was its own temporary one or a hidden one, then the origin
    LUN when it is hidden, and so on up the chain. Returns the origin where the
    chain reaches a LUN that is not hidden (e.g. an image cache's), else None."""
    while origin and origin.get("share") and origin.get("project"):
        project, share, snapshot = origin["project"], origin["share"], origin.get("snapshot") or ""
        try:
            temporary = clone_id is not None and snapshot == CLONE_SNAPSHOT_PREFIX + clone_id
            if snapshot and (temporary or is_hidden(snapshot)):
                _drop_unneeded_snapshot(api, pool, project, share, snapshot)
            if not is_hidden(share):
                return origin
            parent = api.lun(pool, project, share)
            api.delete_lun(pool, project, share)
        except ApplianceNotFound:
            return None
        except ApplianceError as exc:
            log.info("ZFSSA: %s/%s stays hidden for now: %s", project, share, exc)
            return None
        # The hidden LUN may itself be a clone: its temporary snapshot is named by its own id.
        origin, clone_id = parent.get("origin") or {}, volume_id_of(prefix, share[len(HIDDEN_PREFIX):])
    return None


def sweep(api: Appliance, pool: str, project: str, prefix: str) -> None:
    """Delete every hidden LUN nothing needs any more (at start, after a crash)."""
    for lun in api.luns(pool, project):
        name = lun.get("name") or ""
        if is_hidden(name):
            try:
                api.delete_lun(pool, project, name)
            except ApplianceError:
                continue
            collect_origin(api, pool, prefix, lun.get("origin") or {}, volume_id_of(prefix, name[len(HIDDEN_PREFIX):]))
