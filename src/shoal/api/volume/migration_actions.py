"""The volume actions of migration: os-migrate_volume (admin; `host`
`shoal@backend#pool`, `force_host_copy`, `lock_volume`; from 3.16 `cluster`
instead of `host`, which Shoal has none of), and os-migrate_volume_completion,
which Shoal runs itself at the end of each migration (services/volume/migrations.py)."""

from __future__ import annotations

from fastapi import Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.errors import ApiError

from .bodies import MigrateVolume
from .call import VolumeCall

ACTIONS = ("os-migrate_volume", "os-migrate_volume_completion")


async def handle(call: VolumeCall, volume_id: str, name: str, arg: MigrateVolume | None) -> Response:
    if name == "os-migrate_volume_completion":
        if not call.ctx.is_admin:
            raise ApiError(403, "Policy doesn't allow volume_extension:volume_admin_actions:migrate_volume_completion "
                                "to be performed.")
        raise ApiError(400, "Invalid input received: Shoal completes each migration itself; "
                            "os-migrate_volume_completion belongs to a compute service's volume swap, "
                            "which Shoal takes no part in")
    given = arg.model_fields_set
    if "cluster" in given and not call.v("3.16"):
        raise ApiError(400, "Invalid input received: Additional properties are not allowed (cluster)")
    if call.v("3.16") and ("host" in given) == ("cluster" in given):
        raise ApiError(400, "Invalid input received: give exactly one of host and cluster")
    if not call.v("3.16") and "host" not in given:
        raise ApiError(400, "Invalid input received: 'host' is a required property")
    await sync(call.services.volume_migrations.migrate, call.ctx, volume_id, arg.host, bool(arg.force_host_copy),
               bool(arg.lock_volume), arg.cluster)
    return Response(status_code=202)
