"""/os-services: Cinder's services as Shoal has them (the scheduler and a volume service per
backend), and what an admin sets on them: enable, disable (with a reason), freeze, thaw."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read
from shoal.api.share.views import ts

from . import admin_bodies as bodies, queries
from .call import VolumeCall, volume_call

router = APIRouter()


def _admin(call: VolumeCall) -> None:
    if not call.ctx.is_admin:
        raise ApiError(403, "Policy doesn't allow this operation to be performed.")


async def services_view(call: VolumeCall) -> list[dict]:
    """Cinder's services: the scheduler (this process) and a volume service per backend."""
    backends = {name: (driver, pools) for name, driver, pools in await sync(call.services.pools, True)}
    states = await sync(call.services.volume_services.states)
    # Cinder's updated_at is a service's last heartbeat; Shoal's services are this process and
    # backends it has just asked (the state below is as of now), so their heartbeat is now.
    now = ts(datetime.now(timezone.utc).replace(tzinfo=None))
    out = []
    for binary, host in call.services.volume_services.services():
        state = states.get((binary, host))
        driver, pools = backends.get(host.partition("@")[2], (None, [True]))
        out.append({"binary": binary, "host": host, "zone": driver.availability_zone if driver else "nova",
                    "status": "disabled" if state and state.disabled else "enabled",
                    "state": "up" if pools else "down", "updated_at": now,
                    "disabled_reason": state.disabled_reason if state else None})
    return out


@router.get("/os-services", openapi_extra=queries.SERVICE_LIST)
async def list_services(call: VolumeCall = Depends(volume_call)):
    _admin(call)
    q = read(call, queries.ServiceList)
    services = await services_view(call)
    if binary := q.binary:
        services = [s for s in services if s["binary"] == binary]
    if host := q.host:  # Cinder matches at the level given: `shoal` or `shoal@backend`
        services = [s for s in services if s["host"] == host or s["host"].startswith(host + "@")]
    return {"services": services}


@router.put("/os-services/{action}", openapi_extra=bodies.UPDATE_SERVICE)
async def update_service(action: str, call: VolumeCall = Depends(volume_call)):
    _admin(call)
    if action not in bodies.SERVICE_ACTIONS:
        raise ApiError(404, f"Unknown action {action}")
    b = parse(call, bodies.SERVICE_ACTIONS[action], await call.body())
    states = call.services.volume_services
    if action in ("freeze", "thaw"):
        await sync(states.set_frozen, call.ctx, b.host, action == "freeze")
        return {}
    binary, host = b.binary, b.host
    reason = getattr(b, "disabled_reason", None)
    row = await sync(states.set_enabled, call.ctx, binary, host, action == "enable", reason,
                     action == "disable-log-reason")
    answer = {"host": host, "binary": binary, "service": binary, "disabled": row.disabled,
              "status": "disabled" if row.disabled else "enabled"}
    if action != "disable":  # Cinder's answer to a plain disable has no reason
        answer["disabled_reason"] = row.disabled_reason
    return answer
