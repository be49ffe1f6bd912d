"""The StorPool API emulator's HTTP server: ``/ctrl/1.0/[MultiCluster/]<Query>[/<arg>]``.

What it speaks (cinder/os-brick §4.3, ``storpool.spapi`` 7.3.0 §4.8):

- every call needs ``Authorization: Storpool v1:<token>``; a missing or wrong
  token answers HTTP 401 ``{"error": {"name": "authorizationFailed", ...}}``
  (the name is the emulator's own: no source read names StorPool's);
- success is HTTP 200 ``{"data": ...}``; POSTs answer ``ApiOk``
  (``{"ok": true, "generation": N}``, plus ``globalId``/``autoName`` for
  VolumeCreate and ``snapshotGlobalId``/``snapshotVisibleVolumeId`` for
  VolumeSnapshot);
- errors are ``{"error": {"name", "descr", "transient"}}``: objectDoesNotExist
  (404), objectExists (409), busy (409), invalidParam (400), injected transient
  errors (503);
- calls flagged multiCluster in spapi answer both with and without the
  ``MultiCluster/`` segment; the others (DisksList, VolumeTemplatesList,
  SnapshotUpdate, ...) only without it, as os-brick calls them;
- a POST body must be JSON of the call's type: os-brick's ``_api_call``
  JSON-encodes an already encoded body again when it retries, so a retried
  POST carries a JSON *string*; the emulator answers that with invalidParam,
  as a StorPool expecting an object would refuse it;
- GET may carry ``?json=<urlencoded>`` (spapi's form); the emulator reads no
  GET arguments.

Test hooks (thread-safe): ``fail_next(n, ...)`` makes the next n calls answer
an error (transient by default), ``down()``/``up()`` close and reopen the
listening socket (clients get ECONNREFUSED in between), ``requests`` records
every authenticated call, ``store`` is the state (templates, disks, volumes).
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.emulators.storpool import devices
from tests.emulators.storpool.devices import LocalClient
from tests.emulators.storpool.storage import FileStorage
from tests.emulators.storpool.store import (
    AG_SIZE,
    ApiError,
    Disk,
    Store,
    Template,
    invalid,
)
from tests.emulators.storpool.zvols import Run, ZvolClient, ZvolStorage

PREFIX = "/ctrl/1.0/"
_instances = itertools.count(1)


class EmulatorRefused(RuntimeError):
    """The StorPool emulator will not start on this host (a real StorPool's devices are there)."""


def default_templates() -> list[Template]:
    """The StorPool emulator's templates at start: two, as a small hybrid cluster would have."""
    return [
        Template(name="hybrid", replication=3, placeAll="hdd", placeTail="ssd", placeHead="hdd", id=1),
        Template(name="ssd", replication=2, placeAll="ssd", placeTail="ssd", placeHead="ssd", id=2),
    ]


def default_disks() -> list[Disk]:
    """The StorPool emulator's disks at start: three servers with two disks of 1000 AGs (500 GiB) each."""
    return [Disk(id=server * 100 + n, serverId=server, agCount=1000, agAllocated=100 * n, ssd=n == 1)
            for server in (1, 2, 3) for n in (1, 2)]


class _Route:
    def __init__(self, method: str, multi_cluster: bool, arg: bool, handler: Callable[..., Any]):
        self.method, self.multi_cluster, self.arg, self.handler = method, multi_cluster, arg, handler


class StorPoolEmulator:
    """A StorPool API emulator on 127.0.0.1:<free port>, its data in `<pool>/storpool-emu-<pid>-<n>`.

    ``local_client_id`` is the client id of this host (the SP_OURID the client
    config gives): attachments to it become loop devices under /dev/storpool.
    Other ids in ``other_clients`` are hosts of the cluster that exist only as
    bookkeeping (attachments are recorded, no device is made).

    ``zvols_on``, if given, runs commands on a host with kernel OpenZFS (the
    kernel lane's guest over SSH): `pool` is a dataset there, volumes are zvols,
    and attachments to the local client id are that host's zvol devices under
    its /dev/storpool (zvols.py). The API is still served here.
    """

    def __init__(self, pool: str, token: str | None = None, local_client_id: int = 1,
                 other_clients: tuple[int, ...] = (2, 3), zvols_on: Run | None = None):
        self.instance = f"{os.getpid()}-{next(_instances)}"
        self.pool = pool
        self.root = f"{pool}/storpool-emu-{self.instance}"
        self.token = token or str(secrets.randbelow(10**18) + 10**18)
        self.local_client_id = local_client_id
        self.other_clients = other_clients
        self.host = "127.0.0.1"
        self.port = 0
        self.requests: list[tuple[str, str, Any]] = []
        self._failures: list[tuple[int, ApiError, set[str] | None]] = []
        self._hook_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.zvols_on = zvols_on
        self.store: Store | None = None
        self.client: LocalClient | ZvolClient | None = None
        self.storage: FileStorage | ZvolStorage | None = None
        self._routes = self._make_routes()

    # ---- lifecycle -----------------------------------------------------

    def start(self) -> StorPoolEmulator:
        """Check the host, create the emulator's dataset and start serving."""
        if self.zvols_on is None:
            devices.reap_dead_ledgers()
            foreign = devices.foreign_entries()
        else:
            foreign = ZvolClient(self.zvols_on).foreign_entries()
        if foreign:
            raise EmulatorRefused(
                "the StorPool emulator will not share /dev/storpool with devices it did not make "
                f"(a real StorPool client?): {', '.join(foreign[:5])}")
        storage = FileStorage(self.root) if self.zvols_on is None else ZvolStorage(self.root, self.zvols_on)
        storage.create_root()
        self.storage = storage
        try:
            self.client = LocalClient(self.instance) if self.zvols_on is None else ZvolClient(self.zvols_on)
            self.store = Store(self.root, storage, location=f"e{int(self.instance.split('-')[0]):x}",
                               cluster=self.instance.split("-")[1], local_client_id=self.local_client_id,
                               clients={self.local_client_id, *self.other_clients}, client=self.client)
            self._defaults()
            self.up()
        except BaseException:
            self.stop()
            raise
        return self

    def _defaults(self) -> None:
        assert self.store is not None
        self.store.templates = {t.name: t for t in default_templates()}
        self.store.disks = {d.id: d for d in default_disks()}

    def reset(self) -> None:
        """Back to the emulator's start state: no volumes, snapshots or attachments, default
        templates and disks, no pending failures, the API up, an empty request log."""
        self.up()
        with self._hook_lock:
            self._failures.clear()
        assert self.store is not None
        with self.store.lock:
            self.store.clear()
            self._defaults()
        self.requests.clear()

    def stop(self) -> None:
        """Stop serving, remove every device and symlink the emulator made, destroy its dataset."""
        self.down()
        if self.store is not None:
            with self.store.lock:
                try:
                    self.store.clear()
                finally:
                    self.store = None
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.storage is not None:
            self.storage.destroy_root()
            self.storage = None

    def up(self) -> None:
        """(Re)open the emulator's listening socket on its port (a free one the first time)."""
        if self._server is not None:
            return
        server = ThreadingHTTPServer((self.host, self.port), self._handler_class())
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="storpool-emulator", daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Close the emulator's listening socket: calls get ECONNREFUSED until up()."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=10)

    # ---- test hooks ----------------------------------------------------

    def fail_next(self, count: int = 1, name: str = "clusterNotReady",
                  descr: str = "injected by the StorPool emulator", transient: bool = True,
                  calls: set[str] | None = None) -> None:
        """Make the next `count` emulator calls (only of the queries in `calls`, e.g.
        {"VolumeCreate"}, if given) answer this error instead of running."""
        with self._hook_lock:
            self._failures.append((count, ApiError(name, descr, transient=transient), calls))

    def _injected(self, query: str) -> ApiError | None:
        with self._hook_lock:
            for i, (count, err, calls) in enumerate(self._failures):
                if calls is None or query in calls:
                    if count <= 1:
                        del self._failures[i]
                    else:
                        self._failures[i] = (count - 1, err, calls)
                    return err
        return None

    def calls(self, query: str | None = None) -> list[tuple[str, str, Any]]:
        """The emulator's recorded (method, path, body) calls, optionally of one query."""
        if query is None:
            return list(self.requests)
        return [r for r in self.requests if _query_of(r[1]) == query]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment that points os-brick's storpool_utils at this emulator."""
        return {"SP_API_HTTP_HOST": self.host, "SP_API_HTTP_PORT": str(self.port), "SP_AUTH_TOKEN": self.token}

    def stats_numbers(self) -> dict[str, int]:
        """What §4.6 computes from DisksList (bytes), for tests of the driver's stats."""
        assert self.store is not None
        up = [d for d in self.store.disks.values() if d.up]
        return {
            "total": sum(d.agCount for d in up) * AG_SIZE,
            "used": sum(d.agAllocated for d in up) * AG_SIZE,
            "free": sum(d.agCount - d.agAllocated for d in up) * AG_SIZE,
        }

    # ---- routing -------------------------------------------------------

    def _make_routes(self) -> dict[str, _Route]:
        s = lambda: self.store

        def obj_list(table: str) -> Callable[[], Any]:
            return lambda: [o.summary() for o in getattr(s(), table).values()]

        return {
            "DisksList": _Route("GET", False, False, lambda: {str(d.id): d.to_json() for d in s().disks.values()}),
            "VolumeTemplatesList": _Route("GET", False, False,
                                          lambda: [t.to_json() for t in s().templates.values()]),
            "VolumeTemplatesStatus": _Route("GET", False, False, lambda: s().templates_status()),
            "VolumeTemplateDescribe": _Route("GET", False, True, lambda n: s()._template(n).to_json()),
            "VolumesList": _Route("GET", True, False, obj_list("volumes")),
            "Volume": _Route("GET", True, True, lambda n: [s().volume(n).summary()]),
            "VolumeDescribe": _Route("GET", True, True, lambda n: s().describe(s().volume(n))),
            "VolumeGetInfo": _Route("GET", True, True, lambda n: s().info(s().volume(n))),
            "VolumeListSnapshots": _Route("GET", False, True, lambda n: s().list_snapshots_of(n)),
            "VolumesGetStatus": _Route("GET", True, False, lambda: s().statuses()),
            "SnapshotsList": _Route("GET", True, False, obj_list("snapshots")),
            "Snapshot": _Route("GET", True, True, lambda n: [s().snapshot(n).summary()]),
            "SnapshotDescribe": _Route("GET", True, True, lambda n: s().describe(s().snapshot(n))),
            "SnapshotGetInfo": _Route("GET", True, True, lambda n: s().info(s().snapshot(n))),
            "AttachmentsList": _Route("GET", True, False, lambda: s().attachments_list()),
            "ServicesList": _Route("GET", False, False, lambda: s().services()),
            "ClientsConfigDump": _Route("GET", False, False, lambda: s().clients_config()),
            "VolumeCreate": _Route("POST", True, False, lambda body: s().volume_create(body)),
            "VolumeUpdate": _Route("POST", True, True, lambda n, body: s().volume_update(n, body)),
            "VolumeDelete": _Route("POST", True, True, lambda n, body: s().volume_delete(n)),
            "VolumeRevert": _Route("POST", True, True, lambda n, body: s().volume_revert(n, body)),
            "VolumeSnapshot": _Route("POST", True, True, lambda n, body: s().snapshot_create(n, body)),
            "SnapshotUpdate": _Route("POST", False, True, lambda n, body: s().snapshot_update(n, body)),
            "SnapshotDelete": _Route("POST", True, True, lambda n, body: s().snapshot_delete(n)),
            "SnapshotDeleteById": _Route("POST", False, True, lambda n, body: s().snapshot_delete_by_id(n)),
            "VolumesReassign": _Route("POST", True, False, lambda body: s().reassign(body)),
            "VolumesReassignWait": _Route("POST", True, False, lambda body: s().reassign(_wait_entries(body))),
        }

    def dispatch(self, method: str, path: str, headers: Any, raw_body: bytes) -> tuple[int, Any]:
        """One emulator call: (HTTP status, JSON answer)."""
        if headers.get("Authorization") != f"Storpool v1:{self.token}":
            return 401, ApiError("authorizationFailed", "Invalid or missing authorization token",
                                 status=401).body()
        try:
            route, query, arg, body = self._parse(method, path, raw_body)
            self.requests.append((method, path, body))
            injected = self._injected(query)
            if injected is not None:
                raise injected
            assert self.store is not None
            with self.store.lock:
                args = ([arg] if route.arg else []) + ([body] if route.method == "POST" else [])
                data = route.handler(*args)
            return 200, {"data": data}
        except ApiError as err:
            return err.status, err.body()
        except Exception as exc:  # noqa: BLE001 - an emulator bug must reach the test as an answer
            return 500, ApiError("internalError", f"StorPool emulator failure: {type(exc).__name__}: {exc}").body()

    def _parse(self, method: str, path: str, raw_body: bytes) -> tuple[_Route, str, str | None, Any]:
        url = urlsplit(path)
        if not url.path.startswith(PREFIX):
            raise ApiError("invalidParam", f"Unknown path {url.path}", status=404)
        rest = url.path[len(PREFIX):]
        multi = rest.startswith("MultiCluster/")
        if multi:
            rest = rest[len("MultiCluster/"):]
        if rest.startswith("RemoteCommand/"):
            raise ApiError("invalidParam", "RemoteCommand/ is not emulated", status=404)
        query, _, arg = rest.partition("/")
        route = self._routes.get(query)
        if route is None or (multi and not route.multi_cluster):
            raise ApiError("invalidParam", f"Unknown API call {'MultiCluster/' if multi else ''}{query} "
                                           "(or not emulated)", status=404)
        if method != route.method:
            raise invalid(f"{query} is a {route.method} call, not {method}")
        if route.arg and not arg:
            raise invalid(f"{query} needs an argument: {query}/<name>")
        if not route.arg and arg:
            raise invalid(f"{query} takes no argument")
        body = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError as exc:
                raise invalid(f"Invalid JSON in the request body: {exc}") from None
        return route, query, unquote(arg) if arg else None, body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            """One connection to the StorPool API emulator."""

            server_version = "StorPoolEmulator/1.0"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, answer = emulator.dispatch(self.command, self.path, self.headers, raw)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _query_of(path: str) -> str:
    rest = urlsplit(path).path[len(PREFIX):]
    rest = rest.removeprefix("MultiCluster/")
    return rest.partition("/")[0]


def _wait_entries(body: Any) -> Any:
    if not isinstance(body, dict) or "reassign" not in body:
        raise invalid("VolumesReassignWait expects {\"reassign\": [...], \"attachTimeout\"?: N}")
    if set(body) - {"reassign", "attachTimeout"}:
        raise invalid(f"VolumesReassignWaitDesc: unknown field(s) {', '.join(sorted(set(body) - {'reassign', 'attachTimeout'}))}")
    return body["reassign"]
