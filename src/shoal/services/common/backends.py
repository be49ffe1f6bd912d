"""The configured backends, built through the driver registry: each backend's
share driver and volume driver (either may be absent), held by services only
as the `ShareDriver` / `VolumeDriver` contracts."""

from __future__ import annotations

from shoal.config import Settings
from shoal.db.session import Database
from shoal.drivers.base import ShareDriver
from shoal.drivers.registry import BackendContext, build
from shoal.drivers.volume import VolumeDriver

from .export_ids import DbExportIds


def build_drivers(settings: Settings, db: Database | None = None) -> tuple[dict[str, ShareDriver], dict[str, VolumeDriver]]:
    """{backend name: share driver} and {backend name: volume driver}. With the
    database, export helpers take their ids from it (`shoal doctor` builds the
    drivers only to look at them, without one)."""
    shares: dict[str, ShareDriver] = {}
    volumes: dict[str, VolumeDriver] = {}
    context = BackendContext(state_dir=settings.state_dir, export_ids=DbExportIds(db) if db is not None else None)
    for name, config in settings.backends.items():
        backend = build(name, config, context)
        if backend.shares is not None:
            shares[name] = backend.shares
        if backend.volumes is not None:
            volumes[name] = backend.volumes
    return shares, volumes
