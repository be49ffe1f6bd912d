"""An upload cut short by a crash of Shoal: after the restart the image is `queued` again,
the part file is gone, and the image takes a complete upload."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import pytest

from tests.fixtures.shoal import running_shoal, start_server

from .image_helpers import create, image_client, store_files, upload

pytestmark = pytest.mark.integration
MiB = 1 << 20


def test_upload_interrupted_by_a_crash(zpool, tmp_path_factory):
    with running_shoal(zpool, tmp_path_factory, "imgcrash") as server:
        with image_client(server) as images:
            image = create(images, name="crashed")
            url = urlparse(server.url)
            sock = socket.create_connection((url.hostname, url.port))
            try:
                sock.sendall((f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\n"
                              f"X-Auth-Token: admin:{server.project}\r\nContent-Type: application/octet-stream\r\n"
                              "Content-Length: 10485760\r\n\r\n").encode() + b"\1" * (2 * MiB))
                deadline = time.monotonic() + 30
                while not [f for f in store_files(server) if f.endswith(".part")]:
                    assert time.monotonic() < deadline, store_files(server)
                    time.sleep(0.05)
                server.process.kill()  # a crash: nothing is cleaned up on the way out
                server.process.wait()
            finally:
                sock.close()
            assert [f for f in store_files(server) if f.endswith(".part")]
            server.process = start_server(server.config, server.state_dir, server.url)
            shown = images.get(f"/images/{image['id']}").json()
            assert (shown["status"], shown["size"]) == ("queued", None)
            assert store_files(server) == []
            assert upload(images, image["id"], b"\2" * 4096).status_code == 204
            assert images.get(f"/images/{image['id']}").json()["status"] == "active"
