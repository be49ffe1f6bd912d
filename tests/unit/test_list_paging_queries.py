"""Share, volume and snapshot lists are paged by the database: every walk by `next`
links, in every sort order (ties, NULLs, both directions), gives the rows in the
order sorting all of them in Python gives, each once; a marker with an offset and
a limit cuts where it should; `count` is of every match; and a page costs the same
few SQL statements whether it holds 5 rows or 40 (no query per row: counted with
SQLAlchemy's cursor events). The app runs in this process in noauth mode on a
migrated SQLite file; the rows are inserted straight into it (no backend: a list
needs none)."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from shoal.app import create_app
from shoal.config import Settings
from shoal.db import models
from shoal.db.migrate import upgrade
from shoal.db.session import Database
from shoal.services import Services

PROJECT, OTHER = uuid.uuid4().hex, uuid.uuid4().hex
N = 40
SHARE_V = {"X-OpenStack-Manila-API-Version": "2.84"}
VOLUME_V = {"OpenStack-API-Version": "volume 3.71"}
T0 = datetime(2026, 1, 1)


def _common(i: int) -> dict:
    """Values with ties and NULLs in every sortable column."""
    return {"project_id": PROJECT, "user_id": "u", "size": 1 + i % 3, "status": ("available", "error")[i % 2],
            "name": None if i % 5 == 0 else f"name-{i % 7}", "created_at": T0 + timedelta(seconds=i // 4),
            "updated_at": None if i % 3 == 0 else T0 + timedelta(seconds=i % 6)}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('paging')}/shoal.db"
    upgrade(url)
    database = Database(url)
    settings = Settings(api={"auth": "noauth", "max_limit": 1000})
    services = Services(settings, drivers={}, database=database)
    services.share_types.bootstrap()
    services.volume_types.bootstrap()
    with database.session() as session:
        default = services.share_types.default(session)
        # a replicated type: the detail view then tells whether each share has replicas
        default.extra_specs = {**default.extra_specs, "replication_type": "readable"}
        share_type = default.id
        for i in range(N):
            share = models.Share(**_common(i), share_type_id=share_type, backend="b", pool=f"p{i % 2}",
                                 availability_zone=None if i % 4 == 0 else "nova", metadata_={"even": str(i % 2 == 0)})
            share.export_locations.append(models.ExportLocation(path=f"127.0.0.1:/s{i}"))
            session.add(share)
            session.flush()
            session.add(models.ShareSnapshot(**_common(i), share_id=share.id))
            volume = models.Volume(**_common(i), bootable=i % 2 == 0, metadata_={"even": str(i % 2 == 0)})
            session.add(volume)
            session.flush()
            volume.attachments.append(models.VolumeAttachment(attach_status="attached", instance_uuid=str(i)))
            session.add(models.VolumeSnapshot(**_common(i), volume_id=volume.id))
        # another project's rows and a soft-deleted share: in no list below
        session.add(models.Share(**{**_common(0), "project_id": OTHER}, share_type_id=share_type))
        session.add(models.Volume(**{**_common(0), "project_id": OTHER}))
        session.add(models.Share(**_common(1), share_type_id=share_type, is_soft_deleted=True))
    with TestClient(create_app(settings, services, start=False)) as client:
        yield client, database
    services.stop()
    database.engine.dispose()


@contextlib.contextmanager
def statements(database: Database):
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


def rows(database: Database, model) -> list:
    with database.session() as session:
        return list(session.query(model).where(model.project_id == PROJECT, *(
            [model.is_soft_deleted.is_(False)] if model is models.Share else [])))


def expected(items: list, key: str, direction: str, tie: str, more: tuple = ()) -> list[str]:
    """Upstream's order in Python: NULLs first ascending, last descending; ties by the
    keys in `more` ((key, direction) pairs), then by the id in direction `tie`."""
    ordered = sorted(items, key=lambda i: i.id, reverse=tie == "desc")
    for name, way in reversed(((key, direction), *more)):  # stable sorts: the first key sorted last
        ordered = sorted(ordered, key=lambda i, name=name: _value(getattr(i, name)), reverse=way == "desc")
    return [i.id for i in ordered]


def _value(v):
    return (0, "") if v is None else (1, v)


def walk(client: TestClient, path: str, key: str, headers: dict, **params) -> list[str]:
    found, url, first = [], path, True
    while url:
        answer = client.get(url, params=params if first else None, headers=headers)
        assert answer.status_code == 200, answer.text
        body, first = answer.json(), False
        found += [item["id"] for item in body[key]]
        links = [link["href"] for link in body.get(f"{key}_links", []) if link["rel"] == "next"]
        url = links[0] if links else None
    return found


SHARES = f"/share/v2/{PROJECT}/shares/detail"
VOLUMES = f"/volume/v3/{PROJECT}/volumes/detail"
VSNAPS = f"/volume/v3/{PROJECT}/snapshots/detail"


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("key", ["created_at", "updated_at", "name", "size", "status", "id", "availability_zone"])
def test_a_walk_by_next_links_gives_every_share_once_in_order(app, key, direction):
    client, database = app
    want = expected(rows(database, models.Share), key, direction, tie=direction)
    assert walk(client, SHARES, "shares", SHARE_V, sort_key=key, sort_dir=direction, limit=7) == want


@pytest.mark.parametrize("sort", ["created_at:desc", "name:asc", "name:desc", "updated_at:asc,size:desc",
                                  "bootable:desc,name:asc", "size"])
def test_a_walk_by_next_links_gives_every_volume_once_in_order(app, sort):
    client, database = app
    keys = [(k, d or "desc") for k, _, d in (item.partition(":") for item in sort.split(","))]
    want = expected(rows(database, models.Volume), *keys[0], tie="asc", more=tuple(keys[1:]))
    assert walk(client, VOLUMES, "volumes", VOLUME_V, sort=sort, limit=6) == want


@pytest.mark.parametrize("key", ["name", "created_at"])
def test_volume_snapshots_walk_in_order(app, key):
    client, database = app
    want = expected(rows(database, models.VolumeSnapshot), key, "desc", tie="asc")
    assert walk(client, VSNAPS, "snapshots", VOLUME_V, sort_key=key, sort_dir="desc", limit=9) == want


def test_share_snapshots_offset_and_limit(app):
    client, database = app
    want = expected(rows(database, models.ShareSnapshot), "size", "asc", tie="asc")
    got = client.get(f"/share/v2/{PROJECT}/snapshots", params={"sort_key": "size", "sort_dir": "asc", "offset": 5,
                                                                "limit": 10}, headers=SHARE_V).json()["snapshots"]
    assert [s["id"] for s in got] == want[5:15]


def test_a_marker_an_offset_and_a_limit_cut_where_upstream_cuts(app):
    client, database = app
    want = expected(rows(database, models.Share), "name", "asc", tie="asc")
    marker = want[10]
    page = client.get(SHARES, params={"sort_key": "name", "sort_dir": "asc", "marker": marker, "offset": 2,
                                      "limit": 3}, headers=SHARE_V).json()["shares"]
    assert [s["id"] for s in page] == want[13:16]
    # a marker outside the list: Manila's 400, Cinder's 404
    foreign = client.get(f"/share/v2/{OTHER}/shares", headers=SHARE_V).json()["shares"][0]["id"]
    assert client.get(SHARES, params={"marker": foreign}, headers=SHARE_V).status_code == 400
    volume = client.get(f"/volume/v3/{OTHER}/volumes", headers=VOLUME_V).json()["volumes"][0]["id"]
    assert client.get(VOLUMES, params={"marker": volume}, headers=VOLUME_V).status_code == 404


def test_filters_and_counts(app):
    client, database = app
    shares = rows(database, models.Share)
    answer = client.get(SHARES, params={"status": "error", "with_count": "true", "limit": 2}, headers=SHARE_V).json()
    assert len(answer["shares"]) == 2 and answer["count"] == sum(s.status == "error" for s in shares)
    # metadata: a JSON column, filtered in Python, paged and counted the same
    meta = client.get(SHARES, params={"metadata": "{'even': 'True'}", "with_count": "true", "limit": 4,
                                      "sort_key": "id", "sort_dir": "asc"}, headers=SHARE_V).json()
    evens = sorted(s.id for s in shares if s.metadata_["even"] == "True")
    assert [s["id"] for s in meta["shares"]] == evens[:4] and meta["count"] == len(evens)
    assert walk(client, SHARES, "shares", SHARE_V, metadata="{'even': 'True'}", sort_key="id", sort_dir="asc",
                limit=3) == evens
    # host (administrators): in SQL now, so the page and the count both honour it
    hosted = client.get(SHARES, params={"host": "shoal@b#p1", "with_count": "true", "limit": 100},
                        headers=SHARE_V).json()
    assert {s["host"] for s in hosted["shares"]} == {"shoal@b#p1"}
    assert hosted["count"] == len(hosted["shares"]) == sum(s.pool == "p1" for s in shares)
    volumes = rows(database, models.Volume)
    counted = client.get(VOLUMES, params={"bootable": "true", "with_count": "true", "limit": 1},
                         headers=VOLUME_V).json()
    assert counted["count"] == sum(v.bootable for v in volumes) and len(counted["volumes"]) == 1
    snaps = client.get(VSNAPS, params={"with_count": "true", "limit": 1}, headers=VOLUME_V).json()
    assert snaps["count"] == N and len(snaps["snapshots"]) == 1
    older = client.get(VSNAPS, params={"with_count": "true"}, headers={"OpenStack-API-Version": "volume 3.44"})
    assert "count" not in older.json()


@pytest.mark.parametrize("path,key,headers", [(SHARES, "shares", SHARE_V), (VOLUMES, "volumes", VOLUME_V),
                                              (VSNAPS, "snapshots", VOLUME_V),
                                              (f"/share/v2/{PROJECT}/snapshots/detail", "snapshots", SHARE_V)])
def test_a_page_costs_the_same_few_statements_whatever_its_size(app, path, key, headers):
    client, database = app
    first = client.get(path, params={"limit": 1}, headers=headers).json()[key][0]["id"]
    marker = {} if "share/v2" in path and key == "snapshots" else {"marker": first}
    cost = {}
    for limit in (5, 35):
        with statements(database) as seen:
            page = client.get(path, params={"limit": limit, **marker}, headers=headers).json()[key]
        assert len(page) == limit
        assert any(" LIMIT " in s for s in seen), "the page is not cut by the database"
        cost[limit] = len(seen)
    assert cost[5] == cost[35] <= 6, cost
    with statements(database) as seen:
        client.get(path, params={"limit": 5, "with_count": "true", **marker}, headers=headers)
    counts = {"snapshots": 1 if headers is VOLUME_V else 0}.get(key, 1)
    assert len(seen) == cost[5] + counts
