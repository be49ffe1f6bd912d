"""The configured backends, each a driver on its host with its export helper."""

from __future__ import annotations

from shoal.config import HostConfig, Settings
from shoal.drivers.base import ShareDriver
from shoal.drivers.volume import VolumeDriver
from shoal.drivers.zfs.shares import ZfsShareDriver
from shoal.drivers.zfs.volumes import ZfsVolumeDriver
from shoal.exports.iscsi import make_helper as make_iscsi_helper
from shoal.exports.nfs import make_helper
from shoal.hosts import Host, LocalHost, SSHHost


def make_host(config: HostConfig) -> Host:
    if config.type == "ssh":
        return SSHHost(
            config.address, user=config.user, port=config.port, key_file=config.key_file,
            password=config.password, sudo=config.sudo,
        )
    return LocalHost(sudo=config.sudo)


def build_drivers(settings: Settings) -> tuple[dict[str, ShareDriver], dict[str, VolumeDriver]]:
    """Each backend's share driver and volume driver, sharing its host and NFS helper."""
    shares: dict[str, ShareDriver] = {}
    volumes: dict[str, VolumeDriver] = {}
    for name, backend in settings.backends.items():
        host = make_host(backend.host)
        options = backend.ganesha.model_dump() if backend.nfs_helper == "ganesha" else {}
        nfs = make_helper(backend.nfs_helper, host, **options)
        iscsi = None
        if backend.volume_export == "iscsi":
            iscsi_options = backend.iscsi.model_dump(exclude={"helper", "iqn_prefix"})
            iscsi = make_iscsi_helper(backend.iscsi.helper, host, **iscsi_options)
        shares[name] = ZfsShareDriver(name, backend, host, nfs)
        volumes[name] = ZfsVolumeDriver(name, backend, host, iscsi, nfs)
    return shares, volumes
