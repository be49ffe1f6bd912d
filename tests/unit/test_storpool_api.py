"""The StorPool API client as the driver uses it: os-brick's `StorPoolAPI`
over real HTTP to a tiny in-test server on 127.0.0.1 (a fake of the API: it
answers from a script and records the bodies), and the retry policy on top."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from os_brick.initiator import storpool_utils

from shoal.drivers.storpool.api import Api, ApiError
from shoal.drivers.storpool.cluster_conf import ApiSettings

TRANSIENT = {"error": {"name": "busy", "descr": "try again", "transient": True}}
OK = {"data": {"ok": True}}


class ScriptedApi:
    """Answers each request with the next (status, body) of `script`; records (path, auth, body)."""

    def __init__(self, script):
        self.script, self.seen = list(script), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._answer()

            def do_POST(self):
                self._answer()

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                owner.seen.append((self.path, self.headers.get("Authorization"), self.rfile.read(length)))
                status, body = owner.script.pop(0)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    servers = []

    def start(*script):
        servers.append(ScriptedApi(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def api_to(port: int, retries: int = 5) -> tuple[Api, list[float]]:
    slept: list[float] = []
    return Api(ApiSettings("127.0.0.1", port, "tok"), timeout=5, retries=retries, sleep=slept.append), slept


def test_a_transient_error_is_retried_with_the_same_body(scripted):
    server = scripted((500, TRANSIENT), (500, TRANSIENT), (200, OK))
    api, slept = api_to(server.port)
    api.call("volume_create", {"name": "os--volume-1", "size": 1})
    assert slept == [1, 2]
    assert [json.loads(body) for _, _, body in server.seen] == [{"name": "os--volume-1", "size": 1}] * 3
    assert server.seen[0][:2] == ("/ctrl/1.0/MultiCluster/VolumeCreate", "Storpool v1:tok")


def test_the_clients_own_retry_sends_a_different_body(scripted, monkeypatch):
    """Why the client is built with no retries: os-brick's loop encodes the body
    again on each try. If this fails, os-brick fixed it."""
    monkeypatch.setattr(storpool_utils.time, "sleep", lambda s: None)
    server = scripted((500, TRANSIENT), (200, OK))
    storpool_utils.StorPoolAPI("127.0.0.1", server.port, "tok", transient_retries=1).volume_create({"name": "x"})
    first, second = (json.loads(body) for _, _, body in server.seen)
    assert first == {"name": "x"} and second == '{"name": "x"}'


def test_an_error_that_is_not_transient_is_not_retried(scripted):
    server = scripted((500, {"error": {"name": "objectExists", "descr": "volume exists"}}))
    api, slept = api_to(server.port)
    with pytest.raises(ApiError, match="volume_create: objectExists: volume exists") as caught:
        api.call("volume_create", {"name": "x"})
    assert caught.value.name == "objectExists" and slept == []
    server.script.append((500, {"error": {"name": "objectExists", "descr": "again"}}))
    assert api.call("volume_create", {"name": "x"}, ignore=("objectExists",)) is None


def test_an_api_that_is_down_is_a_clear_driver_error():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api, slept = api_to(port, retries=3)
    with pytest.raises(ApiError, match=f"StorPool API at 127.0.0.1:{port} did not answer disks_list after 4 tries: "
                                       ".*Connection refused"):
        api.call("disks_list")
    assert slept == [1, 2, 4]


def test_something_else_on_the_port_is_named(scripted):
    server = scripted((502, b"<html>bad gateway</html>"))
    api, _ = api_to(server.port)
    with pytest.raises(ApiError, match="sent no JSON for disks_list"):
        api.call("disks_list")
