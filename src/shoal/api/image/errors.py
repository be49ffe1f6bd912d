"""Glance's error bodies: what webob's HTTP exceptions answer. JSON when the client
accepts it ({"message", "code": "404 Not Found", "title"}), else plain text."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse

PREFIX = "/image"


def is_image_request(request: Request | None) -> bool:
    return request is not None and (request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/"))


def glance_fault(code: int, message: str, headers: dict | None, request: Request):
    title = HTTPStatus(code).phrase
    status = f"{code} {title}"
    if "json" in request.headers.get("accept", ""):
        return JSONResponse({"message": message, "code": status, "title": title}, status_code=code, headers=headers)
    return PlainTextResponse(f"{status}\n\n{message}\n\n   ", status_code=code, headers=headers)
