"""Answers in Cinder's shape, as Tempest's response schemas check them.

The story: a client at microversion 3.0 gets `OpenStack-API-Version: volume 3.0` back on
every answer -- a 202 or 204 without a body and an error included. A snapshot's create,
update and plain-list answers carry no `os-extended-snapshot-attributes:*`; its show and
detailed list do. Paging with `limit` gives a `next` link that, followed, gives the next
page; an unknown `marker` is 404 for volumes and snapshots alike, and so is an empty id
(`/volumes/`). A volume that cannot be
placed leaves a user message that names the request that created it and how long it is
kept; the services say when they were last heard from.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlparse

import pytest

from .volume_helpers import cinder, fault, messages_for, volume_api, wait_for_status  # noqa: F401 - fixture

pytestmark = pytest.mark.integration
EXTENDED = {"os-extended-snapshot-attributes:progress", "os-extended-snapshot-attributes:project_id"}


def test_every_answer_at_3_0_announces_its_version(volume_api):
    with cinder(volume_api.server, version="3.0") as old:
        volume = volume_api.create_volume(1)
        answers = [
            old.get("/volumes"),  # 200 with a body
            old.put(f"/volumes/{volume['id']}/metadata/k", json={"meta": {"k": "v"}}),
            old.delete(f"/volumes/{volume['id']}/metadata/k"),  # 200 without a body
            old.post(f"/volumes/{volume['id']}/action", json={"os-reset_status": {"status": "available"}}),  # 202
            old.get("/volumes/no-such-volume"),  # an error
            old.post("/volumes", json={"volume": {"size": "big"}}),  # a refused body
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 202, 404, 400], [a.text for a in answers]
        for answer in answers:
            assert answer.headers.get("openstack-api-version") == "volume 3.0", (answer.request.url, answer.headers)
        # a 406 says the newest version served
        too_new = old.get("/volumes", headers={"OpenStack-API-Version": "volume 9.0"})
        assert too_new.status_code == 406 and too_new.headers["openstack-api-version"] == "volume 3.71"
        # an update answers as a create does: without the attributes of Cinder's extensions
        updated = old.put(f"/volumes/{volume['id']}", json={"volume": {"name": "renamed"}}).json()["volume"]
        assert updated["name"] == "renamed" and not {k for k in updated if k.startswith("os-vol-")}, updated
        assert "os-vol-tenant-attr:tenant_id" in old.get(f"/volumes/{volume['id']}").json()["volume"]
    with cinder(volume_api.server, version="3.55") as newer:
        assert newer.delete(f"/volumes/{volume['id']}/metadata/nothing").headers["openstack-api-version"] == \
            "volume 3.55"


def test_an_empty_id_names_no_resource(volume_api):
    """`/volumes/` is no volume (404), not the list nor a method not allowed."""
    client = volume_api.client
    for path in ("/volumes/", "/snapshots/", "/types/"):
        fault(client.get(path), 404)
        fault(client.put(path, json={}), 404)
        fault(client.delete(path), 404)
    assert client.get("/volumes").status_code == 200


def test_snapshot_answers_carry_the_extended_attributes_only_where_cinder_does(volume_api):
    tag = uuid.uuid4().hex[:6]
    volume = volume_api.create_volume(1)
    with cinder(volume_api.server, version="3.0") as old:
        created = old.post("/snapshots", json={"snapshot": {"volume_id": volume["id"], "name": f"s-{tag}"}})
        assert created.status_code == 202, created.text
        snap = created.json()["snapshot"]
        assert not EXTENDED & set(snap), snap
        wait_for_status(old, f"/snapshots/{snap['id']}", "available")
        shown = old.get(f"/snapshots/{snap['id']}").json()["snapshot"]
        assert shown["os-extended-snapshot-attributes:progress"] == "100%"
        assert shown["os-extended-snapshot-attributes:project_id"] == volume_api.server.project
        updated = old.put(f"/snapshots/{snap['id']}", json={"snapshot": {"name": f"t-{tag}"}}).json()["snapshot"]
        assert updated["name"] == f"t-{tag}" and not EXTENDED & set(updated)
        plain = [s for s in old.get("/snapshots").json()["snapshots"] if s["id"] == snap["id"]]
        detailed = [s for s in old.get("/snapshots/detail").json()["snapshots"] if s["id"] == snap["id"]]
        assert plain and not EXTENDED & set(plain[0])
        assert detailed and EXTENDED <= set(detailed[0])
        # Cinder looks the volume up first: a snapshot of no volume is 404
        fault(old.post("/snapshots", json={"snapshot": {"name": "orphan"}}), 404)
        # the creator of an assisted snapshot reports its status and progress
        assert volume_api.client.post(f"/snapshots/{snap['id']}/action",
                                      json={"os-reset_status": {"status": "creating"}}).status_code == 202
        report = old.post(f"/snapshots/{snap['id']}/action",
                          json={"os-update_snapshot_status": {"status": "error", "progress": "80%"}})
        assert report.status_code == 202, report.text
        shown = old.get(f"/snapshots/{snap['id']}").json()["snapshot"]
        assert (shown["status"], shown["os-extended-snapshot-attributes:progress"]) == ("error", "80%")
        # from error nothing may be reported any more
        fault(old.post(f"/snapshots/{snap['id']}/action",
                       json={"os-update_snapshot_status": {"status": "available"}}), 400)
        # snapshot metadata, item by item
        assert old.put(f"/snapshots/{snap['id']}/metadata/colour", json={"meta": {"colour": "red"}}).json() == \
            {"meta": {"colour": "red"}}
        assert old.get(f"/snapshots/{snap['id']}/metadata/colour").json() == {"meta": {"colour": "red"}}
        fault(old.put(f"/snapshots/{snap['id']}/metadata/colour", json={"meta": {"shape": "round"}}), 400)
        assert old.delete(f"/snapshots/{snap['id']}/metadata/colour").status_code == 200
        fault(old.get(f"/snapshots/{snap['id']}/metadata/colour"), 404)
        fault(old.delete(f"/snapshots/{snap['id']}/metadata/colour"), 404)
        assert old.get(f"/snapshots/{snap['id']}/metadata").json() == {"metadata": {}}


def _pages(client, path: str, ids: set[str]) -> list[list[str]]:
    """Follow `next` links from `path?limit=1` (only our ids counted); the pages seen."""
    pages, url = [], f"{path}?limit=1&sort=created_at:asc" if path.startswith("/volumes") else \
        f"{path}?limit=1&sort_key=created_at&sort_dir=asc"
    key = path.strip("/").split("/")[0]
    while url:
        body = client.get(url).json()
        pages.append([item["id"] for item in body[key] if item["id"] in ids])
        links = [link["href"] for link in body.get(f"{key}_links", []) if link["rel"] == "next"]
        assert len(body[key]) <= 1
        if links:
            parsed = urlparse(links[0])
            assert parsed.path.endswith(path) and "marker=" in parsed.query and "limit=1" in parsed.query
            url = f"{path}?{parsed.query}"
        else:
            url = None
    return pages


def test_paging_follows_next_links_and_an_unknown_marker_is_404(volume_api):
    # a project of its own, so that the pages hold only this test's volumes
    project = uuid.uuid4().hex
    with cinder(volume_api.server, project=project) as client:
        from .volume_helpers import VolumeApi

        api = VolumeApi(volume_api.server, client)
        volumes = [api.create_volume(1)["id"] for _ in range(3)]
        snaps = [api.create_snapshot(volumes[0])["id"] for _ in range(2)]
        try:
            for path in ("/volumes", "/volumes/detail"):
                pages = _pages(client, path, set(volumes))
                # a full page always links on (Cinder too): the last page is empty
                assert [p for p in pages if p] == [[v] for v in volumes] and pages[-1] == [], pages
            for path in ("/snapshots", "/snapshots/detail"):
                pages = _pages(client, path, set(snaps))
                assert [p for p in pages if p] == [[s] for s in snaps] and pages[-1] == [], pages
            assert "volumes_links" not in client.get("/volumes").json()  # no limit, no paging
            unknown = str(uuid.uuid4())
            for path in ("/volumes", "/volumes/detail", "/snapshots", "/snapshots/detail"):
                fault(client.get(path, params={"marker": unknown}), 404)
            # snapshots sort by their old name key too
            names = client.get("/snapshots", params={"sort_key": "display_name", "sort_dir": "asc"})
            assert names.status_code == 200, names.text
        finally:
            for snap in snaps:
                api.delete_snapshot(snap)
            for vid in volumes:
                api.delete_volume(vid)


def test_a_user_message_names_its_request_and_the_services_their_heartbeat(volume_api):
    client = volume_api.client
    vtype = volume_api.create_type(f"nowhere-{uuid.uuid4().hex[:6]}", {"volume_backend_name": "no-such-backend"})
    created = client.post("/volumes", json={"volume": {"size": 1, "volume_type": vtype["id"]}})
    assert created.status_code == 202, created.text
    volume_id = created.json()["volume"]["id"]
    volume_api.wait_volume(volume_id, "error")
    (msg,) = messages_for(client, volume_id)
    assert msg["request_id"] == created.headers["x-openstack-request-id"]
    assert msg["guaranteed_until"] > msg["created_at"]
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
    services = client.get("/os-services").json()["services"]
    assert services and all(stamp.match(s["updated_at"] or "") for s in services), services
    volume_api.delete_volume(volume_id)
