"""A 5xx, where one still happens, keeps the client's keep-alive connection usable,
carries the request id the client sees, and is logged with that id.

A real uvicorn serves the app (in this process, on a port of its own, noauth, a
migrated SQLite file, no backends); the share list is made to raise by replacing
the service method behind it for the test. Two requests go over one raw socket:
the 500 and then an answer that works, on the same connection."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest
import uvicorn

from shoal.app import create_app
from shoal.config import Settings
from shoal.db.migrate import upgrade
from shoal.db.session import Database
from shoal.services import Services

VERSION = "X-OpenStack-Manila-API-Version: 2.84"


@pytest.fixture
def server(tmp_path):
    url = f"sqlite:///{tmp_path}/shoal.db"
    upgrade(url)
    database = Database(url)
    services = Services(Settings(api={"auth": "noauth"}), drivers={}, database=database)
    app = create_app(services.settings, services, start=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        assert thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    port = uv.servers[0].sockets[0].getsockname()[1]
    yield services, port
    uv.should_exit = True
    thread.join()
    services.stop()
    database.engine.dispose()


def _exchange(sock: socket.socket, path: str) -> tuple[int, dict, dict]:
    """One GET on the open connection; its status, headers and JSON body."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: shoal\r\n{VERSION}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-answer"
        body += chunk
    return int(lines[0].split()[1]), headers, json.loads(body)


def test_a_server_error_keeps_the_connection_and_names_its_request_id(server, monkeypatch, caplog):
    services, port = server

    def broken(*_args, **_kwargs):
        raise RuntimeError("made to fail by the test")

    monkeypatch.setattr(services.shares, "list", broken)
    with caplog.at_level(logging.ERROR), socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        status, headers, body = _exchange(sock, "/share/v2/shares")
        assert status == 500, body
        assert body == {"computeFault": {"code": 500, "message": "The server has either erred or is incapable "
                                                                 "of performing the requested operation."}}
        request_id = headers["x-openstack-request-id"]
        assert request_id.startswith("req-") and headers["x-compute-request-id"] == request_id
        assert headers.get("connection", "").lower() != "close"
        # the same connection answers the next request
        status, headers, body = _exchange(sock, "/share/v2/types")
        assert status == 200, body
        assert headers["x-openstack-request-id"] != request_id
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info and "made to fail by the test" in str(logged[0].exc_info[1])
