"""iSCSI targets: the CHAP secret a volume's target carries, and Cinder's
`iscsi` connection info (reference §5.1) for one target behind one or more
portals."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from shoal.exports.iscsi.base import Chap, InvalidInitiator, check_initiator

from .base import ConnectionInfo, Connector, InvalidConnector

_CHAP_ALPHABET = string.ascii_letters + string.digits


def new_chap_auth() -> str:
    """A fresh secret in Cinder's `provider_auth` form: "CHAP <user> <secret>"."""
    user = "".join(secrets.choice(_CHAP_ALPHABET) for _ in range(20))
    secret = "".join(secrets.choice(_CHAP_ALPHABET) for _ in range(16))
    return f"CHAP {user} {secret}"


def chap_from_auth(auth: str | None) -> Chap:
    """The CHAP account in a `provider_auth` string; an empty one when there is none."""
    method, _, rest = (auth or "").partition(" ")
    user, _, secret = rest.partition(" ")
    if method != "CHAP" or not user or not secret:
        return Chap("-", "-")
    return Chap(user, secret)


def check_connector(connector: Connector) -> None:
    try:
        check_initiator(connector.initiator)
    except InvalidInitiator as exc:
        raise InvalidConnector(f"cannot attach over iSCSI: {exc}") from None


@dataclass(frozen=True)
class IscsiTargetInfo:
    iqn: str
    lun: int
    portals: tuple[str, ...]  # "address:port"
    chap: Chap | None  # None: a target without CHAP (no auth_* keys in the answer)
    volume_id: str
    discard: bool = True

    def connection(self) -> ConnectionInfo:
        portals = list(self.portals)
        data = {
            "target_discovered": False,
            "target_iqn": self.iqn,
            "target_portal": portals[0],
            "target_lun": self.lun,
            "target_portals": portals,
            "target_iqns": [self.iqn] * len(portals),
            "target_luns": [self.lun] * len(portals),
            "volume_id": self.volume_id,
        }
        if self.chap is not None:
            data.update(auth_method="CHAP", auth_username=self.chap.user, auth_password=self.chap.secret)
        data["discard"] = self.discard
        return ConnectionInfo("iscsi", data)
