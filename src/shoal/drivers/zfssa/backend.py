"""`driver = "zfssa_iscsi"` and `driver = "zfssa_nfs"` backends: volumes only,
on an Oracle ZFS Storage Appliance reached over its REST API."""

from __future__ import annotations

from shoal.drivers.registry import Backend, BackendContext

from .config import ZfssaIscsiBackendConfig, ZfssaNfsBackendConfig


def build_iscsi(name: str, config: ZfssaIscsiBackendConfig, context: BackendContext) -> Backend:
    from shoal.hosts import host_from_config

    from .iscsi import ZfssaIscsiVolumeDriver

    return Backend(name, volumes=ZfssaIscsiVolumeDriver(name, config, host=host_from_config(config.host)))


def build_nfs(name: str, config: ZfssaNfsBackendConfig, context: BackendContext) -> Backend:
    from shoal.hosts import host_from_config

    from .nfs import ZfssaNfsVolumeDriver

    return Backend(name, volumes=ZfssaNfsVolumeDriver(name, config, host_from_config(config.host)))
