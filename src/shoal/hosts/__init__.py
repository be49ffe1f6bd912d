"""Hosts: the only layer that starts processes (locally or over SSH)."""

from .from_config import host_from_config
from .runner import STATS, CommandError, CommandResult, CommandTimeout, Host, LocalHost, NoSocketAccess, Retry, Secret
from .ssh import SSHHost
from .watch import FileWatch

__all__ = [
    "STATS", "CommandError", "CommandResult", "CommandTimeout", "FileWatch", "Host", "LocalHost", "NoSocketAccess", "Retry", "Secret", "SSHHost",
    "host_from_config",
]
