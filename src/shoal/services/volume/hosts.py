"""What a volume host holds (Cinder's os-hosts show): per project, the number and
size of its volumes and snapshots. Hosts are `shoal@<backend>`; a volume's own host
adds `#<pool>`."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from shoal.db import models

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Forbidden, NotFound

HOST_PREFIX = "shoal@"


def _admin(ctx: RequestContext) -> None:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow volume_extension:hosts to be performed.")


class VolumeHosts:
    def __init__(self, core: c.Core):
        self.core = core

    def backend_of(self, ctx: RequestContext, host: str) -> str:
        """The backend a host name (`shoal@b`, or `shoal@b#pool`) names; 404 if none."""
        _admin(ctx)
        backend = host.split("#", 1)[0].removeprefix(HOST_PREFIX) if host.startswith(HOST_PREFIX) else None
        if backend not in self.core.volume_drivers:
            raise NotFound(f"Host {host} could not be found.")
        return backend

    def usage(self, ctx: RequestContext, host: str) -> dict[str, dict[str, int]]:
        """project -> {volume_count, total_volume_gb, snapshot_count, total_snapshot_gb} of the
        volumes on this host's backend (and pool, when the host names one)."""
        backend = self.backend_of(ctx, host)
        pool = host.split("#", 1)[1] if "#" in host else None
        where = [models.Volume.backend == backend] + ([models.Volume.pool == pool] if pool else [])
        out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
            ("volume_count", "total_volume_gb", "snapshot_count", "total_snapshot_gb"), 0))
        with self.core.db.session() as session:
            for project, count, size in session.execute(select(
                    models.Volume.project_id, func.count(), func.coalesce(func.sum(models.Volume.size), 0))
                    .where(*where).group_by(models.Volume.project_id)):
                out[project].update(volume_count=count, total_volume_gb=size)
            for project, count, size in session.execute(select(
                    models.VolumeSnapshot.project_id, func.count(),
                    func.coalesce(func.sum(models.VolumeSnapshot.size), 0))
                    .join(models.Volume, models.Volume.id == models.VolumeSnapshot.volume_id)
                    .where(*where).group_by(models.VolumeSnapshot.project_id)):
                out[project].update(snapshot_count=count, total_snapshot_gb=size)
        return dict(out)
