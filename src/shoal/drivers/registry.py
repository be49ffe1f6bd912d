"""The backend registry: `[backends.NAME] driver = "…"` names an entry here,
which brings the driver's config model and the factory that builds it.

A factory returns a `Backend`: the share driver, the volume driver, or both,
that one configured backend offers. Services hold only those contracts and
never import a concrete driver. Factories are imported on first use, so
reading the settings does not load every driver's dependencies.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field

from shoal.exports.nfs.base import ExportIds

from .base import ShareDriver
from .remotefs.config import RemoteFsBackendConfig
from .storpool.config import StorPoolBackendConfig
from .volume import VolumeDriver
from .zfs.config import ZfsBackendConfig
from .zfssa.config import ZfssaIscsiBackendConfig, ZfssaNfsBackendConfig


@dataclass(frozen=True)
class Backend:
    """What one configured backend offers; either driver may be absent."""

    name: str
    shares: ShareDriver | None = None
    volumes: VolumeDriver | None = None


@dataclass(frozen=True)
class BackendContext:
    """What a factory may need beyond the backend's own table."""

    state_dir: str
    export_ids: ExportIds | None = None  # NFS Export_Ids from Shoal's database, for helpers that need ids


@dataclass(frozen=True)
class DriverEntry:
    config: type[BaseModel]
    factory: str  # "module:function", called as function(name, config, context) -> Backend
    offers: tuple[str, ...]  # "shares", "volumes": what a backend of this driver can hold


DRIVERS: dict[str, DriverEntry] = {
    "zfs": DriverEntry(ZfsBackendConfig, "shoal.drivers.zfs.backend:build", ("shares", "volumes")),
    "remotefs": DriverEntry(RemoteFsBackendConfig, "shoal.drivers.remotefs.backend:build", ("volumes",)),
    "storpool": DriverEntry(StorPoolBackendConfig, "shoal.drivers.storpool.backend:build", ("volumes",)),
    "zfssa_iscsi": DriverEntry(ZfssaIscsiBackendConfig, "shoal.drivers.zfssa.backend:build_iscsi", ("volumes",)),
    "zfssa_nfs": DriverEntry(ZfssaNfsBackendConfig, "shoal.drivers.zfssa.backend:build_nfs", ("volumes",)),
}

DEFAULT_DRIVER = "zfs"  # a backend table without `driver` (every file before the registry)

# The config union: pydantic picks the model by `driver`, and each model refuses unknown keys.
BackendConfig = Annotated[Union[tuple(entry.config for entry in DRIVERS.values())], Field(discriminator="driver")]


def with_driver(table: Any) -> Any:
    """A backend table as the union reads it: `driver` defaults to zfs."""
    if isinstance(table, dict) and "driver" not in table:
        return {**table, "driver": DEFAULT_DRIVER}
    return table


def build(name: str, config: Any, context: BackendContext) -> Backend:
    module, _, function = DRIVERS[config.driver].factory.partition(":")
    backend = getattr(importlib.import_module(module), function)(name, config, context)
    if not isinstance(backend, Backend) or (backend.shares is None and backend.volumes is None):
        raise TypeError(f"driver {config.driver!r} built no share or volume driver for backend {name!r}")
    return backend
