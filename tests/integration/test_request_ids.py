"""Every response of a real `shoal serve` carries its request id, as Cinder and
Manila answer: `x-openstack-request-id` and `x-compute-request-id`, the same
`req-<uuid>`, a new one per request -- errors and version documents included."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.integration
REQ = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_every_response_carries_its_request_id(shoal_server):
    token = {"X-Auth-Token": f"admin:{shoal_server.project}"}
    paths = [
        ("GET", "/share/", 300), ("GET", "/volume/", 300),
        ("GET", f"/share/v2/{shoal_server.project}/shares", 200),
        ("GET", f"/volume/v3/{shoal_server.project}/volumes", 200),
        ("GET", f"/volume/v3/{shoal_server.project}/volumes/no-such-volume", 404),
        ("DELETE", f"/share/v2/{shoal_server.project}/shares/no-such-share", 404),
        ("POST", f"/volume/v3/{shoal_server.project}/volumes", 400),
    ]
    seen = set()
    with httpx.Client(base_url=shoal_server.url, headers=token, timeout=30) as client:
        for method, path, status in paths:
            response = client.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == status, (path, response.text)
            ids = {response.headers.get("x-openstack-request-id"), response.headers.get("x-compute-request-id")}
            assert len(ids) == 1 and REQ.fullmatch(ids.pop() or ""), (path, response.headers)
            seen.add(response.headers["x-openstack-request-id"])
    assert len(seen) == len(paths)  # one id per request
