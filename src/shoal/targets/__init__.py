"""Targets: how a compute host reaches a volume, as the connection info its
os-brick connector expects (`iscsi`, `nfs`, or a vendor's own type). Any
driver builds its answer here instead of by hand; none of this runs anything."""

from .base import ConnectionInfo, Connector, InvalidConnector

__all__ = ["ConnectionInfo", "Connector", "InvalidConnector"]
