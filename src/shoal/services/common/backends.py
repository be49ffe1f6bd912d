"""The configured backends, built through the driver registry: each backend's
share driver and volume driver (either may be absent), held by services only
as the `ShareDriver` / `VolumeDriver` contracts."""

from __future__ import annotations

from shoal.config import Settings
from shoal.drivers.base import ShareDriver
from shoal.drivers.registry import BackendContext, build
from shoal.drivers.volume import VolumeDriver


def build_drivers(settings: Settings) -> tuple[dict[str, ShareDriver], dict[str, VolumeDriver]]:
    """{backend name: share driver} and {backend name: volume driver}."""
    shares: dict[str, ShareDriver] = {}
    volumes: dict[str, VolumeDriver] = {}
    context = BackendContext(state_dir=settings.state_dir)
    for name, config in settings.backends.items():
        backend = build(name, config, context)
        if backend.shares is not None:
            shares[name] = backend.shares
        if backend.volumes is not None:
            volumes[name] = backend.volumes
    return shares, volumes
