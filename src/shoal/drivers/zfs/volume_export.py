"""How a ZFS volume is reached: the export a helper applies and the connection
info os-brick gets back (Cinder's shapes, reference §5.1). Pure functions."""

from __future__ import annotations

from shoal.config import ZfsBackendConfig
from shoal.drivers.base import InvalidRequest
from shoal.drivers.volume import ConnectionInfo, Connector, ExportSpec
from shoal.exports.iscsi.base import Chap, InvalidInitiator, IscsiTarget, Portal, check_initiator
from shoal.exports.nfs.base import InvalidNfsRule, NfsClientRule, NfsExport, normalize_address

from .volume_layout import VOLUME_FILE


def check_connector(protocol: str, connector: Connector) -> None:
    """iSCSI needs a valid initiator name; NFS a valid IPv4 address."""
    if protocol == "iscsi":
        try:
            check_initiator(connector.initiator)
        except InvalidInitiator as exc:
            raise InvalidRequest(f"cannot attach over iSCSI: {exc}") from None
    else:
        try:
            net = normalize_address(connector.ip)  # type: ignore[arg-type]
        except InvalidNfsRule as exc:
            raise InvalidRequest(f"cannot attach over NFS: {exc}") from None
        if net.num_addresses != 1:
            raise InvalidRequest(f"cannot attach over NFS: connector ip {connector.ip!r} is a network, not an address")


def iqn(config: ZfsBackendConfig, volume_id: str) -> str:
    return f"{config.iscsi.iqn_prefix}:{config.volume_prefix}{volume_id}"


def iscsi_target(config: ZfsBackendConfig, volume_id: str, backing: str, spec: ExportSpec) -> IscsiTarget:
    initiators = tuple(dict.fromkeys(c.initiator for c in spec.connectors if c.initiator))
    return IscsiTarget(
        key=volume_id,
        iqn=iqn(config, volume_id),
        backing=backing,
        chap=Chap(spec.chap_user, spec.chap_secret),
        initiators=initiators,
        lun=config.iscsi.lun,
    )


def iscsi_connection(target: IscsiTarget, portals: list[Portal] | list[str]) -> ConnectionInfo:
    addresses = [str(p) for p in portals]
    return ConnectionInfo(
        "iscsi",
        {
            "target_discovered": False,
            "target_iqn": target.iqn,
            "target_portal": addresses[0],
            "target_lun": target.lun,
            "target_portals": addresses,
            "target_iqns": [target.iqn] * len(addresses),
            "target_luns": [target.lun] * len(addresses),
            "volume_id": target.key,
            "auth_method": "CHAP",
            "auth_username": target.chap.user,
            "auth_password": target.chap.secret,
            "discard": True,
        },
    )


def nfs_export(volume_id: str, mountpoint: str, dataset: str, spec: ExportSpec) -> NfsExport:
    ips = dict.fromkeys(c.ip for c in spec.connectors if c.ip)
    rules = tuple(NfsClientRule(ip, ip, "rw") for ip in ips)
    return NfsExport(volume_id, mountpoint, dataset, rules)


def nfs_connection(config: ZfsBackendConfig, mountpoint: str) -> ConnectionInfo:
    return ConnectionInfo(
        "nfs",
        {"export": f"{config.export_address}:{mountpoint}", "name": VOLUME_FILE, "format": "raw", "options": None},
    )
