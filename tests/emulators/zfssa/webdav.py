"""ZFSSA emulator: WebDAV (not yet emulated)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any


class Dav:
    def __init__(self, app: Any, sessions: Any, injector: Any):
        self.app, self.sessions, self.injector = app, sessions, injector


def handler_class(dav: Dav) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

    return Handler
