"""Volumes as files on NFS: Cinder's `nfs` connection info (os-brick mounts
`export` and opens `name` in it), and which connectors can use it."""

from __future__ import annotations

from dataclasses import dataclass

from shoal.exports.nfs.base import InvalidNfsRule, normalize_address

from .base import ConnectionInfo, Connector, InvalidConnector

FORMATS = ("raw", "qcow2")


def check_connector_address(connector: Connector) -> None:
    """A connector that an export rule must name: it needs one valid IPv4 or IPv6 address."""
    try:
        net = normalize_address(connector.ip)  # type: ignore[arg-type]
    except InvalidNfsRule as exc:
        raise InvalidConnector(f"cannot attach over NFS: {exc}") from None
    if net.num_addresses != 1:
        raise InvalidConnector(f"cannot attach over NFS: connector ip {connector.ip!r} is a network, not an address")


@dataclass(frozen=True)
class NfsFileInfo:
    export: str  # "host:/path" as clients mount it
    name: str  # the file to open, relative to the export
    format: str = "raw"
    options: str | None = None  # mount options

    def connection(self) -> ConnectionInfo:
        if self.format not in FORMATS:
            raise InvalidConnector(f"volume file format {self.format!r} is not one of {FORMATS}")
        return ConnectionInfo("nfs", {"export": self.export, "name": self.name, "format": self.format,
                                      "options": self.options})
