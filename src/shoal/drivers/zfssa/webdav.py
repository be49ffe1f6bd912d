"""The appliance's WebDAV service, used by the NFS driver to copy, move,
delete and label volume files on its share (reference §3.3), on httpx.

The original's behaviour kept: Basic auth with no session; a 500 retried up
to 10 times, 1 s apart; the status codes that mean a misconfiguration turned
into messages that say what to check. What changed: TLS is verified unless
the backend's `verify = false`; every call has a timeout; properties are read
from the PROPFIND answer as XML rather than by a line scan; a property that is
not there reads as None, not ''.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import quote, unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import httpx

from shoal.drivers.base import DriverError, NotFoundOnBackend

from .config import ApplianceAccess
from .rest import tls_verify

log = logging.getLogger(__name__)

SERVER_ERROR_RETRIES = 10
DAV = "DAV:"
HINTS = {
    401: "the appliance refused the user for WebDAV; fix: check user and password",
    403: "check the access permissions of the share assigned to this backend",
    404: "no such file on the share",
    502: "check that the appliance's http service is online and that https_port is its HTTPS port",
    507: "not enough space on the share for this operation",
}


class WebDavError(DriverError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class WebDavNotFound(WebDavError, NotFoundOnBackend):
    pass


def propertyupdate(props: dict[str, str]) -> str:
    """PROPPATCH's body: each property set in the DAV: namespace, as the original did."""
    items = "".join(f"<D:{name}>{escape(str(value))}</D:{name}>" for name, value in props.items())
    return f'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>{items}</D:prop></D:set>' \
           "</D:propertyupdate>"


def parse_multistatus(xml_text: str) -> list[tuple[str, dict[str, str]]]:
    """[(href, {property local name: text})] of a PROPFIND answer, one per
    response; a collection has the property `collection` (from resourcetype)."""
    try:
        root = ElementTree.fromstring(xml_text)
    except ElementTree.ParseError as exc:
        raise WebDavError(f"the appliance's WebDAV answered PROPFIND with no XML: {exc}") from None
    out = []
    for response in root.iter(f"{{{DAV}}}response"):
        href = (response.findtext(f"{{{DAV}}}href") or "").strip()
        props: dict[str, str] = {}
        for prop in response.iter(f"{{{DAV}}}prop"):
            for element in prop:
                local = element.tag.rsplit("}", 1)[-1]
                if local == "resourcetype" and element.find(f"{{{DAV}}}collection") is not None:
                    props["collection"] = "1"
                props.setdefault(local, (element.text or "").strip())
        out.append((href, props))
    return out


def parse_properties(xml_text: str) -> dict[str, str]:
    """The properties of the first response (the one Depth: 0 asks about)."""
    found = parse_multistatus(xml_text)
    return found[0][1] if found else {}


class WebDavClient:
    def __init__(self, access: ApplianceAccess, data_ip: str, https_port: int, mountpoint: str,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 timeout: float | None = None):
        self.base = f"https://{data_ip}:{https_port}/shares{mountpoint.rstrip('/')}/"
        self._http = httpx.Client(verify=tls_verify(access), auth=(access.user, access.password),
                                  timeout=timeout or access.rest_timeout, transport=transport)
        self._sleep = sleep

    def url(self, path: str) -> str:
        return self.base + quote(path.lstrip("/"))

    def request(self, method: str, path: str, ok: tuple[int, ...], *, destination: str | None = None,
                headers: dict | None = None, content: str | None = None) -> httpx.Response:
        headers = dict(headers or {})
        if destination is not None:
            headers["Destination"] = self.url(destination)
        for attempt in range(SERVER_ERROR_RETRIES + 1):
            try:
                response = self._http.request(method, self.url(path), headers=headers, content=content)
            except httpx.TimeoutException:
                raise WebDavError(f"WebDAV {method} {path}: no answer in time from {self.base}") from None
            except httpx.TransportError as exc:
                raise WebDavError(f"WebDAV {method} {path}: cannot reach {self.base} ({exc}); {HINTS[502]}") from None
            if response.status_code != 500 or attempt == SERVER_ERROR_RETRIES:
                break
            log.warning("ZFSSA WebDAV %s %s: 500; try %d again in 1 s", method, path, attempt + 1)
            self._sleep(1)
        if response.status_code in ok:
            return response
        status = response.status_code
        hint = HINTS.get(status, response.reason_phrase)
        target = f" to {destination}" if destination else ""
        kind = WebDavNotFound if status == 404 else WebDavError
        raise kind(f"WebDAV {method} {path}{target}: {status} ({hint})", status)

    # ---- the verbs the NFS driver uses ------------------------------------------------------------

    def copy(self, source: str, destination: str, overwrite: bool = False) -> None:
        self.request("COPY", source, (201, 204), destination=destination,
                     headers={"Overwrite": "T" if overwrite else "F", "Depth": "0"})

    def move(self, source: str, destination: str, overwrite: bool = False) -> None:
        self.request("MOVE", source, (201, 204), destination=destination,
                     headers={"Overwrite": "T" if overwrite else "F"})

    def delete(self, path: str) -> None:
        """Succeeds when the file is already gone."""
        try:
            self.request("DELETE", path, (200, 204))
        except WebDavNotFound:
            pass

    def mkcol(self, path: str) -> None:
        self.request("MKCOL", path, (201,))

    def properties(self, path: str) -> dict[str, str] | None:
        """The file's properties, or None when there is no such file."""
        try:
            response = self.request("PROPFIND", path, (207,), headers={"Depth": "0"})
        except WebDavNotFound:
            return None
        return parse_properties(response.text)

    def listing(self, path: str = "") -> list[tuple[str, dict[str, str]]]:
        """(name, properties) of each entry directly in the directory `path`."""
        response = self.request("PROPFIND", path, (207,), headers={"Depth": "1"})
        base = httpx.URL(self.url(path)).path.rstrip("/")
        out = []
        for href, props in parse_multistatus(response.text):
            entry = unquote(httpx.URL(href).path).rstrip("/")
            if entry != unquote(base) and entry.startswith(unquote(base) + "/"):
                out.append((entry[len(unquote(base)) + 1:], props))
        return out

    def set_properties(self, path: str, props: dict[str, str]) -> None:
        self.request("PROPPATCH", path, (207, 200), headers={"Translate": "F", "Content-Type": "text/xml"},
                     content=propertyupdate(props))

    def close(self) -> None:
        self._http.close()
