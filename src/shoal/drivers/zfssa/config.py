"""Settings of the Oracle ZFS Storage Appliance backends (reference §3.4, §3.7):
`driver = "zfssa_iscsi"` (volumes are LUNs in a project) and `driver =
"zfssa_nfs"` (volumes are files on one share), both reached over the
appliance's REST API.

Unlike the Cinder drivers, TLS certificates are verified unless `verify =
false` is asked for (a CA file may be named), and the password is never
shown in a repr, a log line or the backend's capabilities.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shoal.config_parts import BackendCommon, Strict

# Names that go into REST paths: the appliance's own rule for pool, project,
# share and group names (letters, digits and . _ - :), nothing else.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
BLOCK_SIZES = ("512", "1k", "2k", "4k", "8k", "16k", "32k", "64k", "128k", "256k", "512k", "1m")
COMPRESSIONS = ("off", "lzjb", "gzip-2", "gzip", "gzip-9")
LOGBIASES = ("latency", "throughput")


def check_name(value: str, what: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{what} {value!r} may hold only letters, digits, '.', '_', '-' and ':'")
    return value


def check_address(value: str, what: str) -> str:
    value = value.strip()
    if not value or any(c in value for c in "/@ ?#"):
        raise ValueError(f"{what} {value!r} must be a host name or IP address")
    return value


class ApplianceAccess(Strict):
    """How Shoal reaches the appliance's REST API (Cinder's san_ip, san_login, san_password)."""

    address: str  # san_ip: host name or IP of the management interface
    rest_port: int = Field(215, ge=1, le=65535)
    user: str
    password: str = Field(repr=False)
    rest_timeout: float = Field(60.0, gt=0)  # zfssa_rest_timeout: every request is bounded by it
    verify: bool = True  # TLS certificate check; false only when asked
    ca_file: str | None = None  # a CA bundle to verify the appliance's certificate with
    busy_retries: int = Field(10, ge=0, le=60)  # 503 answers retried 1 s apart, as the original

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return check_address(value, "address")


class LunDefaults(Strict):
    """New LUNs' properties unless a type's `zfssa:*` extra spec says otherwise."""

    volblocksize: Literal[BLOCK_SIZES] = "8k"  # type: ignore[valid-type]
    sparse: bool = False
    compression: Literal[COMPRESSIONS] = "off"  # type: ignore[valid-type]
    logbias: Literal[LOGBIASES] = "latency"  # type: ignore[valid-type]


class InitiatorEntry(Strict):
    """One initiator the appliance should know (Cinder's zfssa_initiator_config)."""

    iqn: str
    user: str | None = None  # initiator CHAP
    password: str | None = Field(None, repr=False)


class _ZfssaCommon(BackendCommon):
    appliance: ApplianceAccess
    pool: str  # zfssa_pool / zfssa_nfs_pool
    project: str  # zfssa_project / zfssa_nfs_project
    manage_policy: Literal["loose", "strict"] = "loose"
    volume_prefix: str = "volume-"  # Cinder's volume_name_template
    # zfssa_enable_local_cache: a volume from an image is a clone of a copy of the
    # image kept on the appliance (one per image, refreshed when the image changes).
    enable_local_cache: bool = True

    @field_validator("pool", "project")
    @classmethod
    def _names(cls, value: str, info) -> str:
        return check_name(value, info.field_name)

    @field_validator("volume_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_." for c in value):
            raise ValueError("volume_prefix may hold only letters, digits, '-', '_' and '.'")
        return value


class ZfssaIscsiBackendConfig(_ZfssaCommon):
    driver: Literal["zfssa_iscsi"]
    lun: LunDefaults = LunDefaults()
    target_group: str = "tgt-grp"  # also the target's alias
    target_portal: str  # "address:port", the one portal advertised (Launchpad 1762584)
    target_interfaces: list[str] = Field(default_factory=list)  # network interfaces the target listens on (all when empty)
    target_user: str | None = None  # target CHAP: handed to initiators in the connection info
    target_password: str | None = Field(None, repr=False)
    # "default" lets an initiator that is in no group reach LUNs through the
    # appliance's default group (every initiator), as Cinder did.
    initiator_group: str | None = None
    initiator_config: dict[str, list[InitiatorEntry]] = Field(default_factory=dict)  # group -> initiators made at start
    cache_project: str = "os-cinder-cache"  # zfssa_cache_project: the image cache's LUNs
    # Image copies: qemu-img on Shoal's host reaches a LUN as this initiator (None:
    # /etc/iscsi/initiatorname.iscsi, else one named after the host), in this group.
    copy_initiator: str | None = None
    copy_initiator_group: str = "shoal-image-copy"
    # zfssa_replication_ip: where other appliances reach this one for replication
    # (their replication target's address is "<ip>:216"). Set, a volume of
    # another zfssa_iscsi backend whose appliance has this one as a target
    # migrates here by the appliance's replication (lun_migration).
    replication_ip: str | None = None
    replication_timeout: float = Field(3600.0, gt=0)  # how long a replication update may take

    @field_validator("cache_project", "copy_initiator_group")
    @classmethod
    def _cache_names(cls, value: str, info) -> str:
        return check_name(value, info.field_name)

    @field_validator("target_group")
    @classmethod
    def _group(cls, value: str) -> str:
        return check_name(value, "target_group")

    @field_validator("replication_ip")
    @classmethod
    def _replication_ip(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value, "replication_ip")

    @field_validator("target_portal")
    @classmethod
    def _portal(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"target_portal {value!r} must be ADDRESS:PORT")
        return value

    @field_validator("initiator_config")
    @classmethod
    def _groups(cls, value: dict[str, list[InitiatorEntry]]) -> dict[str, list[InitiatorEntry]]:
        for group in value:
            check_name(group, "initiator group")
        return value

    @model_validator(mode="after")
    def _chap_pairs(self):
        if bool(self.target_user) != bool(self.target_password):
            raise ValueError("target_user and target_password go together: set both for target CHAP, or neither")
        for group, entries in self.initiator_config.items():
            for entry in entries:
                if bool(entry.user) != bool(entry.password):
                    raise ValueError(f"initiator {entry.iqn} in group {group}: user and password go together")
        return self


class ZfssaNfsBackendConfig(_ZfssaCommon):
    driver: Literal["zfssa_nfs"]
    project: str = "NFSProject"
    share: str = "nfs_share"  # zfssa_nfs_share: the one share that holds every volume file
    data_ip: str  # zfssa_data_ip: where clients mount the share and WebDAV answers
    https_port: int = Field(443, ge=1, le=65535)  # zfssa_https_port: WebDAV
    mount_options: str | None = None  # zfssa_nfs_mount_options, handed to clients
    compression: Literal[COMPRESSIONS] = "off"  # type: ignore[valid-type]  # the share's
    logbias: Literal[LOGBIASES] = "latency"  # type: ignore[valid-type]
    file_timeout: float = Field(3600.0, gt=0)  # qemu-img over nfs:// (create, resize, info)
    cache_directory: str = "os-cinder-cache"  # zfssa_cache_directory: the image cache's files, in the share

    @field_validator("cache_directory")
    @classmethod
    def _directory(cls, value: str) -> str:
        return check_name(value, "cache_directory")

    @field_validator("share")
    @classmethod
    def _share(cls, value: str) -> str:
        return check_name(value, "share")
