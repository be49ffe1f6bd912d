"""A StorPool volume attached on Shoal's own host for the length of a copy
(volumes from images, images from volumes, generic migration), as Cinder's
generic path attaches it: os-brick's StorPoolConnector, unmodified, asks the
API to attach the volume to this host's client (its SP_OURID), whose
`storpool_block` then shows it at /dev/storpool-byid/<globalId>. It is detached
afterwards, also when the copy fails.

A volume this host has attached already (a compute host on the same machine
uses it) is read where it is and left attached: detaching it would pull it
from under its user.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from os_brick.exception import BrickException
from os_brick.initiator.storpool_utils import DEV_STORPOOL

from shoal.drivers.base import DriverError

log = logging.getLogger(__name__)
DETACH_TRIES = 3


def _connector(execute: Callable):
    # Imported on first use: os-brick's connectors pull in oslo.privsep and eventlet.
    from os_brick.initiator.connectors.storpool import StorPoolConnector

    try:
        return StorPoolConnector(None, execute=execute)
    except BrickException as exc:
        raise DriverError(f"this host's StorPool client cannot attach volumes for a copy: {exc}; fix: make this "
                          "host a StorPool client (/etc/storpool.conf with SP_OURID)") from None


def _detach(connector, properties: dict, device: dict, quiet: bool,
            sleep: Callable[[float], None] = time.sleep) -> None:
    """The connector's detach, tried again with a fresh call: os-brick's client
    retries a transient error with a re-encoded body the API refuses (api.py)."""
    for attempt in range(DETACH_TRIES):
        try:
            connector.disconnect_volume(properties, device)
            return
        except BrickException as exc:
            error = exc
        if attempt + 1 < DETACH_TRIES:
            sleep(2**attempt)
    if not quiet:
        raise DriverError(f"could not detach StorPool volume {properties['volume']} from this host: {error}")
    # the error that matters is the one already being raised
    log.warning("could not detach StorPool volume %s from this host: %s", properties["volume"], error)


@contextmanager
def attached_here(properties: dict, name: str, execute: Callable) -> Iterator[str]:
    """The path of volume `name` (its StorPool name) attached on this host with
    `properties` (the driver's `storpool` connection info), for the block."""
    own = DEV_STORPOOL / name
    if own.exists():
        yield str(own)
        return
    connector = _connector(execute)
    try:
        device = connector.connect_volume(properties)
    except BrickException as exc:
        # The attach may have been made before a later step failed: undo it.
        _detach(connector, properties, {"path": str(own)}, quiet=True)
        raise DriverError(f"could not attach StorPool volume {name} on this host: {exc}") from None
    try:
        yield device["path"]
    except BaseException:
        _detach(connector, properties, device, quiet=True)
        raise
    _detach(connector, properties, device, quiet=False)
