"""Big lists: GET /shares/detail and /volumes/detail of 1000 and of 10 000 rows of one
project, against the floor of the same SQL run by hand on the same database.

On a Shoal of the bench's own (bench/common.py), rows are inserted straight into its
SQLite database -- shares with one export location each, volumes -- with no backend
object behind them (a list needs none; provider_location NULL keeps recovery and the
checks away from them). Then, per size, in --rounds rounds, Shoal and the floor
taking turns to go first:

- first page: GET …/detail?limit=1000, upstream's page (osapi_max_limit; Cinder's
  without a limit too) and its `next` link;
- walk: every page, following the `next` links until a page has none;
- with_count: the first page and the total `count` (Manila 2.42, Cinder 3.45);
- shares, all in one request: GET /shares/detail with no limit, as manilaclient asks
  when given none (Manila's list is not cut then; Cinder's is, at 1000).

The floor is what Shoal asks the database, typed by hand with the sqlite3 module on
the same file: the page query (the row joined to its type, newest first, id as the
tie-break, the next page found by the last row's sort values), the page's export
locations or attachments, and `SELECT count(*)`; rows fetched into Python tuples.
What the ratio holds beyond it is Shoal's: HTTP, the views and JSON. Times are
medians; the ratio is the median of each round's ratio against its own floor. Shoal's
RSS is read before the rows go in and after each size's rounds.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_shoal  # noqa: E402
from scale import rss_mib  # noqa: E402

PAGE = 1000  # osapi_max_limit, Manila's and Cinder's default page
HEADERS = {"share": {"X-OpenStack-Manila-API-Version": "2.84"}, "volume": {"OpenStack-API-Version": "volume 3.71"}}

SHARE_PAGE = """SELECT s.*, t.* FROM shares s LEFT OUTER JOIN share_types t ON t.id = s.share_type_id
WHERE s.project_id = ? AND s.is_soft_deleted = 0 {after} ORDER BY s.created_at DESC, s.id DESC LIMIT ?"""
SHARE_AFTER = "AND s.created_at <= ? AND (s.created_at, s.id) < (?, ?)"
VOLUME_PAGE = """SELECT v.*, t.* FROM volumes v LEFT OUTER JOIN volume_types t ON t.id = v.volume_type_id
WHERE v.project_id = ? {after} ORDER BY v.created_at DESC, v.id ASC LIMIT ?"""
VOLUME_AFTER = "AND v.created_at <= ? AND (v.created_at < ? OR (v.created_at = ? AND v.id > ?))"
CHILDREN = {"shares": "SELECT * FROM share_export_locations WHERE share_id IN ({}) ORDER BY is_admin_only",
            "volumes": "SELECT * FROM volume_attachments WHERE volume_id IN ({}) ORDER BY created_at"}
COUNT = {"shares": "SELECT count(*) FROM shares WHERE project_id = ? AND is_soft_deleted = 0",
         "volumes": "SELECT count(*) FROM volumes WHERE project_id = ?"}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def shoal_pid(config: Path) -> int:
    for child in psutil.Process().children(recursive=True):
        if "serve" in child.cmdline() and str(config) in child.cmdline():
            return child.pid
    raise RuntimeError("the bench Shoal's process is not a child of this one")


class Rows:
    """The bench's rows, inserted with the sqlite3 module into Shoal's database file."""

    def __init__(self, path: Path, project: str):
        self.db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.project = project
        self.made = 0
        self.share_type = self.db.execute("SELECT id FROM share_types WHERE is_default").fetchone()[0]
        self.volume_type = self.db.execute("SELECT id FROM volume_types WHERE is_default").fetchone()[0]

    def top_up(self, total: int) -> None:
        """Shares (each with an export location) and volumes until each table holds `total`
        of the project's; created a second apart, a few at the same second (ties by id)."""
        start = datetime(2026, 1, 1)
        shares, locations, volumes = [], [], []
        for n in range(self.made, total):
            when = (start + timedelta(seconds=n - n % 3)).strftime("%Y-%m-%d %H:%M:%S.%f")
            share, volume = str(uuid.uuid4()), str(uuid.uuid4())
            shares.append((share, self.project, "bench", f"share-{n}", 1, "available", "NFS", self.share_type,
                           "nova", "test", "bench", 0, "{}", "active", 0, when))
            locations.append((str(uuid.uuid4()), share, f"127.0.0.1:/bench/share-{n}", 0, 0, when))
            volumes.append((volume, self.project, "bench", f"volume-{n}", 1, "available", "detached",
                            self.volume_type, "nova", "test", "bench", 0, 0, 0, "{}", when))
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT INTO shares (id, project_id, user_id, name, size, status, share_proto, share_type_id, "
            "availability_zone, backend, pool, is_public, metadata, access_rules_status, is_soft_deleted, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", shares)
        self.db.executemany(
            "INSERT INTO share_export_locations (id, share_id, path, is_admin_only, preferred, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", locations)
        self.db.executemany(
            "INSERT INTO volumes (id, project_id, user_id, name, size, status, attach_status, volume_type_id, "
            "availability_zone, backend, pool, bootable, readonly, multiattach, metadata, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", volumes)
        self.db.execute("COMMIT")
        self.made = total

    # -- the floor: the same SQL by hand ------------------------------------------------------

    def page(self, kind: str, last: tuple | None, limit: int | None = PAGE) -> list[tuple]:
        """One page; `last` = (created_at, id) of the page before's last row."""
        if kind == "shares":
            sql = SHARE_PAGE.format(after=SHARE_AFTER if last else "")
            args = (self.project, *((last[0], *last) if last else ()), -1 if limit is None else limit)
        else:
            sql = VOLUME_PAGE.format(after=VOLUME_AFTER if last else "")
            args = (self.project, *((last[0], last[0], *last) if last else ()), -1 if limit is None else limit)
        rows = self.db.execute(sql, args).fetchall()
        if rows:
            ids = [row[0] for row in rows]
            self.db.execute(CHILDREN[kind].format(", ".join("?" * len(ids))), ids).fetchall()
        return rows

    def walk(self, kind: str) -> int:
        created = self._column(kind, "created_at")  # the row's own columns come first in the page query
        pages, last = 0, None
        while True:
            rows = self.page(kind, last)
            pages += 1
            if len(rows) < PAGE:
                return pages
            last = (rows[-1][created], rows[-1][0])

    def count(self, kind: str) -> int:
        return self.db.execute(COUNT[kind], (self.project,)).fetchone()[0]

    def _column(self, kind: str, name: str) -> int:
        return [row[1] for row in self.db.execute(f"PRAGMA table_info({kind})")].index(name)


class Api:
    def __init__(self, url: str, project: str):
        self.clients = {api: httpx.Client(base_url=f"{url}/{api}/{major}/{project}", timeout=300,
                                          headers=HEADERS[api]) for api, major in (("share", "v2"), ("volume", "v3"))}

    def get(self, api: str, path: str, **params) -> httpx.Response:
        response = self.clients[api].get(path, params=params or None)
        response.raise_for_status()
        return response

    def walk(self, api: str, kind: str, params: dict) -> int:
        url, pages = f"/{kind}/detail", 0
        while url:
            body = self.get(api, url, **(params if pages == 0 else {})).json()
            pages += 1
            links = [link["href"] for link in body.get(f"{kind}_links", []) if link["rel"] == "next"]
            url = links[0] if links else None  # absolute: httpx takes it as it is
        return pages


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def measure(api: Api, rows: Rows, rounds: int, size: int, figures: dict) -> None:
    for kind, service in (("shares", "share"), ("volumes", "volume")):
        first = {"limit": PAGE}  # Cinder's page without it too; Manila's list is whole without it
        steps = {
            "first page": (lambda: len(api.get(service, f"/{kind}/detail", **first).json()[kind]),
                           lambda: len(rows.page(kind, None))),
            "walk by next links": (lambda: api.walk(service, kind, first), lambda: rows.walk(kind)),
            "first page + with_count": (
                lambda: api.get(service, f"/{kind}/detail", **first, with_count="true").json()["count"],
                lambda: (rows.page(kind, None), rows.count(kind))[1]),
        }
        expected = {"first page": min(size, PAGE), "walk by next links": size // PAGE + 1,  # the last page short
                    "first page + with_count": size}
        if kind == "shares":  # what manilaclient asks when given no --limit
            steps["all in one request, no limit"] = (lambda: len(api.get(service, "/shares/detail").json()[kind]),
                                                     lambda: len(rows.page(kind, None, limit=None)))
            expected["all in one request, no limit"] = size
        for what, (shoal, floor) in steps.items():
            pairs = []
            for index in range(rounds):
                order = (("shoal", shoal), ("floor", floor))
                times = {}
                for name, step in order if index % 2 == 0 else order[::-1]:
                    time.sleep(0.2)
                    times[name], value = timed(step)
                    assert value == expected[what], (kind, what, name, value, expected[what])
                pairs.append((times["shoal"], times["floor"]))
            figures[f"GET /{kind}/detail of {size}: {what}"] = pairs
            shoal_s = statistics.median(p[0] for p in pairs)
            floor_s = statistics.median(p[1] for p in pairs)
            say(f"{kind} of {size}, {what}: Shoal {shoal_s * 1000:.1f} ms, floor {floor_s * 1000:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    load = os.getloadavg()
    figures: dict[str, list[tuple[float, float]]] = {}
    memory: list[tuple[str, float]] = []
    with bench_shoal(pool_size="1G") as shoal:
        pid = shoal_pid(shoal.work / "shoal.toml")
        rows = Rows(shoal.work / "shoal.db", shoal.project)
        api = Api(shoal.url, shoal.project)
        memory.append(("before the rows", rss_mib(pid)))
        for size in sizes:
            rows.top_up(size)
            say(f"{size} shares and {size} volumes in the database")
            measure(api, rows, args.rounds, size, figures)
            memory.append((f"after the lists of {size}", rss_mib(pid)))
    print(f"listing: {args.rounds} rounds, load average at start {load[0]:.2f}; "
          "ratio = median of per-round Shoal / floor (the same SQL by hand)")
    print(f"{'measurement':<58}{'shoal ms':>10}{'floor ms':>10}{'ratio':>8}")
    for what, pairs in figures.items():
        shoal_ms = statistics.median(p[0] for p in pairs) * 1000
        floor_ms = statistics.median(p[1] for p in pairs) * 1000
        ratio = statistics.median(p[0] / p[1] for p in pairs)
        print(f"{what:<58}{shoal_ms:>10.1f}{floor_ms:>10.1f}{ratio:>8.1f}")
    print("Shoal's RSS: " + ", ".join(f"{what} {mib:.0f} MiB" for what, mib in memory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
