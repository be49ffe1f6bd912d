"""What os-brick tells about the attaching host, and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass


class InvalidConnector(ValueError):
    """This connector cannot attach a volume of this kind; the message says why."""


@dataclass(frozen=True)
class Connector:
    """What os-brick reports about the attaching host (only what Shoal uses)."""

    initiator: str | None = None  # iSCSI IQN
    ip: str | None = None
    host: str | None = None
    multipath: bool = False


@dataclass(frozen=True)
class ConnectionInfo:
    driver_volume_type: str  # "iscsi" | "nfs" | a vendor's own, e.g. "storpool"
    data: dict
