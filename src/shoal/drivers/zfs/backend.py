"""A `driver = "zfs"` backend: one host, one `Zfs` (one feature probe and one
set of per-pool locks) shared by the share driver and the volume driver, each
with the export helper its protocol needs."""

from __future__ import annotations

import re

from shoal.drivers.registry import Backend, BackendContext
from shoal.exports.iscsi import make_helper as make_iscsi_helper
from shoal.exports.nfs import make_helper as make_nfs_helper
from shoal.hosts import host_from_config

from .config import ZfsBackendConfig
from .shares import ZfsShareDriver
from .volumes import ZfsVolumeDriver
from .zfs import Zfs

_UNSAFE = re.compile(r"[^\w.-]")  # what may not stand in a file name


def build(name: str, config: ZfsBackendConfig, context: BackendContext) -> Backend:
    memory = f"{context.state_dir}/mounts-{_UNSAFE.sub('_', name)}"
    host = host_from_config(config.host)
    zfs = Zfs(host)
    options = {**config.ganesha.model_dump(), "export_ids": context.export_ids} if config.nfs_helper == "ganesha" else {}
    nfs = make_nfs_helper(config.nfs_helper, host, **options)
    iscsi = None
    if config.volume_export == "iscsi":
        iscsi_options = config.iscsi.model_dump(exclude={"helper", "iqn_prefix"})
        iscsi = make_iscsi_helper(config.iscsi.helper, host, **iscsi_options)
    return Backend(
        name,
        # What each driver's exports were last made on, kept across restarts of Shoal.
        shares=ZfsShareDriver(name, config, host, nfs, zfs=zfs,
                              mounts_memory=f"{memory}-shares.json"),
        volumes=ZfsVolumeDriver(name, config, host, iscsi, nfs, zfs=zfs,
                                mounts_memory=f"{memory}-volumes.json"),
    )
