"""Settings of a `driver = "remotefs"` backend: volumes as raw or qcow2 files on
one or more NAS shares (Cinder's RemoteFS/NFS driver, reference §2.1).

Each share is one pool. A share is either an NFS export that Shoal mounts on
the storage host (`address` only: mounted at `<mount_point_base>/<md5 of the
address>`, Cinder's rule), or a directory already present there (`path`; then
`address` is what clients mount to reach that directory, e.g. a ganesha or
kernel NFS export of it).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shoal.config_parts import BackendCommon, Strict

_ADDRESS = re.compile(r".+:/.*")  # host:/export, Cinder's check


class NasShareConfig(Strict):
    address: str  # "host:/export": the connection info's `export`, and the pool's name
    path: str | None = None  # a directory on the storage host: used as is, never mounted
    mount_options: str | None = None  # passed to mount -o (and handed to clients)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip().replace("\\040", " ")
        if not _ADDRESS.fullmatch(value):
            raise ValueError(f"share address {value!r} must look like HOST:/EXPORT")
        return value

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"share path {value!r} must be absolute")
        return value.rstrip("/") or "/" if value is not None else None


class RemoteFsBackendConfig(BackendCommon):
    driver: Literal["remotefs"]
    shares: list[NasShareConfig] = Field(min_length=1)
    mount_point_base: str | None = None  # default: <state_dir>/mnt
    volume_prefix: str = "volume-"  # Cinder's volume_name_template is volume-%s
    # New volumes: qcow2 (preallocation=metadata) wins over sparse raw, which wins over thick raw.
    qcow2_volumes: bool = False
    sparsed_volumes: bool = True
    snapshot_support: bool = True
    secure_file_operations: Literal["auto", "true", "false"] = "auto"
    secure_file_permissions: Literal["auto", "true", "false"] = "auto"
    qemu_img_timeout: float = Field(3600.0, gt=0)  # every qemu-img call is bounded

    @field_validator("secure_file_operations", "secure_file_permissions", mode="before")
    @classmethod
    def _lower(cls, value):
        return value.lower() if isinstance(value, str) else value

    @field_validator("volume_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_." for c in value):
            raise ValueError("volume_prefix may hold only letters, digits, '-', '_' and '.'")
        return value

    @model_validator(mode="after")
    def _distinct_shares(self):
        addresses = [s.address for s in self.shares]
        if len(set(addresses)) != len(addresses):
            raise ValueError("each share address may be listed only once")
        return self
