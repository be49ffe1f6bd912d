"""Share migration actions (Manila API 2.22+, migration_start in its 2.29 form):
experimental in Manila, so a call without `X-OpenStack-Manila-API-Experimental:
true` finds no method (404), as there. Admin only; the rules are in
services/share/migration.py."""

from __future__ import annotations

from fastapi import Response
from starlette.concurrency import run_in_threadpool as sync

from shoal.api.openstack.bodies import parse
from shoal.api.openstack.errors import ApiError

from . import admin_bodies
from .call import ShareCall

EXPERIMENTAL_HEADER = "X-OpenStack-Manila-API-Experimental"
ACTIONS = tuple(admin_bodies.MIGRATION_ACTIONS)


def experimental(call: ShareCall) -> bool:
    return call.request.headers.get(EXPERIMENTAL_HEADER, "").strip().lower() == "true"


async def migration_action(call: ShareCall, share_id: str, name: str, arg) -> object:
    """Answer one of ACTIONS."""
    if not experimental(call) or (name == "migration_start" and not call.v("2.29")):
        raise ApiError(404, f"The resource could not be found: {name} is an experimental API of microversion "
                            f"{'2.29' if name == 'migration_start' else '2.22'}+ (send {EXPERIMENTAL_HEADER}: true)")
    svc, ctx = call.services.share_migrations, call.ctx
    if name == "migration_start":
        svc.check_admin(ctx, name)  # policy first: a member learns nothing from a bad argument either
        if arg:  # an empty one is the service's "Request is missing body."
            arg = parse(call, admin_bodies.MigrationStart, arg, name).model_dump(exclude_unset=True)
        code = await sync(svc.start, ctx, share_id, arg)
        return Response(status_code=code)
    if name == "migration_complete":
        await sync(svc.complete, ctx, share_id)
        return Response(status_code=202)
    if name == "migration_cancel":
        await sync(svc.cancel, ctx, share_id)
        return Response(status_code=202)
    progress = await sync(svc.progress, ctx, share_id)
    if not call.v("2.59"):  # the details came at 2.59
        progress.pop("details", None)
    return progress
