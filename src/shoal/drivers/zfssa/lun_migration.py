"""Migration onto a `zfssa_iscsi` backend. Part of ZfssaIscsiVolumeDriver.

Backend-assisted between two appliances (reference §3.8): the destination's
driver takes a LUN of another `zfssa_iscsi` backend by the appliances' own
remote replication (`receive_volume`, the steps in lun_migration_flow), when

- the two backends are on two appliances (two ASNs);
- this backend names its `replication_ip`, and the source appliance has a
  replication target of this appliance's ASN at `<replication_ip>:216` (an
  administrator's setup, as the original required; its label is what the
  action names);
- and the `replication` service is online on both.

The volume's snapshots come along (the action's `include_snaps`) under their
own names; other snapshots that travel with the share (the appliance's
replication snapshots, temporary ones of the source's clones) are dropped on
arrival.

Otherwise `can_receive_volume` says no and services copy the data the generic
way. The pool the LUN lands in is this backend's (the action's `target_pool`:
no need for equal pool names on both appliances).

Unlike the original (whose precondition was equal target group names), the
LUN takes this backend's target group and is masked from every initiator; the
new type's sparse, compression and logbias apply (a new block size cannot:
the block size is fixed when a LUN is made, so such a move is refused).

After the copy, `update_migrated_volume` renames the LUN from the hidden
target's name to the volume's (§3.8); when that name is taken (a generic
migration into the project the volume came from), the volume keeps the
target's id as its `_name_id`.

A receive repeated after a crash first removes what an earlier attempt of
the same volume left: the source's replication actions of the LUN (with their
packages on this appliance) and its `inherited` flag; the staging project on
this appliance is named by the hidden target and goes with `delete_volume` of
it. The source's own leftovers also go with `release_sent` (the packages they
sent with them). An update an earlier attempt left running is cancelled on
the appliance, not waited out. What moves whose flow was lost left (nothing
will repeat them) goes when a backend recovers: `lun_migration_sweep`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from shoal.drivers.base import DriverError, InvalidRequest
from shoal.drivers.volume import (
    VolumeDriver,
    VolumeRef,
    VolumeResult,
    VolumeSnapshotRef,
)

from . import lun_migration_flow as flow
from . import lun_migration_sweep as sweeping
from . import lun_specs, naming, setup_checks
from . import replication_api as repl
from .rest import ApplianceError, ApplianceNotFound

log = logging.getLogger(__name__)


class LunMigrationMixin:
    # ---- whether the appliances can do it -------------------------------------------------------

    def _peer_label(self, source: VolumeDriver) -> str | None:
        """The label of the source appliance's replication target that is this
        appliance, or None with the reason logged."""
        if not isinstance(source, LunMigrationMixin) or source is self:
            return None
        why = None
        try:
            if not self.config.replication_ip:
                why = "it names no replication_ip"
            else:
                here, there = repl.asn(self.api), repl.asn(source.api)
                address = f"{self.config.replication_ip}:{repl.REPLICATION_PORT}"
                label = next((str(t.get("label")) for t in repl.targets(source.api)
                              if str(t.get("asn")) == here and t.get("address") == address), None)
                if here == there:
                    why = "both backends are on one appliance"
                elif label is None:
                    why = f"the source appliance has no replication target of ASN {here} at {address}"
                else:
                    offline = [name for name, api in (("source", source.api), ("destination", self.api))
                               if api.service("replication").get("<status>") != "online"]
                    if offline:
                        why = f"the replication service is not online on the {' and '.join(offline)} appliance"
                    else:
                        return label
        except ApplianceError as exc:
            why = str(exc)
        log.info("backend %s: volumes of %s migrate by the generic copy: %s", self.backend_name,
                 source.backend_name, why)
        return None

    def _replication_problem(self) -> str | None:
        """For `shoal doctor`, when replication_ip says volumes should arrive by replication."""
        problem = setup_checks.service_problem(self.api, "replication")
        if problem:
            return (f"{problem} (replication_ip is set: without the service, volumes of other appliances "
                    "migrate onto this backend by the generic copy)")
        return None

    def can_receive_volume(self, source: VolumeDriver, origin: VolumeRef | None = None,
                           extra_specs: Mapping[str, str] | None = None) -> bool:
        """By replication from a peer appliance; for one volume, only when the
        type it will have keeps its LUN's block size (fixed when a LUN is made):
        another goes by the generic copy, as §3.8's preconditions say."""
        if self._peer_label(source) is None:
            return False
        if origin is None:
            return True
        assert isinstance(source, LunMigrationMixin)
        wanted = lun_specs.resolve(dict(extra_specs or {}), self.config.lun).volblocksize
        return not self._block_size_differs(source._lun(origin), wanted)

    @staticmethod
    def _block_size_differs(lun: dict, wanted) -> bool:
        return bool(str(lun.get("volblocksize") or "")) and _block_size(lun["volblocksize"]) != _block_size(wanted)

    # ---- the move --------------------------------------------------------------------------------

    def receive_volume(self, volume: VolumeRef, source: VolumeDriver, origin: VolumeRef,
                       snapshots: list[VolumeSnapshotRef],
                       progress: Callable[[int], None] | None = None) -> VolumeResult:
        label = self._peer_label(source)
        if label is None:
            raise DriverError(f"backend {self.backend_name} cannot receive volumes of {source.backend_name} by "
                              "replication now (see the log for why)")
        assert isinstance(source, LunMigrationMixin)
        lun = source._lun(origin)
        specs = self._specs(volume)
        if self._block_size_differs(lun, specs.volblocksize):  # services asked can_receive_volume first
            raise InvalidRequest(f"volume {origin.id}: its LUN's block size is fixed; the new type asks for "
                                 f"{specs.volblocksize}, so the appliances cannot move it (a generic copy can: "
                                 "migrate with force_host_copy)")
        source_asn, here_asn = repl.asn(source.api), repl.asn(self.api)
        staging = naming.migration_project(volume.id)
        with sweeping.moving(sweeping.lun_key(source_asn, source.config.pool, source.config.project,
                                              source._lun_name(origin)),
                             sweeping.staging_key(here_asn, self.config.pool, staging)):
            self._receive(volume, source, origin, snapshots, label, source_asn, staging, progress)
        return VolumeResult(naming.volume(self.config.volume_prefix, volume.id), volume.size_gb)

    def _receive(self, volume: VolumeRef, source: LunMigrationMixin, origin: VolumeRef,
                 snapshots: list[VolumeSnapshotRef], label: str, source_asn: str, staging: str,
                 progress: Callable[[int], None] | None) -> None:
        specs = self._specs(volume)
        self.forget_attempts(source, origin, source_asn)
        self._drop_staging(volume.id)
        name = naming.volume(self.config.volume_prefix, volume.id)
        move = flow.Move(
            source=flow.End(source.api, source.config.pool, source.config.project),
            dest=flow.End(self.api, self.config.pool, self.config.project),
            lun=source._lun_name(origin), new_name=name, target_label=label, source_asn=source_asn,
            staging=staging,
            snapshots=tuple(s.provider_location or naming.snapshot(s.id) for s in snapshots),
            settings={"targetgroup": self.config.target_group, "sparse": specs.sparse,
                      "compression": specs.compression, "logbias": specs.logbias, lun_specs.MANAGED: True},
            timeout=self.config.replication_timeout, progress=progress or (lambda percent: None))
        log.info("backend %s: volume %s comes from %s by replication (%s -> %s)", self.backend_name, origin.id,
                 source.backend_name, move.lun, name)
        flow.run(move)

    def forget_attempts(self, source: LunMigrationMixin, origin: VolumeRef, source_asn: str) -> None:
        """What an earlier receive of `origin` left (a crash stopped it): the
        source's actions of the LUN (an update of theirs still running is
        cancelled, not waited out), their packages here, the LUN's flag."""
        lun = source._lun_name(origin)
        for action in source._own_actions(lun):
            flow.settled(source.api, action["id"], self.config.replication_timeout)
            flow.drop_package(self.api, source_asn, action["id"])
        source.release_sent(origin)

    def _own_actions(self, lun: str) -> list[dict]:
        """The source's replication actions of the LUN (by `share`, or by
        `replication_of` as the appliance also names what an action sends)."""
        return [a for a in repl.actions(self.api) if a.get("id") and a.get("pool") == self.config.pool
                and ((a.get("project"), a.get("share")) == (self.config.project, lun)
                     or a.get("replication_of") == f"{self.config.project}/{lun}")]

    def release_sent(self, volume: VolumeRef) -> None:
        """The source side: replication actions of the LUN deleted (a running
        update cancelled, their snapshots with them, their packages on the
        destination when it is a backend of this Shoal), its `inherited` flag
        as Shoal makes LUNs (true)."""
        lun = self._lun_name(volume)
        try:
            found = self._own_actions(lun)
            here = repl.asn(self.api) if found else ""
        except ApplianceError as exc:
            raise DriverError(f"backend {self.backend_name}: cannot list replication actions: {exc}") from exc
        for action in found:
            sweeping.drop_sent(self, action, here)
        if found:
            try:
                repl.set_inherited(self.api, self.config.pool, self.config.project, lun, True)
            except ApplianceNotFound:
                pass

    def sweep_migrations(self) -> list[str]:
        """What interrupted moves nobody will finish left on this appliance (lun_migration_sweep)."""
        return sweeping.sweep(self)

    def _drop_staging(self, volume_id: str) -> None:
        """The project a receive for `volume_id` severed its package into, if one is left."""
        flow.drop_project(self.api, self.config.pool, naming.migration_project(volume_id))

    # ---- after the copy: the data takes the volume's name ---------------------------------------

    def update_migrated_volume(self, volume: VolumeRef, new_volume: VolumeRef) -> str | None:
        current, wanted = self._lun_name(new_volume), naming.volume(self.config.volume_prefix, volume.id)
        names = {found.get("name") for found in self.api.luns(*self._where)}
        if current not in names:
            if wanted in names:
                return None  # renamed by an earlier call
            raise DriverError(f"volume {volume.id}: the migrated LUN {current} is gone from project "
                              f"{self.config.project}")
        if wanted in names:
            return new_volume.id  # the name is the source's, in this very project
        self.api.modify_lun(*self._where, current, {"name": wanted})
        return None

    def migrated_location(self, volume: VolumeRef, new_volume: VolumeRef) -> str | None:
        return naming.volume(self.config.volume_prefix, volume.id)


def _block_size(value) -> int:
    """8192, "8k", "8K" -> 8192."""
    text = str(value).strip().lower()
    units = {"k": 1024, "m": 1024**2}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)
