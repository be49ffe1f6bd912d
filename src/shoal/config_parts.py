"""Settings pieces that several config models share: the strict base, where a
backend's commands run, and the export daemons' settings.

Driver config models (`drivers/<name>/config.py`) build on these; `config.py`
assembles them into `Settings` through the driver registry. Kept apart from
`config.py` so that a driver's config module never imports the settings root.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_STATE_DIR = Path("/var/lib/shoal")
DEFAULT_POOL = "shoal"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HostConfig(Strict):
    """Where a backend's commands run: this machine, or a storage host over SSH."""

    type: Literal["local", "ssh"] = "local"
    address: str | None = None
    user: str = "root"
    port: int = 22
    key_file: str | None = None
    password: str | None = None
    sudo: bool = False

    @model_validator(mode="after")
    def _ssh_needs_address(self):
        if self.type == "ssh" and not self.address:
            raise ValueError("host.address is required when host.type is 'ssh'")
        return self


class GaneshaConfig(Strict):
    """The userspace NFS server that Shoal configures (and starts, if `manage_daemon`)."""

    config_dir: str = str(DEFAULT_STATE_DIR / "ganesha")
    nfs_port: int = Field(2049, ge=1, le=65535)
    mount_port: int = Field(20048, ge=1, le=65535)
    manage_daemon: bool = True
    binary: str = "ganesha.nfsd"


class IscsiConfig(Strict):
    """The iSCSI target that exports volumes: tgt (tgtd, userspace) or LIO (kernel)."""

    helper: Literal["tgt", "lio"] = "tgt"
    iqn_prefix: str = "iqn.2026-11.org.shoal"
    portals: list[str] = Field(default_factory=lambda: ["127.0.0.1:3260"], min_length=1)
    lun: int = Field(1, ge=0, le=255)
    # tgt only: Shoal may run its own tgtd; `control_port` selects the tgtadm socket
    # (tgtd --control-port N / tgtadm -C N), so several tgtd can share a host.
    manage_daemon: bool = True
    control_port: int = Field(0, ge=0, le=32767)  # tgtd refuses larger numbers

    @field_validator("iqn_prefix")
    @classmethod
    def _iqn(cls, value: str) -> str:
        if not re.fullmatch(r"iqn\.\d{4}-\d{2}\.[a-z0-9][a-z0-9.-]*", value):
            raise ValueError("iqn_prefix must look like iqn.YYYY-MM.reversed.domain")
        return value

    @field_validator("portals")
    @classmethod
    def _portals(cls, portals: list[str]) -> list[str]:
        for portal in portals:
            host, sep, port = portal.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"portal {portal!r} must be ADDRESS:PORT")
        return portals


class BackendCommon(Strict):
    """What every backend has, whatever its driver."""

    availability_zone: str = "nova"
    host: HostConfig = HostConfig()
    reserved_percentage: int = Field(0, ge=0, le=100)
    max_over_subscription_ratio: float = Field(20.0, gt=0)
    # Cinder's image-volume cache (volume backends): the first volume from an image
    # fills a cache volume, later ones are clones of it; 0 = no limit.
    image_volume_cache_enabled: bool = False
    image_volume_cache_max_size_gb: int = Field(0, ge=0)
    image_volume_cache_max_count: int = Field(0, ge=0)
