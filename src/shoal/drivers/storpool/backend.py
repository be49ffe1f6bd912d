"""A `driver = "storpool"` backend: volumes only, in a StorPool cluster reached
over its HTTP API (no storage host: nothing runs a command)."""

from __future__ import annotations

from shoal.drivers.registry import Backend, BackendContext

from .config import StorPoolBackendConfig
from .volumes import StorPoolVolumeDriver


def build(name: str, config: StorPoolBackendConfig, context: BackendContext) -> Backend:
    return Backend(name, volumes=StorPoolVolumeDriver(name, config))
