"""The configured backends, each a driver on its host with its export helper."""

from __future__ import annotations

from shoal.config import HostConfig, Settings
from shoal.drivers.base import ShareDriver
from shoal.drivers.zfs.shares import ZfsShareDriver
from shoal.exports.nfs import make_helper
from shoal.hosts import Host, LocalHost, SSHHost


def make_host(config: HostConfig) -> Host:
    if config.type == "ssh":
        return SSHHost(
            config.address, user=config.user, port=config.port, key_file=config.key_file,
            password=config.password, sudo=config.sudo,
        )
    return LocalHost(sudo=config.sudo)


def build_share_drivers(settings: Settings) -> dict[str, ShareDriver]:
    drivers: dict[str, ShareDriver] = {}
    for name, backend in settings.backends.items():
        host = make_host(backend.host)
        options = backend.ganesha.model_dump() if backend.nfs_helper == "ganesha" else {}
        nfs = make_helper(backend.nfs_helper, host, **options)
        drivers[name] = ZfsShareDriver(name, backend, host, nfs)
    return drivers
