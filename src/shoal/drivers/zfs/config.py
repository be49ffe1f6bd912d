"""Settings of a `driver = "zfs"` backend: shares and volumes on ZFS pools of one host."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from shoal.config_parts import DEFAULT_POOL, BackendCommon, GaneshaConfig, IscsiConfig


class ZfsBackendConfig(BackendCommon):
    driver: Literal["zfs"] = "zfs"
    pools: list[str] = Field(default_factory=lambda: [DEFAULT_POOL], min_length=1)
    dataset_prefix: str = "share-"
    snapshot_prefix: str = "snap-"
    volume_prefix: str = "volume-"
    # zvol on kernel OpenZFS; a sparse file in the volume's own dataset on zfs-fuse
    # (no zvols there). "auto" picks by feature detection.
    volume_mode: Literal["auto", "zvol", "file"] = "auto"
    volume_export: Literal["iscsi", "nfs"] = "iscsi"
    iscsi: IscsiConfig = IscsiConfig()
    creation_options: list[str] = Field(default_factory=list)
    export_address: str = "127.0.0.1"
    admin_export_address: str | None = None
    nfs_helper: Literal["ganesha", "exportfs", "sharenfs"] = "ganesha"
    ganesha: GaneshaConfig = GaneshaConfig()
    # Backends naming the same domain hold readable replicas of each other's shares.
    replication_domain: str | None = None

    @field_validator("pools")
    @classmethod
    def _distinct_zpools(cls, pools: list[str]) -> list[str]:
        pools = [p.strip().strip("/") for p in pools]
        zpools = [p.split("/")[0] for p in pools]
        if len(set(zpools)) != len(zpools):
            raise ValueError("each zpool may be listed only once")
        if any(not p for p in pools):
            raise ValueError("empty pool name")
        return pools

    @field_validator("dataset_prefix", "snapshot_prefix", "volume_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_." for c in value):
            raise ValueError("prefixes may hold only letters, digits, '-', '_' and '.'")
        return value


