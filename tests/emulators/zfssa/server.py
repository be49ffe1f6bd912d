"""The ZFSSA emulator as a whole: its pool, tgtd, ganesha and two HTTPS
listeners (REST and WebDAV), started and stopped together, plus the test hooks.

``ZfssaEmulator(name, workdir, cert, key)`` -> ``start()`` makes:

- a zpool of its own, ``zfssaemu<pid>n<k>``, on a sparse file in `workdir`;
- a private tgtd (portal 127.0.0.1:<free port>) and ganesha (free NFS/MOUNT
  ports), through the test fixtures' own starters (Shoal's TgtHelper and
  GaneshaHelper underneath);
- the REST listener on 127.0.0.1:<free port> (an appliance listens on 215) and
  the WebDAV listener on 127.0.0.1:<free port> (the http service's
  ``https_port``; an appliance uses 443), both TLS with the given certificate.

``stop()`` takes every target and export away, stops both daemons and destroys
the pool. Hooks: ``expire_sessions()``, ``busy(n)``, ``fail_next(...)``,
``hold_updates()``/``release_updates()`` (replication, see replication.py),
``calls`` (every REST call as (method, path, body)), ``dataset(project, name)``.
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from typing import Any

from tests.emulators.zfssa import replication, rest, webdav
from tests.emulators.zfssa.appliance import Appliance
from tests.emulators.zfssa.auth import Sessions
from tests.emulators.zfssa.exports import Exports
from tests.emulators.zfssa.injection import Injector
from tests.emulators.zfssa.san import San
from tests.emulators.zfssa.services import default_services
from tests.emulators.zfssa.tls import HttpsServer, server_context
from tests.emulators.zfssa.zpool import POOL_PREFIX, Pool, reap_stale_pools

HOST = "127.0.0.1"
_instances = itertools.count(1)


class _Listener:
    """One HTTPS listener in a thread of its own."""

    def __init__(self, name: str, handler: Any, context: Any):
        self.name, self.handler, self.context = name, handler, context
        self.server: HttpsServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1] if self.server else 0

    def up(self, port: int = 0) -> None:
        if self.server is not None and (port == 0 or port == self.port):
            return
        server = HttpsServer((HOST, port), self.handler, self.context)  # raises OSError when taken
        self.down()
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, name=f"zfssa-emulator-{self.name}", daemon=True)
        self.thread.start()

    def down(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            self.thread.join(timeout=10)


class ZfssaEmulator:
    def __init__(self, name: str, workdir: Path, cert_file: Path, key_file: Path,
                 user: str = "admin", password: str = "emulator-password", pool_size: str = "10G"):
        self.name = name
        self.workdir = workdir
        self.user, self.password = user, password
        self.pool = Pool(f"{POOL_PREFIX}{os.getpid()}n{next(_instances)}", workdir / "pool.img", pool_size)
        self.sessions = Sessions(user, password)
        self.injector = Injector()
        self.app = Appliance(self.pool, nodename=name)
        self.app.san = San()
        self.app.replication = replication.Replication(self.app)
        self.app.on_service_change = self._service_changed
        context = server_context(cert_file, key_file)
        self.front = rest.RestFront(self.app, rest.Router(replication.ROUTES), self.sessions, self.injector)
        self.rest = _Listener("rest", rest.handler_class(self.front), context)
        self.dav = webdav.Dav(self.app, self.sessions, self.injector)
        self.webdav = _Listener("webdav", webdav.handler_class(self.dav), context)
        self.tgt: Any = None
        self.ganesha: Any = None

    # ---- lifecycle -----------------------------------------------------------

    def start(self) -> ZfssaEmulator:
        from tests.fixtures import ganesha, tgtd

        reap_stale_pools()
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.pool.create()
            self.tgt = tgtd.start_instance()
            self.ganesha = ganesha.start_instance(self.workdir / "ganesha")
            self.app.exports = Exports(self.app, self.tgt, self.ganesha)
            self.rest.up()
            self.webdav.up()
            self.app.services = default_services(self.webdav.port)
            self.app.replication.register(self.password)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.app.replication.unregister()
        self.rest.down()
        self.webdav.down()
        errors = []
        if self.app.exports is not None:
            try:
                self.app.exports.clear()
            except Exception as exc:  # noqa: BLE001 - stop the daemons anyway
                errors.append(exc)
        for daemon in (self.tgt, self.ganesha):
            if daemon is not None:
                daemon.stop()
        self.tgt = self.ganesha = None
        self.app.exports = None
        self.pool.destroy()
        if errors:
            raise errors[0]

    def _service_changed(self, name: str) -> None:
        if name in ("iscsi", "nfs"):
            self.app.exports.sync()
        elif name == "http":
            svc = self.app.services["http"]
            if svc.status == "online":
                self.webdav.up(svc.props["https_port"])
            else:
                self.webdav.down()

    # ---- what tests need -----------------------------------------------------

    @property
    def port(self) -> int:
        return self.rest.port

    @property
    def webdav_port(self) -> int:
        return self.app.services["http"].props["https_port"]

    @property
    def iscsi_portal(self) -> str:
        return self.tgt.portal

    @property
    def replication_ip(self) -> str:
        """Where peers reach this emulator for replication (a replication target's hostname)."""
        return self.app.replication.address

    def dataset(self, project: str, name: str) -> str:
        """The real ZFS dataset behind a LUN or filesystem of this emulator."""
        return f"{self.pool.name}/{project}/{name}"

    def destroy_behind_back(self, project: str, name: str) -> None:
        """Make a LUN or filesystem vanish as if removed on the appliance's own console:
        its target LUN or export goes, then its dataset (whatever its nodestroy says)."""
        dataset = self.dataset(project, name)
        with self.app.lock:
            self.app.exports.take_out(dataset)
            self.pool.destroy_dataset(dataset, recursive=True)

    def expire_sessions(self) -> None:
        self.sessions.expire_all()

    def busy(self, times: int) -> None:
        self.injector.busy(times)

    def clear_failures(self) -> None:
        """Forget injected 503 bursts and failures not used up yet."""
        self.injector.clear()

    def fail_next(self, method: str, path_regex: str, status: int, times: int = 1) -> None:
        self.injector.fail_next(method, path_regex, status, times)

    def hold_updates(self) -> None:
        """Replication updates started from now on wait, `sending`, until released or cancelled."""
        self.app.replication.hold_updates()

    def release_updates(self) -> None:
        self.app.replication.release_updates()

    @property
    def calls(self) -> list[tuple[str, str, Any]]:
        return self.front.calls
