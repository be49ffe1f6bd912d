"""Query parameters are read through declared models, with Cinder's and Manila's own
400 messages, and the OpenAPI document names them.

In-process app (noauth, a migrated SQLite file, no backends: a list needs none);
one share, share snapshot, volume and volume snapshot row inserted straight into it,
so that the good queries below have something to page through."""

from __future__ import annotations

import warnings
from datetime import datetime

import pytest

from shoal.app import create_app
from shoal.config import Settings
from shoal.db import models
from shoal.db.migrate import upgrade
from shoal.db.session import Database
from shoal.services import Services

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PROJECT = "a" * 32
SHARE = {"X-OpenStack-Manila-API-Version": "2.84", "X-Auth-Token": f"admin:{PROJECT}"}
VOLUME = {"OpenStack-API-Version": "volume 3.71", "X-Auth-Token": f"admin:{PROJECT}"}
BIG = str(2**63)
MANILA_BOOL = ("Invalid input received: Unrecognized value 'maybe', acceptable values are: '0', '1', 'f', "
               "'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('queries')}/shoal.db"
    upgrade(url)
    database = Database(url)
    settings = Settings(api={"auth": "noauth"})
    services = Services(settings, drivers={}, database=database)
    services.share_types.bootstrap()
    services.volume_types.bootstrap()
    with database.session() as session:
        common = {"project_id": PROJECT, "user_id": "u", "size": 1, "status": "available", "name": "n",
                  "created_at": datetime(2026, 1, 1)}
        share = models.Share(**common, share_type_id=services.share_types.default(session).id, backend="b", pool="p")
        session.add(share)
        volume = models.Volume(**common)
        session.add(volume)
        session.flush()
        session.add(models.ShareSnapshot(**common, share_id=share.id))
        session.add(models.VolumeSnapshot(**common, volume_id=volume.id))
    with TestClient(create_app(settings, services, start=False)) as test_client:
        yield test_client
    services.stop()
    database.engine.dispose()


def refused(client, path: str, headers: dict, **params) -> str:
    reply = client.get(path, params=params, headers=headers)
    assert reply.status_code == 400, (path, params, reply.status_code, reply.text)
    (fault,) = reply.json().values()
    return fault["message"]


@pytest.mark.parametrize("path", ["/share/v2/shares", "/share/v2/shares/detail", "/share/v2/snapshots",
                                  "/share/v2/share-networks", "/share/v2/security-services", "/share/v2/messages",
                                  "/share/v2/share-groups", "/share/v2/resource-locks"])
def test_manila_paging_messages(client, path):
    assert refused(client, path, SHARE, limit="abc") == "limit param must be an integer"
    assert refused(client, path, SHARE, limit="-1") == "limit param must be positive"
    assert refused(client, path, SHARE, limit=BIG) == f"limit must be <= {2**63 - 1}"
    assert refused(client, path, SHARE, offset="x") == "offset param must be an integer"
    assert refused(client, path, SHARE, offset="-1") == "offset param must be positive"


@pytest.mark.parametrize("path", ["/volume/v3/volumes", "/volume/v3/volumes/detail", "/volume/v3/snapshots",
                                  "/volume/v3/manageable_volumes"])
def test_cinder_paging_messages(client, path):
    assert refused(client, path, VOLUME, limit="abc") == "limit param must be an integer"
    assert refused(client, path, VOLUME, limit="-1") == "limit param must be positive"
    assert refused(client, path, VOLUME, offset="x") == "offset must be an integer"
    assert refused(client, path, VOLUME, offset="-1") == "offset must be >= 0"
    assert refused(client, path, VOLUME, offset=str(2**31)) == "offset must be <= 2147483647"
    assert refused(client, path, VOLUME, sort_dir="sideways") == \
        "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'."


def test_booleans_are_olsos_in_both_apis(client):
    for path in ("/share/v2/shares", "/share/v2/snapshots", "/share/v2/share-groups"):
        assert refused(client, path, SHARE, all_tenants="maybe") == MANILA_BOOL
    assert refused(client, "/share/v2/shares", SHARE, with_count="maybe") == MANILA_BOOL
    assert refused(client, "/share/v2/shares", SHARE, is_public="maybe") == MANILA_BOOL
    for path in ("/volume/v3/volumes", "/volume/v3/snapshots", "/volume/v3/attachments", "/volume/v3/groups",
                 "/volume/v3/volumes/summary"):
        assert refused(client, path, VOLUME, all_tenants="maybe") == "Value 'maybe' for 'all_tenants' is not a boolean."
    assert refused(client, "/volume/v3/volumes", VOLUME, with_count="2") == "Value '2' for 'with_count' is not a boolean."
    assert refused(client, f"/volume/v3/os-quota-sets/{PROJECT}", VOLUME, usage="perhaps") == \
        "Value 'perhaps' for 'usage' is not a boolean."
    assert refused(client, "/volume/v3/scheduler-stats/get_pools", VOLUME, detail="x") == \
        "Value 'x' for 'detail' is not a boolean."
    # what oslo accepts, in any case; Manila reads an empty all_tenants as true
    for value in ("1", "0", "TRUE", "False", "yes", "No", "y", "n", "on", "OFF", "t", "f"):
        assert client.get("/share/v2/shares", params={"all_tenants": value}, headers=SHARE).status_code == 200
        assert client.get("/volume/v3/volumes", params={"all_tenants": value}, headers=VOLUME).status_code == 200
    assert client.get("/share/v2/shares", params={"all_tenants": ""}, headers=SHARE).status_code == 200
    assert refused(client, "/volume/v3/volumes", VOLUME, all_tenants="") == "Value '' for 'all_tenants' is not a boolean."


def test_sorting_and_sizes(client):
    assert refused(client, "/share/v2/shares", SHARE, sort_key="size", sort_dir="up") == (
        "Invalid input received: Wrong sorting data provided: sort key is 'size' and sort direction is 'up'.")
    assert refused(client, "/volume/v3/volumes", VOLUME, sort="size", sort_key="size") == (
        "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.")
    assert refused(client, "/volume/v3/volumes", VOLUME, sort="size:up") == \
        "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'."
    assert refused(client, "/share/v2/shares", SHARE, size="abc") == \
        "Invalid input received: size must be a non-negative integer below 2^63"
    assert refused(client, "/share/v2/shares", SHARE, size=BIG).startswith("Invalid input received: size")


def test_good_queries_still_list(client):
    shares = client.get("/share/v2/shares/detail", headers=SHARE, params={
        "limit": "5", "offset": "0", "sort_key": "size", "sort_dir": "asc", "size": "1", "with_count": "true",
        "all_tenants": "0", "name~": "n"}).json()
    assert len(shares["shares"]) == 1 and shares["count"] == 1
    assert len(client.get("/share/v2/snapshots", params={"limit": 1}, headers=SHARE).json()["snapshots"]) == 1
    volumes = client.get("/volume/v3/volumes", headers=VOLUME, params={
        "limit": "5", "offset": "0", "sort": "size:ASC,name", "with_count": "Yes"}).json()
    assert len(volumes["volumes"]) == 1 and volumes["count"] == 1
    assert client.get("/volume/v3/volumes", headers=VOLUME, params={"sort_dir": "ASC"}).status_code == 200
    assert len(client.get("/volume/v3/snapshots", params={"sort": "name:asc"}, headers=VOLUME).json()["snapshots"]) == 1


def test_the_openapi_document_names_the_query_parameters(client):
    paths = client.get("/openapi.json").json()["paths"]

    def query(path: str, method: str = "get") -> dict:
        return {p["name"]: p["schema"] for p in paths[path][method].get("parameters", []) if p["in"] == "query"}

    shares = query("/share/v2/shares/detail")
    assert shares["limit"] == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
    assert "true" in shares["all_tenants"]["enum"] and "with_count" in shares and "name~" in shares
    assert shares["sort_dir"] == {"type": "string", "enum": ["asc", "desc"]}
    assert {"limit", "offset", "sort", "sort_key", "sort_dir", "marker", "all_tenants", "with_count"} <= \
        set(query("/volume/v3/volumes"))
    assert {"cascade", "force"} <= set(query("/volume/v3/volumes/{volume_id}", "delete"))
    assert {"all_tenants", "volume_id"} <= set(query("/volume/v3/attachments"))
    assert {"user_id", "share_type"} <= set(query("/share/v2/quota-sets/{target_project}"))
    for path in ("/share/v2/snapshots", "/share/v2/share-networks", "/share/v2/messages", "/volume/v3/snapshots",
                 "/volume/v3/messages", "/volume/v3/{project_id}/volumes"):
        assert "limit" in query(path), path
