"""IPv6 `ip` rules through the share API, as Manila takes them: from 2.38 only (a
400 before), a bad address or a CIDR with host bits set a 400, a second rule for
the same address (`fd2c::1` and `fd2c::1/128` alike) a 400; a good one ends
`active` on the backend's ganesha, in that server's syntax. A network ganesha
4.3 cannot be told (/100 to /119) ends in `error` with a user message naming
the limit, and the share's other rules and its export carry on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .share_helpers import assert_nfs_writable, fault, messages_for, share_api  # noqa: F401 - fixture

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
    local = share_api.allow(sid, "127.0.0.1")
    host = share_api.allow(sid, "fd8c:b029:bba6:ac54::1")
    net = share_api.allow(sid, "2001:db8::/48")
    wide = share_api.allow(sid, "2001:db8:1::/112", wait=None)  # ganesha 4.3 cannot say /112: an error
    for same in ("fd8c:b029:bba6:ac54::1", "FD8C:B029:BBA6:AC54::1/128", "2001:db8::/48"):
        fault(allow(share_api, sid, same), 400)
    share = share_api.wait_rules_settled(sid)
    states = {r["id"]: r["state"] for r in share_api.rules(sid)}
    assert states == {local["id"]: "active", host["id"]: "active", net["id"]: "active", wide["id"]: "error"}
    assert share["access_rules_status"] == "error" and share["status"] == "available"
    # why, for the share's project: Manila's update-access message, then the limit
    told = [m for m in messages_for(share_api.client, sid) if wide["id"] in m["user_message"]]
    assert len(told) == 1, messages_for(share_api.client, sid)
    assert (told[0]["action_id"], told[0]["detail_id"], told[0]["resource_type"]) == ("010", "021", "SHARE")
    assert "2001:db8:1::/112" in told[0]["user_message"] and "/100 to /119" in told[0]["user_message"]
    # the server's own export file holds the rules that are in force, and the export serves
    conf_dir = Path(share_api.server.state_dir) / "ganesha" / "exports.d"
    text = next(p.read_text() for p in conf_dir.glob("*.conf") if sid in p.name)
    assert re.findall(r"Clients = ([^;]+);", text) == ["fd8c:b029:bba6:ac54::1", "2001:db8::/48", "127.0.0.1"]
    assert_nfs_writable(share_api.server, share_api.mountpoint(sid))
    share_api.deny(sid, wide["id"])
    assert {r["id"] for r in share_api.rules(sid)} == {local["id"], host["id"], net["id"]}
    assert share_api.wait_rules_settled(sid)["access_rules_status"] == "active"
