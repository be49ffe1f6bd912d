"""Retype (Cinder's os-retype): a new type applied in place when the volume's
backend can (its driver's `retype`: compression on ZFS, a template on StorPool),
else, with migration_policy `on-demand`, the data moves (migrations.py) to a pool
the scheduler finds for the new type; with `never` the request is refused.

When the new type names another backend (`volume_backend_name`), the answer is
known at once: 400 for `never`, a migration for `on-demand`. Otherwise the
driver is asked in the background; a driver that cannot leaves the volume as it
was (never) or migrates it (on-demand).
"""

from __future__ import annotations

from typing import Any

from shoal.db import models

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Invalid
from ..common.scheduler import VOLUME_BACKEND_KEY, pool_after_retype
from ..common.types import TypeCatalog
from . import rows as vr
from .migrations import ACTION_RETYPE, VolumeMigrations, is_target, migrating
from .volumes import spec_true

NEEDS_MIGRATION = "Retype requires migration but is not allowed."


class VolumeRetype:
    def __init__(self, core: c.Core, types: TypeCatalog, migrations: VolumeMigrations):
        self.core, self.types, self.migrations = core, types, migrations

    def retype(self, ctx: RequestContext, volume_id: str, new_type: Any, policy: Any = "never") -> None:
        if policy is None:
            policy = "never"
        if policy not in ("never", "on-demand"):
            raise Invalid("Invalid input received: migration_policy must be never or on-demand")
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            if volume.status not in ("available", "in-use") or is_target(volume):
                raise Invalid(f"Invalid volume: status must be available or in-use, not {volume.status}")
            if migrating(volume):
                raise Invalid(f"Invalid volume: Volume {volume_id} is already part of an active migration.")
            vtype = self.types.find(session, ctx, new_type)
            if vtype.id == volume.volume_type_id:
                raise Invalid("Invalid volume type: the volume already has this type")
            wanted = (vtype.extra_specs or {}).get(VOLUME_BACKEND_KEY)
            if wanted and wanted != volume.backend:
                if policy != "on-demand":
                    raise Invalid(f"Invalid volume: {NEEDS_MIGRATION} The type {vtype.name} places volumes on "
                                  f"backend {wanted}, and this volume is on {volume.backend}.")
                if wanted not in self.core.volume_drivers:
                    raise Invalid(f"Invalid volume type: its backend {wanted} is not configured")
                by_copy = self.migrations.declines(volume, wanted, vtype.extra_specs)
                self.migrations.check_movable(session, volume, keeps_snapshots=not by_copy and
                                              self.migrations.assisted(volume.backend, wanted))
                self.migrations.begin(session, volume, wanted, None, vtype.id, "retyping", force_host_copy=by_copy)
                move = True
            else:
                volume.task, volume.task_arg = "retype", f"{vtype.id}:{volume.status}"
                volume.status = "retyping"
                move = False
        if move:
            self.migrations.launch(volume_id)
        else:
            self.core.tasks.start(self._in_place, volume_id, policy)

    def _in_place(self, volume_id: str, policy: str) -> None:
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            if volume is None or volume.task != "retype":
                return
            type_id, _, back_to = volume.task_arg.partition(":")
            vtype = session.get(models.VolumeType, type_id)
            ref, backend, specs = vr.volume_ref(volume), volume.backend, dict(vtype.extra_specs) if vtype else {}
        try:
            done = vr.driver(self.core, backend).retype(ref, specs)
        except Exception as exc:
            done, reason = False, str(exc)
        else:
            reason = f"the backend cannot apply the new type in place. {NEEDS_MIGRATION}"
        if done:
            pool = pool_after_retype(backend, vr.driver(self.core, backend), ref.pool, specs, self.core.pool_stats)
            moved = {"pool": pool} if pool != ref.pool else {}
            vr.set_volume(self.core, volume_id, volume_type_id=type_id, status=back_to, task=None, task_arg=None,
                          multiattach=spec_true(specs, "multiattach"), **moved)
        elif policy == "on-demand":
            self._migrate_instead(volume_id, type_id, back_to)
        else:  # nothing changed: the volume keeps its type and is usable as before
            vr.fail_volume(self.core, volume_id, back_to, ACTION_RETYPE, vr.DETAIL_UNKNOWN, f"retype refused: {reason}")

    def _migrate_instead(self, volume_id: str, type_id: str, back_to: str) -> None:
        """The driver cannot: the data moves to wherever the new type is placed."""
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            if volume is None or volume.task != "retype":
                return
            volume.status, volume.task, volume.task_arg = back_to, None, None
            try:
                self.migrations.check_movable(session, volume)
            except Invalid as exc:
                reason = str(exc)
            else:
                self.migrations.begin(session, volume, None, None, type_id, "retyping")
                reason = None
        if reason is not None:
            vr.fail_volume(self.core, volume_id, back_to, ACTION_RETYPE, vr.DETAIL_UNKNOWN,
                           f"retype needs a migration, which is refused: {reason}")
            return
        self.migrations.launch(volume_id)
