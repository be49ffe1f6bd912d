"""The ZFSSA WebDAV client's own logic, with httpx's MockTransport: the
Destination and Overwrite headers, PROPPATCH's body, PROPFIND answers read as
XML, 500 retried 1 s apart, and the status codes that name what to check."""

from __future__ import annotations

import httpx
import pytest

from shoal.drivers.zfssa.config import ApplianceAccess
from shoal.drivers.zfssa.webdav import (
    WebDavClient,
    WebDavError,
    parse_multistatus,
    propertyupdate,
)

ACCESS = ApplianceAccess(address="mgmt", user="admin", password="pw")
MULTISTATUS = """<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:">
 <D:response><D:href>/shares/export/nfs_share/</D:href>
  <D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop></D:propstat></D:response>
 <D:response><D:href>/shares/export/nfs_share/volume-1</D:href>
  <D:propstat><D:prop><D:getcontentlength>1073741824</D:getcontentlength><D:resourcetype/>
   <D:cinder_managed>True</D:cinder_managed></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
 <D:response><D:href>/shares/export/nfs_share/my%20disk</D:href>
  <D:propstat><D:prop><D:getcontentlength>5</D:getcontentlength><D:resourcetype/></D:prop></D:propstat></D:response>
</D:multistatus>"""


def client(handler, sleeps=None) -> WebDavClient:
    return WebDavClient(ACCESS, "10.0.1.5", 443, "/export/nfs_share", transport=httpx.MockTransport(handler),
                        sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_copy_move_and_proppatch_requests():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(207 if request.method == "PROPPATCH" else 201)

    dav = client(handler)
    dav.copy(".zfs/snapshot/s1/volume-1", "snapshot-2")
    dav.move("snapshot-2", "volume-3")
    dav.set_properties("volume-3", {"cinder_managed": "True", "origin": "a<b"})
    copy, move, patch = seen
    assert copy.url == "https://10.0.1.5/shares/export/nfs_share/.zfs/snapshot/s1/volume-1"
    assert copy.headers["destination"] == "https://10.0.1.5:443/shares/export/nfs_share/snapshot-2"
    assert copy.headers["overwrite"] == "F" and copy.headers["authorization"].startswith("Basic ")
    assert move.method == "MOVE" and move.headers["destination"].endswith("/volume-3")
    assert patch.headers["translate"] == "F"
    assert patch.content.decode() == propertyupdate({"cinder_managed": "True", "origin": "a<b"})
    assert "<D:origin>a&lt;b</D:origin>" in patch.content.decode()


def test_properties_and_listing_are_read_as_xml():
    def handler(request):
        assert request.method == "PROPFIND"
        return httpx.Response(207, text=MULTISTATUS)

    found = parse_multistatus(MULTISTATUS)
    assert found[0][1]["collection"] == "1" and found[1][1]["cinder_managed"] == "True"
    listing = dict(client(handler).listing())
    assert listing == {"volume-1": {"getcontentlength": "1073741824", "resourcetype": "", "cinder_managed": "True"},
                       "my disk": {"getcontentlength": "5", "resourcetype": ""}}


def test_missing_file_reads_as_none_and_delete_of_it_succeeds():
    dav = client(lambda request: httpx.Response(404))
    assert dav.properties("volume-9") is None
    dav.delete("volume-9")


def test_server_errors_are_retried_then_named():
    answers, sleeps = [500, 500, 201], []
    dav = client(lambda request: httpx.Response(answers.pop(0)), sleeps)
    dav.copy("a", "b")
    assert sleeps == [1, 1]
    with pytest.raises(WebDavError, match="507 \\(not enough space on the share"):
        client(lambda request: httpx.Response(507)).copy("a", "b")
    with pytest.raises(WebDavError, match="502 \\(check that the appliance's http service is online"):
        client(lambda request: httpx.Response(502)).move("a", "b")
