"""Block volumes in a StorPool cluster (Cinder's StorPool driver, reference §4).

Every operation is one or a few calls of the cluster's JSON API, made through
os-brick's client (`api`). A volume is `<prefix>--volume-<id>`, a snapshot
`<prefix>--snap--none--snapshot-<id>` (`naming`); where its data goes is its
template, from its type (`specs`). Nothing is exported on the server side: a
compute host's StorPool client attaches a volume to itself (os-brick's
`StorPoolConnector`, with the connection info `export` returns) and detaches
it again, so any host of the cluster can reach any volume, as with Cinder.
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack, contextmanager

from shoal.drivers.base import DriverError, InvalidRequest, ManageableItem, PoolStats
from shoal.drivers.volume import (
    ConnectionInfo,
    Connector,
    ExportSpec,
    ManageableSnapshot,
    VolumeData,
    VolumeDriver,
    VolumeRef,
    VolumeResult,
    VolumeSnapshotRef,
    VolumeSnapshotResult,
)
from shoal.hosts import LocalHost
from shoal.hosts.brick import brick_execute

from . import naming, specs, stats
from .api import EXISTS, MISSING, Api
from .cluster_conf import ApiSettings, ClusterConf
from .config import StorPoolBackendConfig
from .host_attach import attached_here
from .stats import GiB

log = logging.getLogger(__name__)

DRIVER_VERSION = "2.1.0"  # the Cinder driver's behaviour this follows
TRANSIENT_TAG = {"transient": "1.0"}  # Cinder's mark on a clone's snapshot between templates


class StorPoolVolumeDriver(VolumeDriver):
    storage_protocol = "storpool"

    def __init__(self, name: str, config: StorPoolBackendConfig, conf: ClusterConf | None = None, client=None,
                 sleep=None):
        self.backend_name = name
        self.availability_zone = config.availability_zone
        self.config = config
        self.conf = conf or ClusterConf(config)
        self._client = client  # tests hand in a fake; else os-brick's, built on first use
        self._sleep = sleep
        self._cluster: tuple[ApiSettings, Api] | None = None
        self._guard = threading.Lock()

    # ---- the API and names ---------------------------------------------------------------------

    def _connect(self) -> tuple[ApiSettings, Api]:
        """The settings and client, read on first use: the config files may
        appear after Shoal starts, and a backend that cannot reach its cluster
        must not stop Shoal (problems() says why)."""
        with self._guard:
            if self._cluster is None:
                settings = self.conf.api()
                api = Api(settings, self.config.api_timeout, self.config.api_retries, self._client, self._sleep)
                self._cluster = (settings, api)
            return self._cluster

    @property
    def api(self) -> Api:
        return self._connect()[1]

    def _volume_name(self, volume_id: str) -> str:
        return naming.volume(self._connect()[0].prefix, volume_id)

    def _snapshot_name(self, snapshot_id: str) -> str:
        return naming.snapshot(self._connect()[0].prefix, snapshot_id)

    def _template(self, volume: VolumeRef) -> str | None:
        return specs.template(volume.extra_specs, self.config.template)

    # ---- setup and stats -----------------------------------------------------------------------

    def start(self) -> None:
        """Nothing to prepare: the cluster is StorPool's. The settings are read
        now when they can be, so a broken config file shows up at once."""
        try:
            self._connect()
        except DriverError as exc:
            log.error("backend %s: %s", self.backend_name, exc)

    def problems(self) -> list[str]:
        try:
            settings, api = self._connect()
        except DriverError as exc:
            return [f"{exc}; fix: correct /etc/storpool.conf or set the key in [backends.{self.backend_name}]"]
        if not settings.token:
            return [f"no StorPool API token for backend {self.backend_name}; fix: set SP_AUTH_TOKEN in "
                    f"/etc/storpool.conf or auth_token in [backends.{self.backend_name}]"]
        try:
            templates = api.call("volume_templates_list", retries=0)
        except DriverError as exc:
            return [f"{exc}; fix: start the StorPool API, or correct SP_API_HTTP_HOST/SP_API_HTTP_PORT "
                    f"(api_host/api_port in [backends.{self.backend_name}])"]
        if self.config.template and self.config.template not in {t["name"] for t in templates}:
            return [f"template {self.config.template!r} of backend {self.backend_name} is not in the cluster; "
                    f"fix: create it (storpool template {self.config.template} ...) or correct `template`"]
        return []

    def pools(self) -> list[PoolStats]:
        disks = self.api.call("disks_list")
        templates = self.api.call("volume_templates_list")
        capabilities = {
            "storage_protocol": self.storage_protocol,
            "vendor_name": "StorPool",
            "driver_version": DRIVER_VERSION,
            "reserved_percentage": self.config.reserved_percentage,  # Cinder's is always 0 (our default)
            "max_over_subscription_ratio": self.config.max_over_subscription_ratio,
            "multiattach": True,
            "QoS_support": False,
            "thick_provisioning_support": False,
            "thin_provisioning_support": True,
            "clone_across_pools": True,
            "sparse_copy_volume": True,
        }
        return stats.pools(stats.cluster_space(disks, self.config.replication), templates, capabilities)

    def validate_extra_specs(self, extra_specs: dict[str, str]) -> None:
        specs.check(extra_specs)
        if extra_specs.get("provisioning:type", "").strip().lower() == "thick":
            raise InvalidRequest("StorPool volumes are always thin: provisioning:type thick cannot be honoured")

    # ---- data ------------------------------------------------------------------------------------

    def _create(self, volume: VolumeRef, **source) -> VolumeResult:
        name = self._volume_name(volume.id)
        self.api.call("volume_create", {"name": name, "size": volume.size_gb * GiB, **source})
        return VolumeResult(name, volume.size_gb)

    def create_volume(self, volume: VolumeRef) -> VolumeResult:
        return self._create(volume, **specs.placement(self._template(volume), self.config.replication))

    def create_volume_from_snapshot(self, volume: VolumeRef, snapshot: VolumeSnapshotRef) -> VolumeResult:
        """The new volume inherits the snapshot's template (Cinder's way)."""
        return self._create(volume, parent=self._snapshot_name(snapshot.id))

    def create_cloned_volume(self, volume: VolumeRef, source: VolumeRef) -> VolumeResult:
        """In the source's template: `baseOn`, atomic, no snapshot. Into another:
        through a snapshot of the source moved to the new template and kept
        (tagged transient) as the clone's parent; removed if the clone fails,
        and with the clone (`delete_volume`)."""
        template, source_name = self._template(volume), self._volume_name(source.id)
        if template == self._template(source):
            return self._create(volume, baseOn=source_name)
        parent = naming.clone_snapshot(self._connect()[0].prefix, volume.id)
        # A repeated clone finds the snapshot the first one made (Cinder tolerates it too).
        self.api.call("snapshot_create", source_name, {"name": parent}, ignore=(EXISTS,))
        with ExitStack() as undo:
            undo.callback(self._drop_snapshot, parent)
            self.api.call("snapshot_update", parent, specs.placement(template, self.config.replication))
            result = self._create(volume, parent=parent)
            self.api.call("snapshot_update", parent, {"tags": TRANSIENT_TAG})
            undo.pop_all()
        return result

    def _drop_snapshot(self, name: str) -> None:
        """Undo and clean-up: a failure is logged, so the error that matters is the one raised."""
        try:
            self.api.call("snapshot_delete", name, ignore=(MISSING,))
        except DriverError as exc:
            log.error("backend %s: could not delete snapshot %s: %s", self.backend_name, name, exc)

    def delete_volume(self, volume: VolumeRef) -> None:
        """Detached from every client first (a host that died with it attached
        would block the delete). A clone's transient parent goes with it: no
        other volume is made from that snapshot (Cinder leaves it behind)."""
        name = self._volume_name(volume.id)
        self.api.call("volumes_reassign", [{"volume": name, "detach": "all"}], ignore=(MISSING,))
        self.api.call("volume_delete", name, ignore=(MISSING,))
        self._drop_snapshot(naming.clone_snapshot(self._connect()[0].prefix, volume.id))

    def extend_volume(self, volume: VolumeRef, new_size_gb: int) -> None:
        """Attached hosts see the new size from their StorPool client."""
        if new_size_gb < volume.size_gb:
            raise InvalidRequest(f"cannot shrink volume {volume.id} from {volume.size_gb} to {new_size_gb} GiB")
        self.api.call("volume_update", self._volume_name(volume.id), {"size": new_size_gb * GiB})

    def create_snapshot(self, snapshot: VolumeSnapshotRef) -> VolumeSnapshotResult:
        name = self._snapshot_name(snapshot.id)
        self.api.call("snapshot_create", self._volume_name(snapshot.volume.id), {"name": name})
        return VolumeSnapshotResult(name, snapshot.volume.size_gb)

    def delete_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        name = self._snapshot_name(snapshot.id)
        self.api.call("volumes_reassign", [{"snapshot": name, "detach": "all"}], ignore=(MISSING,))
        self.api.call("snapshot_delete", name, ignore=(MISSING,))

    def revert_to_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        """A revert gives the volume the snapshot's size; a volume extended since
        is grown back, as the contract keeps its size."""
        volume, name = snapshot.volume, self._volume_name(snapshot.volume.id)
        self.api.call("volume_revert", name, {"toSnapshot": self._snapshot_name(snapshot.id)})
        size = self.api.call("volume", name)[0]["size"]
        if size < volume.size_gb * GiB:
            self.api.call("volume_update", name, {"size": volume.size_gb * GiB})

    # ---- export and attach --------------------------------------------------------------------------

    def validate_connector(self, connector: Connector) -> None:
        if self.conf.client_id(connector.host) < 0:
            raise InvalidRequest(f"host {connector.host} has a negative StorPool client id")

    def export(self, volume: VolumeRef, spec: ExportSpec) -> ConnectionInfo:
        """Cinder's `storpool` connection info. The host attaches the volume
        itself, and only a host of the cluster can; so every connector may reach
        it, not only those in `spec` (StorPool has no per-volume access list).
        `client_id` is the newest connector's (the last in spec.connectors)."""
        self.api.call("volume", self._volume_name(volume.id))  # a missing volume fails here, not on the host
        host = spec.connectors[-1].host if spec.connectors else None
        client_id = self.conf.client_id(host)
        return ConnectionInfo("storpool", {"client_id": client_id, "volume": volume.id, "access_mode": "rw"})

    def unexport(self, volume: VolumeRef) -> None:
        """Nothing on the server: os-brick detaches on the host (Cinder's
        terminate_connection does nothing either). delete_volume detaches any
        client still holding the volume."""

    # ---- data access for copies (images, generic migration) ----------------------------------------

    @contextmanager
    def open_data(self, volume: VolumeRef, writable: bool):
        """The volume attached on this host as a compute host attaches it
        (os-brick's StorPoolConnector on the connection info `export` gives,
        Cinder's generic path), raw, detached after the block. Attached rw
        either way, as Cinder's `initialize_connection` hands it out.

        The connector reads this host's StorPool client config, not the
        backend table: a client of another cluster (API address or volume
        prefix) is refused before anything is attached."""
        here, cluster = self.conf.host_client(), self._connect()[0]
        if (here.address, here.prefix) != (cluster.address, cluster.prefix):
            raise DriverError(
                f"backend {self.backend_name}: this host's StorPool client (/etc/storpool.conf and the "
                f"environment) uses the API at {here.address} with volume prefix {here.prefix!r}, the backend "
                f"{cluster.address} with {cluster.prefix!r}; a volume's data is reached through the host's client, "
                "so they must agree")
        info = self.export(volume, ExportSpec())  # this host's client id; a missing volume fails here
        host = LocalHost(sudo=self.config.host.sudo)
        with attached_here(info.data, self._volume_name(volume.id), brick_execute(host)) as path:
            yield VolumeData(host, path, "raw")

    # ---- type changes and migration --------------------------------------------------------------------

    def retype(self, volume: VolumeRef, new_extra_specs: dict[str, str]) -> bool:
        """A new template (or none: the backend's, else `replication` copies) is
        applied in place; StorPool moves the data. Another backend: False, so
        the volume is migrated. Upstream passes the update as keywords to the
        os-brick client, whose volume_update takes it as one argument (§4.5)."""
        specs.check(new_extra_specs)
        update = specs.retype_update(volume.extra_specs, new_extra_specs, self.backend_name, self.config.template,
                                     self.config.replication)
        if update is None:
            return False
        if update:
            self.api.call("volume_update", self._volume_name(volume.id), update)
        return True

    def update_migrated_volume(self, volume: VolumeRef, new_volume: VolumeRef) -> str | None:
        """The migrated data under the original volume's name (Cinder's three
        renames when both exist, one when only the new one does). Unlike
        Cinder, a rename that fails undoes the ones before it, so both volumes
        keep their names and the answer is new_volume's id."""
        original, temporary = self._volume_name(volume.id), self._volume_name(new_volume.id)
        names = {v["name"] for v in self.api.call("volumes_list")}
        if temporary not in names:
            log.error("backend %s: volume %s, migrated from %s, is not in the cluster", self.backend_name,
                      new_volume.id, volume.id)
            return new_volume.id
        steps = [(temporary, original)]
        if original in names:
            middle = naming.migration_temporary(temporary)
            steps = [(original, middle), (temporary, original), (middle, temporary)]
        with ExitStack() as undo:
            try:
                for old, new in steps:
                    self._rename(old, new)
                    undo.callback(self._undo_rename, new, old)
            except DriverError as exc:
                log.error("backend %s: could not give volume %s its name back: %s", self.backend_name,
                          volume.id, exc)
                return new_volume.id
            undo.pop_all()
        return None

    def _rename(self, old: str, new: str) -> None:
        self.api.call("volume_update", old, {"rename": new})

    def _undo_rename(self, current: str, back: str) -> None:
        try:
            self._rename(current, back)
        except DriverError as exc:
            log.error("backend %s: could not rename %s back to %s: %s", self.backend_name, current, back, exc)

    # ---- manage: Cinder's StorPool driver has none -------------------------------------------------------

    def manage_existing(self, volume: VolumeRef, reference: dict) -> VolumeResult:
        raise InvalidRequest(f"backend {self.backend_name}: managing existing StorPool volumes is not supported")

    def manageable_volumes(self, managed: list[VolumeRef]) -> list[ManageableItem]:
        return []

    def unmanage(self, volume: VolumeRef) -> None:
        """Forgotten by Shoal; the volume stays in the cluster under its name (Cinder's default)."""

    def manage_existing_snapshot(self, snapshot: VolumeSnapshotRef, reference: dict) -> VolumeSnapshotResult:
        raise InvalidRequest(f"backend {self.backend_name}: managing existing StorPool snapshots is not supported")

    def manageable_snapshots(self, managed: list[VolumeSnapshotRef]) -> list[ManageableSnapshot]:
        return []

    def unmanage_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        """Forgotten by Shoal; the snapshot stays in the cluster."""
