"""How a ZFS volume is reached: the export a helper applies, and the target
info (from `shoal.targets`) that becomes the connection info. Pure functions."""

from __future__ import annotations

from shoal.drivers.base import InvalidRequest
from shoal.drivers.volume import Connector, ExportSpec
from shoal.exports.iscsi.base import IscsiTarget, Portal
from shoal.exports.nfs.base import NfsClientRule, NfsExport
from shoal.targets import InvalidConnector
from shoal.targets import iscsi as iscsi_targets
from shoal.targets import nfs as nfs_targets

from .config import ZfsBackendConfig
from .volume_layout import VOLUME_FILE


def check_connector(protocol: str, connector: Connector) -> None:
    """iSCSI needs a valid initiator name; NFS a valid IPv4 address (its export rule)."""
    try:
        if protocol == "iscsi":
            iscsi_targets.check_connector(connector)
        else:
            nfs_targets.check_connector_address(connector)
    except InvalidConnector as exc:
        raise InvalidRequest(str(exc)) from None


def iqn(config: ZfsBackendConfig, volume_id: str) -> str:
    return f"{config.iscsi.iqn_prefix}:{config.volume_prefix}{volume_id}"


def iscsi_target(config: ZfsBackendConfig, volume_id: str, backing: str, spec: ExportSpec) -> IscsiTarget:
    initiators = tuple(dict.fromkeys(c.initiator for c in spec.connectors if c.initiator))
    return IscsiTarget(
        key=volume_id,
        iqn=iqn(config, volume_id),
        backing=backing,
        chap=iscsi_targets.chap_from_auth(spec.auth),
        initiators=initiators,
        lun=config.iscsi.lun,
    )


def iscsi_info(target: IscsiTarget, portals: list[Portal] | list[str]) -> iscsi_targets.IscsiTargetInfo:
    return iscsi_targets.IscsiTargetInfo(target.iqn, target.lun, tuple(str(p) for p in portals), target.chap, target.key)


def nfs_export(volume_id: str, mountpoint: str, dataset: str, spec: ExportSpec) -> NfsExport:
    ips = dict.fromkeys(c.ip for c in spec.connectors if c.ip)
    rules = tuple(NfsClientRule(ip, ip, "rw") for ip in ips)
    return NfsExport(volume_id, mountpoint, dataset, rules)


def nfs_info(config: ZfsBackendConfig, mountpoint: str) -> nfs_targets.NfsFileInfo:
    return nfs_targets.NfsFileInfo(f"{config.export_address}:{mountpoint}", VOLUME_FILE, "raw")
