"""ZFSSA emulator: WebDAV on its filesystems, ``https://127.0.0.1:<https_port>/shares<mountpoint>/<path>``.

The http service's listener (§3.3): GET (a file, or 200 for a directory that
exists), PUT, DELETE, MKCOL, PROPFIND (Depth 0 or 1), PROPPATCH, COPY and MOVE
(``Destination`` header, ``Overwrite: F`` answers 412 when the destination
exists). A share is served only while its ``sharedav`` is ``rw`` (``ro``: reads
only, else 403); with ``require_login`` every request needs Basic auth with
the appliance's user (401 otherwise).

``<share path>/.zfs/snapshot/<snap>/<path>`` reads a file as it was in a ZFS
snapshot of the share (zfs-fuse has no ``.zfs`` directory: the emulator mounts
a throw-away clone of the snapshot for the read). Properties set with
PROPPATCH (in any namespace; the driver uses ``DAV:``) are dead properties
kept by the emulator per file, carried by COPY and MOVE and dropped by
DELETE; PROPFIND lists them next to getcontentlength, getlastmodified,
creationdate and resourcetype. Errors: 404 missing, 409 missing parent,
405 MKCOL on something that exists, 403 read-only or not shared, 507 when the
pool is full.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from tests.emulators.zfssa.appliance import Appliance
from tests.emulators.zfssa.zpool import EMU

DAV_NS = "DAV:"
PREFIX = "/shares"
CHUNK = 1024 * 1024
_views = itertools.count(1)


class DavError(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class Target:
    """A path under /shares: its share, where it really is, and whether it is in a snapshot."""

    def __init__(self, dataset: str, mountpoint: str, rel: str, dav: str):
        self.dataset, self.mountpoint, self.dav = dataset, mountpoint, dav
        parts = [p for p in rel.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise DavError(400, "'.' and '..' are not allowed in a path")
        self.snapshot = None
        if parts[:2] == [".zfs", "snapshot"] and len(parts) >= 3:
            self.snapshot, parts = parts[2], parts[3:]
        self.rel = "/".join(parts)
        self.href = f"{PREFIX}{mountpoint}/{self.rel}"

    @property
    def path(self) -> Path:
        if self.snapshot is not None:
            raise DavError(403, "snapshots are read-only")
        return Path(self.mountpoint) / self.rel


class Dav:
    def __init__(self, app: Appliance, sessions: Any, injector: Any):
        self.app, self.sessions, self.injector = app, sessions, injector
        self.props: dict[str, dict[str, str]] = {}  # real path -> {property name: value}
        self.lock = threading.Lock()

    # ---- resolving ---------------------------------------------------------

    def resolve(self, url_path: str) -> Target:
        path = unquote(urlsplit(url_path).path)
        if not path.startswith(PREFIX + "/"):
            raise DavError(404, "not under /shares")
        path = path[len(PREFIX):]
        with self.app.lock:
            nodes = [n for n in self.app.pool.read().values() if n.kind == "filesystem" and n.name.count("/") == 2]
        for node in sorted(nodes, key=lambda n: -len(n.values.get("mountpoint", ""))):
            mountpoint = node.values.get("mountpoint", "")
            if path == mountpoint or path.startswith(mountpoint + "/"):
                dav = node.values.get(EMU + "sharedav", "off")
                if dav == "off":
                    raise DavError(403, f"{mountpoint} is not shared over WebDAV (sharedav=off)")
                return Target(node.name, mountpoint, path[len(mountpoint):], dav)
        raise DavError(404, f"no share at {path}")

    def writable(self, target: Target) -> Path:
        if target.dav != "rw":
            raise DavError(403, f"{target.mountpoint} is shared read-only over WebDAV")
        return target.path

    @contextlib.contextmanager
    def readable(self, target: Target) -> Iterator[Path]:
        """The real path to read `target` at, a snapshot's through a throw-away clone."""
        if target.snapshot is None:
            yield target.path
            return
        snap = f"{target.dataset}@{target.snapshot}"
        view = f"{self.app.pool.name}/{EMU.rstrip(':')}.view{next(_views)}"
        with self.app.lock:
            if not self.app.pool.exists(snap):
                raise DavError(404, f"no snapshot {target.snapshot}")
            self.app.pool.zfs.clone(snap, view, {EMU + "kind": "view"})
            mountpoint = self.app.pool.mountpoint(view)
        try:
            yield mountpoint / target.rel
        finally:
            with self.app.lock:
                self.app.pool.destroy_dataset(view)

    # ---- properties ----------------------------------------------------------

    def dead(self, path: Path) -> dict[str, str]:
        with self.lock:
            return dict(self.props.get(str(path), {}))

    def carry(self, src: Path, dst: Path, move: bool) -> None:
        with self.lock:
            moved = {}
            for key, props in list(self.props.items()):
                if key == str(src) or key.startswith(str(src) + "/"):
                    moved[str(dst) + key[len(str(src)):]] = dict(props)
                    if move:
                        del self.props[key]
            self.drop_locked(dst)
            self.props.update(moved)

    def drop(self, path: Path) -> None:
        with self.lock:
            self.drop_locked(path)

    def drop_locked(self, path: Path) -> None:
        for key in [k for k in self.props if k == str(path) or k.startswith(str(path) + "/")]:
            del self.props[key]

    # ---- methods -------------------------------------------------------------

    def propfind(self, target: Target, depth: str) -> bytes:
        root = ET.Element(f"{{{DAV_NS}}}multistatus")
        with self.readable(target) as path:
            if not path.exists():
                raise DavError(404, f"{target.href} does not exist")
            entries = [(path, target.href)]
            if depth != "0" and path.is_dir():
                entries += [(child, target.href.rstrip("/") + "/" + child.name) for child in sorted(path.iterdir())]
            for entry, href in entries:
                root.append(self._response(entry, href, target.snapshot is None))
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root)

    def _response(self, path: Path, href: str, live: bool) -> ET.Element:
        st = path.stat()
        response = ET.Element(f"{{{DAV_NS}}}response")
        ET.SubElement(response, f"{{{DAV_NS}}}href").text = quote(href)
        propstat = ET.SubElement(response, f"{{{DAV_NS}}}propstat")
        prop = ET.SubElement(propstat, f"{{{DAV_NS}}}prop")
        ET.SubElement(prop, f"{{{DAV_NS}}}displayname").text = path.name
        ET.SubElement(prop, f"{{{DAV_NS}}}getlastmodified").text = formatdate(st.st_mtime, usegmt=True)
        ET.SubElement(prop, f"{{{DAV_NS}}}creationdate").text = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                             time.gmtime(st.st_ctime))
        kind = ET.SubElement(prop, f"{{{DAV_NS}}}resourcetype")
        if path.is_dir():
            ET.SubElement(kind, f"{{{DAV_NS}}}collection")
        else:
            ET.SubElement(prop, f"{{{DAV_NS}}}getcontentlength").text = str(st.st_size)
        for name, value in (self.dead(path) if live else {}).items():
            ns, _, local = name.rpartition("}")
            ET.SubElement(prop, name if ns else f"{{{DAV_NS}}}{local}").text = value
        ET.SubElement(propstat, f"{{{DAV_NS}}}status").text = "HTTP/1.1 200 OK"
        return response

    def proppatch(self, target: Target, body: bytes) -> bytes:
        path = self.writable(target)
        if not path.exists():
            raise DavError(404, f"{target.href} does not exist")
        try:
            update = ET.fromstring(body)
        except ET.ParseError as exc:
            raise DavError(400, f"PROPPATCH body is not XML: {exc}") from None
        if update.tag != f"{{{DAV_NS}}}propertyupdate":
            raise DavError(400, "PROPPATCH body must be a DAV:propertyupdate")
        names = []
        with self.lock:
            props = self.props.setdefault(str(path), {})
            for action in update:
                for prop in action.findall(f"{{{DAV_NS}}}prop"):
                    for item in prop:
                        key = item.tag.removeprefix(f"{{{DAV_NS}}}")
                        names.append(item.tag)
                        if action.tag == f"{{{DAV_NS}}}set":
                            props[key] = item.text or ""
                        elif action.tag == f"{{{DAV_NS}}}remove":
                            props.pop(key, None)
        root = ET.Element(f"{{{DAV_NS}}}multistatus")
        response = ET.SubElement(root, f"{{{DAV_NS}}}response")
        ET.SubElement(response, f"{{{DAV_NS}}}href").text = quote(target.href)
        propstat = ET.SubElement(response, f"{{{DAV_NS}}}propstat")
        prop = ET.SubElement(propstat, f"{{{DAV_NS}}}prop")
        for name in names:
            ET.SubElement(prop, name)
        ET.SubElement(propstat, f"{{{DAV_NS}}}status").text = "HTTP/1.1 200 OK"
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root)

    def put(self, target: Target, stream: Any, length: int) -> int:
        try:
            path = self.writable(target)
            if not path.parent.is_dir():
                raise DavError(409, f"{path.parent.name or '/'} does not exist")
            if path.is_dir():
                raise DavError(405, f"{target.href} is a collection")
        except DavError:
            # Read the refused body: closing with it unread would reset the connection
            # and lose the answer on its way to the client.
            while length > 0 and (chunk := stream.read(min(CHUNK, length))):
                length -= len(chunk)
            raise
        existed = path.exists()
        with open(path, "wb") as out:
            left = length
            while left > 0:
                chunk = stream.read(min(CHUNK, left))
                if not chunk:
                    raise DavError(400, "the request body ended early")
                out.write(chunk)
                left -= len(chunk)
        return 204 if existed else 201

    def delete(self, target: Target) -> None:
        path = self.writable(target)
        if not path.exists():
            raise DavError(404, f"{target.href} does not exist")
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.drop(path)

    def mkcol(self, target: Target) -> None:
        path = self.writable(target)
        if path.exists():
            raise DavError(405, f"{target.href} exists")
        if not path.parent.is_dir():
            raise DavError(409, f"the parent of {target.href} does not exist")
        path.mkdir()

    def copy_or_move(self, target: Target, destination: str | None, overwrite: bool, move: bool) -> int:
        if not destination:
            raise DavError(400, "COPY and MOVE need a Destination header")
        dest = self.resolve(destination)
        dst = self.writable(dest)
        if move:
            self.writable(target)
        if not dst.parent.is_dir():
            raise DavError(409, f"the parent of {dest.href} does not exist")
        existed = dst.exists()
        if existed and not overwrite:
            raise DavError(412, f"{dest.href} exists and Overwrite is F")
        with self.readable(target) as src:
            if not src.exists():
                raise DavError(404, f"{target.href} does not exist")
            if existed:
                shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
            if move and src.parent.stat().st_dev == dst.parent.stat().st_dev:
                os.rename(src, dst)
            else:
                self._copy(src, dst)
                if move:
                    shutil.rmtree(src) if src.is_dir() else src.unlink()
            if target.snapshot is None:
                self.carry(src, dst, move)
        return 204 if existed else 201

    def _copy(self, src: Path, dst: Path) -> None:
        """A sparse copy through the storage host's cp (holes stay holes)."""
        argv = ["cp", "-a", "--sparse=always", "-T", str(src), str(dst)]
        result = self.app.pool.zfs.host.run(argv, check=False, timeout=3600)
        if result.returncode:
            if "No space left" in result.stderr:
                raise DavError(507, "insufficient storage")
            raise DavError(500, f"copy failed: {result.stderr.strip()}")


def handler_class(dav: Dav) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """One connection to the ZFSSA emulator's WebDAV listener."""

        protocol_version = "HTTP/1.1"
        server_version = "ZFSSA-emulator-webdav/1.0"

        def _answer(self, status: int, body: bytes = b"", content_type: str = "text/plain", extra: dict | None = None):
            self.send_response(status)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            if body:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            dispatched = False
            try:
                injected = dav.injector.check(self.command, urlsplit(self.path).path, rest=False)
                if injected is not None:
                    raise DavError(injected.status, injected.details)
                if dav.app.services["http"].props.get("require_login", True) and \
                        not dav.sessions.credentials_ok(self.headers):
                    raise DavError(401, "login required")
                target = dav.resolve(self.path)
                dispatched = True  # from here on the method reads its body
                self._dispatch(target, length)
            except DavError as err:
                if not dispatched:
                    self.rfile.read(length)  # unread, it would reset the connection under the answer
                extra = {"WWW-Authenticate": 'Basic realm="ZFSSA emulator"'} if err.status == 401 else None
                self._answer(err.status, str(err).encode(), extra=extra)
            except OSError as exc:
                status = 507 if exc.errno in (errno.ENOSPC, errno.EDQUOT) else 500
                self._answer(status, f"{exc.strerror}".encode())

        def _dispatch(self, target: Target, length: int) -> None:
            method = self.command
            body = self.rfile.read(length) if length and method != "PUT" else b""
            if method in ("GET", "HEAD"):
                with dav.readable(target) as path:
                    if path.is_dir():
                        self._answer(200, b"collection\n")
                    elif path.is_file():
                        self._send_file(path)
                    else:
                        raise DavError(404, f"{target.href} does not exist")
            elif method == "PUT":
                self._answer(dav.put(target, self.rfile, length))
            elif method == "DELETE":
                dav.delete(target)
                self._answer(204)
            elif method == "MKCOL":
                dav.mkcol(target)
                self._answer(201)
            elif method == "PROPFIND":
                self._answer(207, dav.propfind(target, self.headers.get("Depth", "1")), 'application/xml; charset="utf-8"')
            elif method == "PROPPATCH":
                self._answer(207, dav.proppatch(target, body), 'application/xml; charset="utf-8"')
            elif method in ("COPY", "MOVE"):
                overwrite = (self.headers.get("Overwrite") or "T").upper() != "F"
                self._answer(dav.copy_or_move(target, self.headers.get("Destination"), overwrite, method == "MOVE"))
            else:
                raise DavError(405, f"{method} is not supported")

        def _send_file(self, path: Path) -> None:
            size = path.stat().st_size
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if self.command == "HEAD":
                return
            with open(path, "rb") as src:
                while chunk := src.read(CHUNK):
                    self.wfile.write(chunk)

        do_GET = do_HEAD = do_PUT = do_DELETE = do_MKCOL = do_PROPFIND = do_PROPPATCH = do_COPY = do_MOVE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
