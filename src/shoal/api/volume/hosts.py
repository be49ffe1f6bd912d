"""/os-hosts (the volume services' hosts and what each holds) and /capabilities/{host}
(a backend's capabilities, as Cinder's volume service reports them). Admin only."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.errors import ApiError

from .call import VolumeCall, volume_call
from .services import services_view  # os-hosts lists the hosts of the services os-services lists

router = APIRouter()

# What Cinder's drivers describe of the capabilities a type's extra specs may ask for.
PROPERTIES = {
    "thin_provisioning": ("Thin Provisioning", "Sets thin provisioning.", "boolean"),
    "compression": ("Compression", "Enables compression.", "boolean"),
    "qos": ("QoS", "Enables QoS.", "boolean"),
    "replication_enabled": ("Replication", "Enables replication.", "boolean"),
    "multiattach": ("Multi-attach", "Volumes may be attached to more than one host.", "boolean"),
}


def _admin(call: VolumeCall) -> None:
    if not call.ctx.is_admin:
        raise ApiError(403, "Policy doesn't allow this operation to be performed.")


@router.get("/os-hosts")
async def list_hosts(call: VolumeCall = Depends(volume_call)):
    _admin(call)
    return {"hosts": [{"host_name": s["host"], "service": s["binary"], "zone": s["zone"],
                       "service-status": "available" if s["state"] == "up" else "unavailable",
                       "service-state": s["status"], "last-update": s["updated_at"]}
                      for s in await services_view(call)]}


@router.get("/os-hosts/{host}")
async def show_host(host: str, call: VolumeCall = Depends(volume_call)):
    usage = await sync(call.services.volume_hosts.usage, call.ctx, host)

    def resource(project: str, used: dict[str, int]) -> dict:
        return {"resource": {"host": host, "project": project, **{k: str(v) for k, v in used.items()}}}

    keys = ("volume_count", "total_volume_gb", "snapshot_count", "total_snapshot_gb")
    total = {k: sum(u[k] for u in usage.values()) for k in keys}
    return {"host": [resource("(total)", total), *(resource(p, u) for p, u in sorted(usage.items()))]}


@router.get("/capabilities/{host}")
async def show_capabilities(host: str, call: VolumeCall = Depends(volume_call)):
    backend = await sync(call.services.volume_hosts.backend_of, call.ctx, host)
    pool = host.split("#", 1)[1] if "#" in host else None
    for name, driver, pools in await sync(call.services.pools, True):
        if name != backend:
            continue
        caps = {}
        for p in pools:
            if pool is None or p.name == pool:
                caps.update(p.capabilities)
        return {
            "namespace": f"OS::Storage::Capabilities::{host.split('#', 1)[0]}",
            # as the pools answer them (scheduler-stats), where a driver reports its own
            "volume_backend_name": caps.get("volume_backend_name", backend), "pool_name": pool,
            "vendor_name": caps.get("vendor_name", "Shoal"), "driver_version": caps.get("driver_version", "1.0"),
            "storage_protocol": caps.get("storage_protocol", driver.storage_protocol),
            "display_name": None, "description": None,
            "visibility": None, "replication_targets": [],
            "properties": {key: {"title": title, "description": text, "type": kind}
                           for key, (title, text, kind) in PROPERTIES.items() if key in caps},
        }
    raise ApiError(404, f"Host {host} could not be found.")
