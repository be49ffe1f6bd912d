"""The host a backend's `[backends.NAME.host]` table describes."""

from __future__ import annotations

from shoal.config_parts import HostConfig

from .runner import Host, LocalHost
from .ssh import SSHHost


def host_from_config(config: HostConfig) -> Host:
    if config.type == "ssh":
        return SSHHost(
            config.address, user=config.user, port=config.port, key_file=config.key_file,
            password=config.password, sudo=config.sudo,
        )
    return LocalHost(sudo=config.sudo)
