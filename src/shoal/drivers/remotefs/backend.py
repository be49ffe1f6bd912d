"""A `driver = "remotefs"` backend: volumes only, as files on NAS shares
mounted on (or present on) one storage host."""

from __future__ import annotations

from shoal.drivers.registry import Backend, BackendContext
from shoal.hosts import host_from_config

from .config import RemoteFsBackendConfig
from .volumes import RemoteFsVolumeDriver


def build(name: str, config: RemoteFsBackendConfig, context: BackendContext) -> Backend:
    return Backend(name, volumes=RemoteFsVolumeDriver(name, config, host_from_config(config.host), context.state_dir))
