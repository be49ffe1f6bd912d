"""OpenStack error bodies: `{"itemNotFound": {"code": 404, "message": "..."}}`.

The same fault names Cinder and Manila use (their wsgi Fault class), so every
client shows the message.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shoal.services.common.errors import ServiceError

log = logging.getLogger(__name__)

FAULT_NAMES = {
    400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
    406: "notAcceptable", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType",
    422: "badRequest", 501: "notImplemented", 503: "serviceUnavailable",
}


class ApiError(Exception):
    def __init__(self, code: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers or {}


IDENTITY_PREFIX = "/identity"
SERVER_ERROR = "The server has either erred or is incapable of performing the requested operation."


def fault(code: int, message: str, headers: dict | None = None, request: Request | None = None) -> JSONResponse:
    if request is not None and request.url.path.startswith(IDENTITY_PREFIX):
        # Keystone's error body: {"error": {"code", "message", "title"}}
        body = {"error": {"code": code, "message": message, "title": HTTPStatus(code).phrase}}
        return JSONResponse(body, status_code=code, headers=headers)
    from shoal.api.image.errors import glance_fault, is_image_request  # Glance answers as webob does

    if is_image_request(request):
        return glance_fault(code, message, headers, request)
    name = FAULT_NAMES.get(code, "computeFault")
    return JSONResponse({name: {"code": code, "message": message}}, status_code=code, headers=headers)


def install(app) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return fault(exc.code, exc.message, exc.headers, request)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        if exc.code == 401:
            from .auth import unauthorized  # the 401 carries where to authenticate

            exc = unauthorized(request, str(exc))
            return fault(exc.code, exc.message, exc.headers, request)
        return fault(exc.code, str(exc), request=request)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = "The resource could not be found."
        return fault(exc.status_code, message, request=request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return fault(500, SERVER_ERROR, request=request)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
            parts.append(f"{where}: {e.get('msg')}" if where else e.get("msg", "invalid"))
        return fault(400, "Invalid input: " + "; ".join(parts), request=request)
