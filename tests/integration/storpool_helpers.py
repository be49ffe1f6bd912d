"""Shared by the StorPool tests: a volume attached on this host as a compute
host attaches it, through os-brick's own StorPoolConnector (from PyPI,
unmodified), with the connection info Shoal hands out; the device it gives
is the StorPool API emulator's loop device under /dev/storpool-byid."""

from __future__ import annotations

import os

from os_brick.initiator.connectors.storpool import StorPoolConnector
from oslo_concurrency import processutils


class Attached:
    """os-brick's StorPoolConnector, unmodified, as a compute host runs it. Its
    commands (blockdev) run directly, as root, instead of through privsep's
    `sudo privsep-helper`: the executor is os-brick's own parameter."""

    def __init__(self, properties: dict):
        self.connector = StorPoolConnector(None, execute=processutils.execute)
        self.properties = properties
        self.device = self.connector.connect_volume(self.properties)
        self.path = self.device["path"]

    def write(self, offset: int, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, offset: int, length: int) -> bytes:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def close(self) -> None:
        self.connector.disconnect_volume(self.properties, self.device)
