"""/extensions: the Cinder API extensions Shoal serves, named as Cinder names them (clients
such as Tempest and Horizon look for them by name or alias)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from .call import VolumeCall, volume_call

router = APIRouter()

# (name, alias, description): only those whose calls or attributes Shoal answers.
EXTENSIONS = [
    ("AdminActions", "os-admin-actions", "Enable admin actions."),
    ("AvailabilityZones", "os-availability-zone", "Describe Availability Zones."),
    ("Capabilities", "capabilities", "Capabilities support."),
    ("ExtendedServices", "os-extended-services", "Extended services support."),
    ("ExtendedSnapshotAttributes", "os-extended-snapshot-attributes", "Extended SnapshotAttributes support."),
    ("Hosts", "os-hosts", "Admin-only host administration."),
    ("Qos_specs_manage", "qos-specs", "QoS specs support."),
    ("QuotaClasses", "os-quota-class-sets", "Quota classes management support."),
    ("Quotas", "os-quota-sets", "Quota management support."),
    ("Scheduler_stats", "scheduler-stats", "Scheduler stats support."),
    ("Services", "os-services", "Services support."),
    ("SnapshotActions", "os-snapshot-actions", "Enable snapshot manager actions."),
    ("SnapshotManage", "os-snapshot-manage", "Allows existing backend storage to be 'managed' by Cinder."),
    ("SnapshotUnmanage", "os-snapshot-unmanage", "Enable volume unmanage operation."),
    ("TypesExtraSpecs", "os-types-extra-specs", "Type extra specs support."),
    ("TypesManage", "os-types-manage", "Types manage support."),
    ("UsedLimits", "os-used-limits", "Provide data on limited resources that are being used."),
    ("VolumeActions", "os-volume-actions", "Enable volume actions."),
    ("VolumeHostAttribute", "os-vol-host-attr", "Expose host as an attribute of a volume."),
    ("VolumeManage", "os-volume-manage", "Allows existing backend storage to be 'managed' by Cinder."),
    ("VolumeMigStatusAttribute", "os-vol-mig-status-attr", "Expose migration_status as an attribute of a volume."),
    ("VolumeTenantAttribute", "os-vol-tenant-attr", "Expose the internal project_id as an attribute of a volume."),
    ("VolumeTransfer", "os-volume-transfer", "Volume transfer management support."),
    ("VolumeTypeAccess", "os-volume-type-access", "Volume type access support."),
    ("VolumeTypeEncryption", "encryption", "Encryption support for volume types."),
    ("VolumeUnmanage", "os-volume-unmanage", "Enable volume unmanage operation."),
    # Shoal's own (not Cinder's): api/volume/progress.py
    ("ShoalVolumeProgress", "os-shoal-progress",
     "Shoal extension: GET /volumes/{volume_id}/progress shows how far a volume's image download, image upload or "
     "migration has come (operation and percent)."),
]
UPDATED = "2013-04-18T00:00:00+00:00"  # Cinder gives each its own date; none is read by clients


@router.get("/extensions")
async def list_extensions(call: VolumeCall = Depends(volume_call)):
    return {"extensions": [{"name": name, "alias": alias, "description": text, "links": [], "updated": UPDATED,
                            "namespace": f"https://docs.openstack.org/volume/ext/{alias}/api/v1"}
                           for name, alias, text in EXTENSIONS]}
