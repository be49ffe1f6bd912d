"""The `zfssa_iscsi` volume driver: volumes are LUNs in one project of an
Oracle ZFS Storage Appliance, reached over its REST API (Cinder's
ZFSSAISCSIDriver 1.0.4, reference §3.4), with what it got wrong fixed:

- a failed clone fails (the original logged and returned success), and its
  temporary snapshot is removed either way;
- a delete that clones still need hides the LUN until the last clone goes
  (`lun_gc`), instead of logging a failure and leaving it behind;
- an initiator-group change that fails fails the attach;
- `location_info` and the capabilities carry no credentials.

Migration onto this backend from another appliance by replication (§3.8):
`lun_migration`.

Images (§3.6): a LUN's data is reached for copies over iSCSI by qemu-img on
Shoal's host (`lun_data`), and a volume from an image is a clone of the
appliance-side image cache (`lun_image_cache`) when `enable_local_cache`.

Attach (§3.4): each connector's initiator is looked up in the appliance's
initiator groups; the LUN is exported to exactly the groups of the volume's
current connectors (none: maskAll); the LUN number the appliance assigned for
the newest connector's group is read back; one portal is advertised
(Launchpad 1762584), with the target's CHAP when configured.
"""

from __future__ import annotations

import logging
import math
import threading
from contextlib import ExitStack, contextmanager

from shoal.drivers.base import (
    DriverError,
    InvalidRequest,
    ManageableItem,
    PoolStats,
    UnsafeToManage,
)
from shoal.drivers.volume import (
    ConnectionInfo,
    Connector,
    ExportSpec,
    ImageFill,
    ImageRef,
    ManageableSnapshot,
    VolumeDriver,
    VolumeRef,
    VolumeResult,
    VolumeSnapshotRef,
    VolumeSnapshotResult,
)
from shoal.exports.iscsi.base import Chap
from shoal.hosts import Host, LocalHost
from shoal.targets import InvalidConnector
from shoal.targets.iscsi import IscsiTargetInfo, check_connector

from . import (
    lun_gc,
    lun_migration_sweep,
    lun_specs,
    manage_rules,
    naming,
    setup_checks,
    stats,
)
from .appliance import MASK_ALL, Appliance
from .config import ZfssaIscsiBackendConfig
from .iscsi_setup import ensure_target, setup
from .lun_data import LunData
from .lun_image_cache import LunImageCache
from .lun_migration import LunMigrationMixin
from .rest import ApplianceError, ApplianceNotFound, RestClient

log = logging.getLogger(__name__)

DRIVER_VERSION = "1.0.4"  # the Cinder driver's behaviour this follows
GiB = 1024**3
DEFAULT_GROUP = "default"


def gib_up(nbytes) -> int:
    return max(1, math.ceil(int(nbytes or 0) / GiB))


class ZfssaIscsiVolumeDriver(LunMigrationMixin, VolumeDriver):
    storage_protocol = "iSCSI"

    def __init__(self, name: str, config: ZfssaIscsiBackendConfig, rest: RestClient | None = None,
                 host: Host | None = None):
        self.backend_name = name
        self.availability_zone = config.availability_zone
        self.config = config
        self.api = Appliance(rest or RestClient(config.appliance))
        self._data = LunData(self.api, config, host or LocalHost())  # where image copies run
        self._image_cache = LunImageCache(self.api, config, lambda project, lun: self._data.opened(
            project, lun, self._target()), self._drop_lun)
        self._target_iqn: str | None = None
        self._profile: str | None = None
        self._lock = threading.Lock()
        # Deletes run in parallel (the task engine); a LUN refused for its clones
        # and hidden must not miss those clones' collection in between, or it
        # stays hidden with nothing needing it. So hide-and-collect is one step.
        self._gc_lock = threading.Lock()
        lun_migration_sweep.known(self)  # a move between two backends of this Shoal finds either end

    # ---- names ---------------------------------------------------------------------------------

    @property
    def _where(self) -> tuple[str, str]:
        return self.config.pool, self.config.project

    def _lun_name(self, volume: VolumeRef) -> str:
        return volume.provider_location or naming.volume(self.config.volume_prefix, volume.id)

    def _lun(self, volume: VolumeRef) -> dict:
        try:
            return self.api.lun(*self._where, self._lun_name(volume))
        except ApplianceNotFound:
            raise ApplianceNotFound(f"volume {volume.id}: LUN {self._lun_name(volume)} is gone from project "
                                    f"{self.config.project} on the appliance", 404) from None

    def _specs(self, volume: VolumeRef) -> lun_specs.LunSpecs:
        return lun_specs.resolve(volume.extra_specs, self.config.lun)

    # ---- setup and stats -----------------------------------------------------------------------

    def start(self) -> None:
        """Cinder's do_setup: project, schema, initiators, target and target
        group are made when missing. A wrong pool stops here with its fix."""
        problem = setup_checks.pool_problem(self.api, self.backend_name, self.config.pool)
        if problem:
            raise DriverError(problem)
        with self._lock:
            self._target_iqn = setup(self.api, self.config)
        lun_gc.sweep(self.api, *self._where, self.config.volume_prefix)
        self._image_cache.sweep()

    def problems(self) -> list[str]:
        name, pool, project = self.backend_name, self.config.pool, self.config.project
        checks = [lambda: setup_checks.project_problem(self.api, name, pool, project),
                  self._target_problem, self._initiators_problem]
        if self.config.enable_local_cache:
            checks.append(lambda: setup_checks.project_problem(self.api, name, pool, self.config.cache_project,
                                                               "cache_project"))
        if self.config.replication_ip:
            checks.append(self._replication_problem)
        return setup_checks.collect(self.api, name, pool, checks)

    def _target_problem(self) -> str | None:
        group = self.config.target_group
        target = self.api.target_by_alias(group)
        if target is None or self.api.target_group(group) is None:
            what = "target" if target is None else "target group"
            return (f"the iSCSI {what} {group!r} does not exist on the appliance; fix: start Shoal (`shoal serve` "
                    f"creates it), create it (Configuration > SAN > iSCSI), or correct `target_group` in "
                    f"[backends.{self.backend_name}]")
        return None

    def _initiators_problem(self) -> str | None:
        missing = [entry.iqn for entries in self.config.initiator_config.values() for entry in entries
                   if not self.api.initiator_exists(entry.iqn)]
        if missing:
            return (f"initiator(s) {', '.join(missing)} of initiator_config are not on the appliance; fix: start "
                    "Shoal (`shoal serve` creates them) or add them (Configuration > SAN > Initiators)")
        return None

    def pools(self) -> list[PoolStats]:
        project = self.api.project(*self._where)
        if self._profile is None:
            self._profile = str(self.api.pool(self.config.pool).get("profile") or "")
        lun = self.config.lun
        capabilities = {
            "volume_backend_name": self.backend_name,
            "vendor_name": "Oracle",
            "driver_version": DRIVER_VERSION,
            "storage_protocol": self.storage_protocol,
            "location_info": stats.location_info(self.config.appliance.address, self.config.pool,
                                                 self.config.project, self.config.target_group),
            "reserved_percentage": self.config.reserved_percentage,
            "max_over_subscription_ratio": self.config.max_over_subscription_ratio,
            "QoS_support": False,
            "multiattach": True,
            "thin_provisioning_support": True,
            "thick_provisioning_support": True,
            "zfssa_poolprofile": self._profile,
            "zfssa_volblocksize": lun.volblocksize,
            "zfssa_sparse": lun.sparse,
            "zfssa_compression": lun.compression,
            "zfssa_logbias": lun.logbias,
        }
        return [stats.space_pool(self.config.pool, project, capabilities)]

    def validate_extra_specs(self, extra_specs: dict[str, str]) -> None:
        lun_specs.check(extra_specs)

    # ---- data ------------------------------------------------------------------------------------

    def create_volume(self, volume: VolumeRef) -> VolumeResult:
        name = naming.volume(self.config.volume_prefix, volume.id)
        body = lun_specs.create_body(name, volume.size_gb, self.config.target_group, self._specs(volume))
        self.api.create_lun(*self._where, body)
        return VolumeResult(name, volume.size_gb)

    def _clone(self, volume: VolumeRef, source: VolumeRef, snapshot: str, undo: ExitStack) -> VolumeResult:
        """A LUN for `volume` cloned from `snapshot` of `source`'s LUN, grown to
        volume.size_gb; removed again by `undo` if what follows fails."""
        parent = self._lun(source)
        if volume.size_gb * GiB < int(parent.get("volsize") or 0):
            raise InvalidRequest(f"volume {volume.id} ({volume.size_gb} GiB) cannot be smaller than its source "
                                 f"({gib_up(parent.get('volsize'))} GiB)")
        name = naming.volume(self.config.volume_prefix, volume.id)
        body = lun_specs.clone_body(self.config.project, name, self._specs(volume))
        self.api.clone_lun_snapshot(*self._where, self._lun_name(source), snapshot, body)
        undo.callback(self._drop_lun, name)
        if volume.size_gb * GiB > int(parent.get("volsize") or 0):
            self.api.modify_lun(*self._where, name, {"volsize": volume.size_gb * GiB})
        return VolumeResult(name, volume.size_gb)

    def create_volume_from_snapshot(self, volume: VolumeRef, snapshot: VolumeSnapshotRef) -> VolumeResult:
        with ExitStack() as undo:
            result = self._clone(volume, snapshot.volume, naming.snapshot(snapshot.id), undo)
            undo.pop_all()
        return result

    def create_cloned_volume(self, volume: VolumeRef, source: VolumeRef) -> VolumeResult:
        """Through `tmp-snapshot-<new id>` of the source, kept while the clone
        lives (delete_volume removes it with the clone); removed at once when
        the clone fails, and the failure is raised (the original hid it)."""
        snapshot = naming.clone_snapshot(volume.id)
        self.api.create_lun_snapshot(*self._where, self._lun_name(source), snapshot)
        with ExitStack() as undo:
            undo.callback(self._drop_snapshot, self._lun_name(source), snapshot)
            result = self._clone(volume, source, snapshot, undo)
            undo.pop_all()
        return result

    def _drop_lun(self, name: str) -> None:
        """Undo: a failure is logged, so the error that matters is the one raised."""
        try:
            self.api.modify_lun(*self._where, name, {"nodestroy": False})
            self.api.delete_lun(*self._where, name)
        except ApplianceNotFound:
            pass
        except ApplianceError as exc:
            log.error("backend %s: could not remove LUN %s: %s", self.backend_name, name, exc)

    def _drop_snapshot(self, lun: str, snapshot: str) -> None:
        try:
            self.api.delete_lun_snapshot(*self._where, lun, snapshot)
        except ApplianceNotFound:
            pass
        except ApplianceError as exc:
            log.error("backend %s: could not remove snapshot %s@%s: %s", self.backend_name, lun, snapshot, exc)

    def delete_volume(self, volume: VolumeRef) -> None:
        """Gone already: done. A clone's `nodestroy` is cleared first; a LUN
        that clones still need is hidden (lun_gc); a clone's own temporary
        snapshot, and hidden origins nothing needs any more, go with it."""
        name = self._lun_name(volume)
        if volume.provider_location is None:  # made by a receive cut short? (lun_migration)
            self._drop_staging(volume.id)
        with self._gc_lock:
            try:
                lun = self.api.lun(*self._where, name)
            except ApplianceNotFound:
                return
            if lun.get("nodestroy"):
                self.api.modify_lun(*self._where, name, {"nodestroy": False})
            if not lun_gc.delete_or_hide(self.api, *self._where, name):
                return
            reached = lun_gc.collect_origin(self.api, self.config.pool, self.config.volume_prefix,
                                            lun.get("origin") or {}, volume.id)
        # An image cache entry whose last clone (this LUN, or a hidden one it kept) went goes too.
        self._image_cache.made_from_gone(reached)

    def extend_volume(self, volume: VolumeRef, new_size_gb: int) -> None:
        if new_size_gb < volume.size_gb:
            raise InvalidRequest(f"cannot shrink volume {volume.id} from {volume.size_gb} to {new_size_gb} GiB")
        self._lun(volume)
        self.api.modify_lun(*self._where, self._lun_name(volume), {"volsize": new_size_gb * GiB})

    def create_snapshot(self, snapshot: VolumeSnapshotRef) -> VolumeSnapshotResult:
        name = naming.snapshot(snapshot.id)
        self.api.create_lun_snapshot(*self._where, self._lun_name(snapshot.volume), name)
        return VolumeSnapshotResult(name, snapshot.volume.size_gb)

    def delete_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        """Gone already: done. A snapshot volumes were made from is hidden
        (renamed `deleted-…`) until the last of them goes: on the appliance a
        snapshot delete would take those volumes with it."""
        lun, name = self._lun_name(snapshot.volume), naming.snapshot(snapshot.id)
        try:
            with self._gc_lock:
                found = self.api.lun_snapshot(*self._where, lun, name)
                if int(found.get("numclones") or 0):
                    lun_gc.hide_snapshot(self.api, *self._where, lun, name)
                else:
                    self.api.delete_lun_snapshot(*self._where, lun, name)
        except ApplianceNotFound:
            return

    def revert_to_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        """The appliance's rollback; a volume extended since keeps its size."""
        volume = snapshot.volume
        lun = self._lun_name(volume)
        self.api.rollback_lun_snapshot(*self._where, lun, naming.snapshot(snapshot.id))
        if int(self._lun(volume).get("volsize") or 0) < volume.size_gb * GiB:
            self.api.modify_lun(*self._where, lun, {"volsize": volume.size_gb * GiB})

    def check_revert(self, snapshot: VolumeSnapshotRef) -> None:
        """Refused while a later snapshot of the LUN has clones (a volume cloned
        from this one since, or made from a later snapshot): the appliance's
        rollback destroys later snapshots, and refuses to when clones need one."""
        try:
            later = lun_gc.cloned_after(self.api.lun_snapshots(*self._where, self._lun_name(snapshot.volume)),
                                        naming.snapshot(snapshot.id))
        except ApplianceError:
            return  # the revert itself will say what is wrong
        if later:
            raise InvalidRequest(f"volume {snapshot.volume.id} cannot be reverted to snapshot {snapshot.id}: "
                                 f"later snapshots of it are needed by {', '.join(later)}, and the appliance's "
                                 f"rollback would destroy them; delete those volumes first")

    def retype(self, volume: VolumeRef, new_extra_specs: dict[str, str]) -> bool:
        """Sparse, compression and logbias change in place; a new block size
        (fixed at create) needs a migration."""
        old, new = self._specs(volume), lun_specs.resolve(new_extra_specs, self.config.lun)
        if old.volblocksize != new.volblocksize:
            return False
        changes = {k: getattr(new, k) for k in ("sparse", "compression", "logbias") if getattr(old, k) != getattr(new, k)}
        if changes:
            self.api.modify_lun(*self._where, self._lun_name(volume), changes)
        return True

    # ---- images ------------------------------------------------------------------------------------

    @contextmanager
    def open_data(self, volume: VolumeRef, writable: bool):
        """The LUN presented to Shoal's copy initiator for the block, read or
        written by qemu-img over iSCSI (snapshots are the appliance's: a whole
        write changes none of them)."""
        self._lun(volume)
        with self._data.opened(self.config.project, self._lun_name(volume), self._target()) as data:
            yield data

    def clone_image(self, volume: VolumeRef, image: ImageRef, fill: ImageFill) -> VolumeResult | None:
        return self._image_cache.clone(volume, image, fill, self._specs(volume))

    # ---- export and attach --------------------------------------------------------------------------

    def validate_connector(self, connector: Connector) -> None:
        try:
            check_connector(connector)
        except InvalidConnector as exc:
            raise InvalidRequest(str(exc)) from None

    def _target(self) -> str:
        with self._lock:
            if self._target_iqn is None:
                found = self.api.target_by_alias(self.config.target_group)
                self._target_iqn = found["iqn"] if found else ensure_target(self.api, self.config)
            return self._target_iqn

    def _groups_of(self, connector: Connector, groups: list[dict]) -> list[str]:
        found = sorted(g["name"] for g in groups if connector.initiator in (g.get("initiators") or []))
        if found:
            return found
        if self.config.initiator_group == DEFAULT_GROUP:
            return [DEFAULT_GROUP]
        raise InvalidRequest(f"initiator {connector.initiator} is in no initiator group on the appliance; fix: "
                             f"add it to initiator_config in [backends.{self.backend_name}] (made at start) or to "
                             "a group on the appliance (Configuration > SAN > Initiators), or set "
                             "initiator_group = \"default\"")

    def export(self, volume: VolumeRef, spec: ExportSpec) -> ConnectionInfo:
        """The LUN exported to exactly the groups of spec.connectors; the answer
        is for the newest connector (the last), with the LUN number its group sees."""
        for connector in spec.connectors:
            self.validate_connector(connector)
        name = self._lun_name(volume)
        lun = self._lun(volume)
        all_groups = self.api.initiator_groups() if spec.connectors else []
        per_connector = [self._groups_of(c, all_groups) for c in spec.connectors]
        wanted = sorted({g for groups in per_connector for g in groups})
        if sorted(lun_specs.groups_of(lun)) != wanted:
            self.api.modify_lun(*self._where, name, {"initiatorgroup": lun_specs.initiatorgroup_value(wanted)})
            lun = self._lun(volume)
        number = 0
        if per_connector:
            numbers = lun_specs.lun_numbers(lun)
            group = per_connector[-1][0]
            if group not in numbers:
                raise DriverError(f"volume {volume.id}: the appliance assigned LUN {name} no number for initiator "
                                  f"group {group} (it answered {lun.get('initiatorgroup')!r})")
            number = numbers[group]
        chap = None
        if self.config.target_user and self.config.target_password:
            chap = Chap(self.config.target_user, self.config.target_password)
        info = IscsiTargetInfo(self._target(), number, (self.config.target_portal,), chap, volume.id, discard=False)
        return info.connection()

    def unexport(self, volume: VolumeRef) -> None:
        """Masked from every initiator (Cinder's terminate_connection with no connector)."""
        name = self._lun_name(volume)
        try:
            lun = self.api.lun(*self._where, name)
        except ApplianceNotFound:
            return
        if lun_specs.groups_of(lun):
            self.api.modify_lun(*self._where, name, {"initiatorgroup": MASK_ALL})

    # ---- manage (reference §3.5) -------------------------------------------------------------------

    def _reference_lun(self, reference: dict) -> tuple[str, dict]:
        name = str((reference or {}).get("source-name") or "").strip()
        if not name:
            raise UnsafeToManage(f"the reference needs a 'source-name': the name of a LUN in project "
                                 f"{self.config.project}")
        if lun_gc.is_hidden(name):
            raise UnsafeToManage(f"LUN {name} is one Shoal deleted and keeps only for its clones")
        try:
            return name, self.api.lun(*self._where, name)
        except ApplianceNotFound:
            raise UnsafeToManage(f"no LUN named {name!r} in project {self.config.project} of pool "
                                 f"{self.config.pool}") from None

    def manage_existing(self, volume: VolumeRef, reference: dict) -> VolumeResult:
        name, lun = self._reference_lun(reference)
        refusal = manage_rules.refusal(f"LUN {name}", lun_specs.managed_flag(lun), self.config.manage_policy)
        if refusal:
            raise UnsafeToManage(refusal)
        new_name = naming.volume(self.config.volume_prefix, volume.id)
        body: dict = {"name": new_name, lun_specs.MANAGED: True}
        if lun.get("targetgroup") and lun["targetgroup"] != self.config.target_group:
            body["targetgroup"] = self.config.target_group  # reachable through Shoal's target
        self.api.modify_lun(*self._where, name, body)
        return VolumeResult(new_name, gib_up(lun.get("volsize")))

    def manageable_volumes(self, managed: list[VolumeRef]) -> list[ManageableItem]:
        owners = {self._lun_name(v): v.id for v in managed}
        ids = {v.id for v in managed}
        items = []
        for lun in sorted(self.api.luns(*self._where), key=lambda found: found.get("name") or ""):
            name = lun.get("name") or ""
            if not name or lun_gc.is_hidden(name):
                continue
            owner = owners.get(name)
            if owner is None and naming.volume_id_of(self.config.volume_prefix, name) in ids:
                owner = naming.volume_id_of(self.config.volume_prefix, name)
            flag = lun_specs.managed_flag(lun)
            reason = manage_rules.listing_reason(flag, self.config.manage_policy, owner is not None)
            items.append(ManageableItem(name, gib_up(lun.get("volsize")), reason is None, reason, owner))
        return items

    def unmanage(self, volume: VolumeRef) -> None:
        """Renamed `unmanaged-<name>` and marked cinder_managed = false; the data stays."""
        name = self._lun_name(volume)
        try:
            self.api.modify_lun(*self._where, name, {"name": naming.unmanaged(name), lun_specs.MANAGED: False})
        except ApplianceNotFound:
            log.warning("backend %s: unmanaged volume %s had no LUN %s", self.backend_name, volume.id, name)

    def manage_existing_snapshot(self, snapshot: VolumeSnapshotRef, reference: dict) -> VolumeSnapshotResult:
        raise InvalidRequest(f"backend {self.backend_name}: managing existing ZFSSA snapshots is not supported")

    def manageable_snapshots(self, managed: list[VolumeSnapshotRef]) -> list[ManageableSnapshot]:
        return []

    def unmanage_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        """Forgotten by Shoal; the snapshot stays on its LUN."""

    def recover(self, volumes: list[VolumeRef]) -> dict[str, str]:
        """What interrupted migrations nobody will finish left on the appliance
        goes (lun_migration_sweep); volumes whose LUN is gone from the appliance
        are reported."""
        try:
            self.sweep_migrations()
        except DriverError as exc:
            log.error("backend %s: cannot look for what interrupted migrations left: %s", self.backend_name, exc)
        try:
            names = {lun.get("name") for lun in self.api.luns(*self._where)}
        except ApplianceError as exc:
            log.error("backend %s: cannot list LUNs to recover: %s", self.backend_name, exc)
            return {}
        return {v.id: f"LUN {self._lun_name(v)} is gone from project {self.config.project} on the appliance"
                for v in volumes if self._lun_name(v) not in names}
