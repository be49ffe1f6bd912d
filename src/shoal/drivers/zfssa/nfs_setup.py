"""The appliance objects a `zfssa_nfs` backend needs (Cinder's do_setup and
check_for_setup_error for the NFS driver, reference §3.7): the project and the
one share, shared over NFS and WebDAV read-write, with the http and nfs
services online."""

from __future__ import annotations

from .appliance import Appliance
from .config import ZfssaNfsBackendConfig
from .rest import ApplianceNotFound

SERVICES = ("http", "nfs")


def share_body(config: ZfssaNfsBackendConfig) -> dict:
    return {"sharedav": "rw", "sharenfs": "rw", "root_permissions": "777", "compression": config.compression,
            "logbias": config.logbias}


def ensure_share(api: Appliance, config: ZfssaNfsBackendConfig) -> dict:
    """The project and share, made or set as the driver needs them; the share."""
    try:
        api.project(config.pool, config.project)
    except ApplianceNotFound:
        api.create_project(config.pool, {"name": config.project})
    try:
        share = api.filesystem(config.pool, config.project, config.share)
    except ApplianceNotFound:
        api.create_filesystem(config.pool, config.project, {"name": config.share, **share_body(config)})
        return api.filesystem(config.pool, config.project, config.share)
    if share.get("sharedav") != "rw" or share.get("sharenfs") != "rw":
        api.modify_filesystem(config.pool, config.project, config.share, {"sharedav": "rw", "sharenfs": "rw"})
        share = api.filesystem(config.pool, config.project, config.share)
    return share


def share_problem(api: Appliance, config: ZfssaNfsBackendConfig, backend: str) -> str | None:
    try:
        share = api.filesystem(config.pool, config.project, config.share)
    except ApplianceNotFound:
        return (f"share {config.share!r} does not exist in project {config.project!r}; fix: start Shoal "
                f"(`shoal serve` creates it), create it on the appliance, or correct `share` in "
                f"[backends.{backend}]")
    off = [p for p in ("sharenfs", "sharedav") if share.get(p) in (None, "", "off", "ro")]
    if off:
        return (f"share {config.share!r} is not shared read-write over {' and '.join(off)}; fix: start Shoal "
                f"(it sets sharenfs=rw and sharedav=rw) or set them on the appliance")
    return None
