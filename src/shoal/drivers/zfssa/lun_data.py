"""A LUN's data on Shoal's host, for image copies (`VolumeDriver.open_data`):
the LUN is presented to the initiator group of Shoal's own initiator for the
length of the copy, and qemu-img reaches it over iSCSI itself (libiscsi: no
kernel initiator, nothing attached) through a `json:` spec with the target's
CHAP. The spec is a `Secret`, so logs and errors show it masked.

Only the copy's own group is added to and removed from the LUN: the groups of
the volume's attachments stay as they are.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shoal.drivers.base import DriverError
from shoal.drivers.volume import VolumeData
from shoal.hosts import Host, Secret

from . import lun_specs
from .appliance import Appliance
from .config import ZfssaIscsiBackendConfig
from .iscsi_setup import ensure_initiator
from .rest import ApplianceError

log = logging.getLogger(__name__)

INITIATOR_FILE = Path("/etc/iscsi/initiatorname.iscsi")  # open-iscsi's, as os-brick reads it


def host_initiator() -> str:
    """This host's initiator name (open-iscsi's), or one made from its host name."""
    try:
        for line in INITIATOR_FILE.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "InitiatorName" and value.strip():
                return value.strip()
    except OSError:
        pass
    name = "".join(c if c.isalnum() or c in ".-" else "-" for c in socket.gethostname().lower()) or "host"
    return f"iqn.2026-12.org.shoal:{name}"


def qemu_spec(portal: str, target_iqn: str, lun: int, initiator: str, chap: tuple[str, str] | None) -> str:
    """qemu's `json:` filename of the LUN (raw), as `initiator`."""
    file = {"driver": "iscsi", "transport": "tcp", "portal": portal, "target": target_iqn, "lun": lun,
            "initiator-name": initiator}
    if chap:
        file.update(user=chap[0], password=chap[1])
    return "json:" + json.dumps({"driver": "raw", "file": file})


class LunData:
    """Opens LUNs of one backend for copies; the copy initiator is made on the
    appliance (in `copy_initiator_group`) the first time it is needed."""

    def __init__(self, api: Appliance, config: ZfssaIscsiBackendConfig, host: Host):
        self.api, self.config, self.host = api, config, host
        self.initiator = config.copy_initiator or host_initiator()
        self._ready = False

    def _ensure_initiator(self) -> None:
        if not self._ready:
            ensure_initiator(self.api, self.config.copy_initiator_group, self.initiator)
            self._ready = True

    def _set_groups(self, project: str, name: str, change) -> dict:
        where = (self.config.pool, project, name)
        groups = lun_specs.groups_of(self.api.lun(*where))
        wanted = change(groups)
        if sorted(wanted) != sorted(groups):
            self.api.modify_lun(*where, {"initiatorgroup": lun_specs.initiatorgroup_value(wanted)})
        return self.api.lun(*where)

    @contextmanager
    def opened(self, project: str, name: str, target_iqn: str) -> Iterator[VolumeData]:
        group = self.config.copy_initiator_group
        self._ensure_initiator()
        lun = self._set_groups(project, name, lambda groups: sorted({*groups, group}))
        try:
            number = lun_specs.lun_numbers(lun).get(group)
            if number is None:
                raise DriverError(f"the appliance assigned LUN {name} no number for initiator group {group} "
                                  f"(it answered {lun.get('initiatorgroup')!r})")
            chap = None
            if self.config.target_user and self.config.target_password:
                chap = (self.config.target_user, self.config.target_password)
            spec = qemu_spec(self.config.target_portal, target_iqn, number, self.initiator, chap)
            yield VolumeData(self.host, Secret(spec) if chap else spec, "raw")
        finally:
            try:
                self._set_groups(project, name, lambda groups: [g for g in groups if g != group])
            except ApplianceError as exc:  # the copy's result matters more; the next export sets the groups
                log.error("ZFSSA LUN %s/%s: could not withdraw it from group %s: %s", project, name, group, exc)
