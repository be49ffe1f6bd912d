"""Share lists filter and page as Manila's do: by an export location's id or path
(2.35+), by description (2.36+), with the total `count` (2.42+), and a `next`
link in `shares_links` when a page comes back full."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse

import pytest

from .share_helpers import share_api  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

V = "X-OpenStack-Manila-API-Version"


def test_filters_count_and_next_links(share_api):
    api, client = share_api, share_api.client
    tag = uuid.uuid4().hex[:8]
    first = api.create_share(name=f"{tag}-1", description=f"first {tag}")
    second = api.create_share(name=f"{tag}-2", description=f"second {tag}")
    (location,) = [e for e in client.get(f"/shares/{first['id']}/export_locations").json()["export_locations"]
                   if not e["is_admin_only"]]
    for path in ("/shares", "/shares/detail"):
        for key in ("id", "path"):
            found = client.get(path, params={f"export_location_{key}": location[key]}).json()["shares"]
            assert [s["id"] for s in found] == [first["id"]], (path, key, found)
            # not a filter before 2.35: ignored
            old = client.get(path, params={f"export_location_{key}": location[key]}, headers={V: "2.34"})
            assert {first["id"], second["id"]} <= {s["id"] for s in old.json()["shares"]}
        found = client.get(path, params={"description~": f"second {tag}"}).json()["shares"]
        assert [s["id"] for s in found] == [second["id"]]

    counted = client.get("/shares", params={"name~": tag, "with_count": "true", "limit": 1}).json()
    assert counted["count"] == 2 and len(counted["shares"]) == 1
    assert "count" not in client.get("/shares", params={"with_count": "true"}, headers={V: "2.41"}).json()

    # a full page has a next link that carries on after its last share; the last page has none
    page = client.get("/shares", params={"name~": tag, "limit": 1, "sort_key": "name", "sort_dir": "asc"}).json()
    assert [s["id"] for s in page["shares"]] == [first["id"]]
    (link,) = page["shares_links"]
    assert link["rel"] == "next"
    query = parse_qs(urlparse(link["href"]).query)
    assert query["marker"] == [first["id"]] and query["limit"] == ["1"] and query["name~"] == [tag]
    rest = client.get("/shares", params={k: v[0] for k, v in query.items()}).json()
    assert [s["id"] for s in rest["shares"]] == [second["id"]]
    last = client.get("/shares", params={**{k: v[0] for k, v in query.items()}, "marker": second["id"]}).json()
    assert last == {"shares": []}
    assert "shares_links" not in client.get("/shares", params={"name~": tag, "limit": 5}).json()
    api.delete_share(first["id"])
    api.delete_share(second["id"])
