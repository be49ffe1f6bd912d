"""Domain services: the rules, the state (only here is the DB touched) and the background work.

Laid out as api/ is: share/ (Manila), volume/ (Cinder), identity/ (Keystone), and
common/ for what they share (the Core, tasks, placement, quotas, types, messages, errors)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shoal.config import Settings
from shoal.db.session import Database

from .common.backends import build_drivers
from .common.core import Core
from .common.flows import Flows
from .common.messages import Messages
from .common.quotas import Quotas
from .common.tasks import TaskRunner
from .common.types import share_types, volume_types
from .image_client import build_client, choose_backend
from .share.access import ShareAccess
from .share.access_metadata import AccessMetadata
from .share.export_locations import ShareExportLocations
from .share.group_snapshots import ShareGroupSnapshots
from .share.group_types import ShareGroupTypes
from .share.groups import ShareGroups
from .share.instances import ShareInstances
from .share.locks import ResourceLocks
from .share.migration import ShareMigrations
from .share.networks import ShareNetworks
from .share.recycle_bin import RecycleBin
from .share.recovery import Recovery
from .share.replicas import ShareReplicas
from .share.security_services import SecurityServices
from .share.shares import Shares
from .share.snapshots import ShareSnapshots
from .share.transfers import ShareTransfers
from .volume.attachments import Attachments
from .volume.encryption_types import EncryptionTypes
from .volume.garbage import VolumeGarbage
from .volume.group_snapshots import GroupSnapshots
from .volume.group_types import GroupTypes
from .volume.groups import Groups
from .volume.hosts import VolumeHosts
from .volume.images import VolumeImages
from .volume.migrations import VolumeMigrations
from .volume.qos_specs import QosSpecsCatalog
from .volume.recovery import VolumeRecovery
from .volume.retype import VolumeRetype
from .volume.service_states import VolumeServiceStates
from .volume.snapshots import VolumeSnapshots
from .volume.transfers import Transfers
from .volume.volumes import Volumes

class Services:
    """Everything the API calls, built from the settings."""

    def __init__(self, settings: Settings, drivers=None, database: Database | None = None, volume_drivers=None):
        self.settings = settings
        database = database or Database(settings.database.url)
        if drivers is None and volume_drivers is None:
            drivers, volume_drivers = build_drivers(settings, database)
        self.core = Core(
            settings=settings,
            db=database,
            drivers=drivers or {},
            tasks=TaskRunner(settings.service.workers),
            volume_drivers=volume_drivers or {},
        )
        self.share_types = share_types(self.core)
        self.volume_types = volume_types(self.core)
        self.shares = Shares(self.core, self.share_types)
        self.snapshots = ShareSnapshots(self.core)
        self.access = ShareAccess(self.core)
        self.messages = Messages(self.core)
        self.quotas = Quotas(self.core)
        self.volume_services = VolumeServiceStates(self.core)
        self.volumes = Volumes(self.core, self.volume_types, self.volume_services)
        self.volume_snapshots = VolumeSnapshots(self.core, self.volume_services)
        self.attachments = Attachments(self.core)
        self.qos_specs = QosSpecsCatalog(self.core)
        self.encryption_types = EncryptionTypes(self.core)
        self.transfers = Transfers(self.core)
        self.group_types = GroupTypes(self.core)
        self.volume_hosts = VolumeHosts(self.core)
        self.groups = Groups(self.core, self.volumes, self.volume_types)
        self.group_snapshots = GroupSnapshots(self.core, self.volume_snapshots)
        self.volume_recovery = VolumeRecovery(self.core, self.volumes, self.volume_snapshots)
        self.recovery = Recovery(self.core, self.shares, self.snapshots, self.access)
        self.recovery.also(self.volume_recovery)
        self.volume_garbage = VolumeGarbage(self.core)
        self.recovery.also(self.volume_garbage)  # what deletes left for later
        self.flows = Flows(self.core.db, self.core.tasks)
        self.replicas = ShareReplicas(self.core, self.flows, settings.service.replica_sync_interval)
        self.share_instances = ShareInstances(self.core, self.shares, self.replicas, self.snapshots)
        self.snapshots.replicas = self.replicas
        self.recycle_bin = RecycleBin(self.core, self.shares)
        self.access_metadata = AccessMetadata(self.core)
        self.share_transfers = ShareTransfers(self.core, self.access)
        self.share_group_types = ShareGroupTypes(self.core, self.share_types)
        self.share_groups = self.shares.groups = ShareGroups(self.core, self.share_types, self.share_group_types)
        self.share_group_snapshots = self.share_groups.snapshots = ShareGroupSnapshots(
            self.core, self.share_groups, self.shares)
        self.share_export_locations = ShareExportLocations(self.core)
        self.security_services = SecurityServices(self.core)
        self.share_networks = ShareNetworks(self.core, self.security_services)
        self.resource_locks = ResourceLocks(self.core)
        self.recovery.also(self.replicas)
        self.volume_migrations = VolumeMigrations(self.core, self.flows, deleter=self.volumes._delete)
        self.volumes.migrations = self.volume_migrations
        self.volume_retype = VolumeRetype(self.core, self.volume_types, self.volume_migrations)
        self.recovery.exporters.append(self.replicas.ensure_exports)
        self.share_migrations = ShareMigrations(self.core, self.flows, self.share_types)
        self.shares.migrations = self.share_migrations
        self.recovery.exporters.append(self.share_migrations.ensure_exports)
        self.access.followers.append(self.replicas.follow_rules)
        self.identity = None
        if settings.api.auth == "identity":
            from .identity.identity import Identity

            self.identity = Identity(self.core, settings.identity, settings.state_dir)
        self.keystone_tokens = None
        if settings.api.auth == "keystone":
            from .identity.keystone_tokens import KeystoneTokens  # keystoneauth1 is only needed in this mode

            self.keystone_tokens = KeystoneTokens(settings.keystone)
        # The image service: the built-in one (`images`, served at /image) or an external Glance.
        self.image_backend = choose_backend(settings, self.keystone_tokens)
        self.images = None
        if self.image_backend == "builtin":
            from .image import ImageService

            self.images = ImageService(self.core)
        self.image_client = build_client(settings, self.core, self.image_backend, self.keystone_tokens, self.images)
        self.volume_images = VolumeImages(self.core, self.volumes, self.image_client)
        self.recovery.also(self.volume_images.cache)  # its periodic check: entries of images gone or changed

    def start(self, periodic: bool = True) -> None:
        """Bring backends up, finish what a crash interrupted, re-export everything."""
        self.share_types.bootstrap()
        self.volume_types.bootstrap()
        if self.identity is not None:
            self.identity.ensure_roles()
        for name, driver in [*self.core.drivers.items(), *self.core.volume_drivers.items()]:
            try:
                driver.start()
            except Exception as exc:  # one broken backend must not stop the others
                import logging

                logging.getLogger(__name__).error("backend %s failed to start: %s", name, exc)
        if self.images is not None:
            self.images.start()
        self.recovery.resume_interrupted()
        self.replicas.resume_interrupted()  # resumes every unfinished flow, the volume migrations' too
        self.volume_migrations.resume_interrupted()
        self.share_migrations.resume_interrupted()
        self.share_group_snapshots.resume_interrupted()
        # The shares' exports are made while the volumes' recovery runs: neither waits for the other's hosts.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shoal-share-exports") as beside:
            shares_exported = beside.submit(self.recovery.ensure_exports)
            self.volume_images.recover()  # before the volumes' recovery, which ends whatever else it finds running
            self.volume_recovery.resume_interrupted()
            self.volume_recovery.ensure_exports()
            shares_exported.result()
        self.volume_garbage.start()
        if periodic:
            self.recovery.start_periodic(self.settings.service.periodic_interval,
                                         self.settings.service.daemon_watch_interval)

    def stop(self) -> None:
        self.recovery.stop()
        self.core.tasks.shutdown()

    def pools(self, volumes: bool = False):
        """(backend, driver, [PoolStats]) for every backend (no pools when unreachable)."""
        out = []
        for name, driver in (self.core.volume_drivers if volumes else self.core.drivers).items():
            try:
                out.append((name, driver, driver.pools()))
            except Exception:
                out.append((name, driver, []))
        return out
