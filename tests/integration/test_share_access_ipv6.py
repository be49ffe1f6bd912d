"""IPv6 `ip` rules through the share API, as Manila takes them: from 2.38 only (a
400 before), a bad address or a CIDR with host bits set a 400, a second rule for
the same address (`fd2c::1` and `fd2c::1/128` alike) a 400; a good one ends
`active` on the backend's ganesha, in that server's syntax."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .share_helpers import fault, share_api  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

V = "X-OpenStack-Manila-API-Version"


def allow(share_api, share_id: str, access_to: str, version: str = "2.84"):
    return share_api.client.post(f"/shares/{share_id}/action", headers={V: version}, json={
        "allow_access": {"access_type": "ip", "access_to": access_to, "access_level": "rw"}})


def test_ipv6_rules_per_manila(share_api):
    share = share_api.create_share()
    sid = share["id"]
    fault(allow(share_api, sid, "fd8c:b029:bba6:ac54::1", version="2.37"), 400)
    for bad in ("fd8c::1/64", "fd8c::g", "fd8c::1/129", "::ffff:1.2.3.4.5"):
        fault(allow(share_api, sid, bad), 400)
    host = share_api.allow(sid, "fd8c:b029:bba6:ac54::1")
    net = share_api.allow(sid, "2001:db8::/48")
    wide = share_api.allow(sid, "2001:db8:1::/112", wait=None)  # ganesha 4.3 cannot say /112: an error
    for same in ("fd8c:b029:bba6:ac54::1", "FD8C:B029:BBA6:AC54::1/128", "2001:db8::/48"):
        fault(allow(share_api, sid, same), 400)
    share = share_api.wait_rules_settled(sid)
    states = {r["id"]: r["state"] for r in share_api.rules(sid)}
    assert states == {host["id"]: "active", net["id"]: "active", wide["id"]: "error"}
    assert share["access_rules_status"] == "error"
    # the server's own export file holds the rules that are in force
    conf_dir = Path(share_api.server.state_dir) / "ganesha" / "exports.d"
    text = next(p.read_text() for p in conf_dir.glob("*.conf") if sid in p.name)
    assert re.findall(r"Clients = ([^;]+);", text) == ["fd8c:b029:bba6:ac54::1", "2001:db8::/48"]
    share_api.deny(sid, wide["id"])
    assert {r["id"] for r in share_api.rules(sid)} == {host["id"], net["id"]}
