"""The ZFSSA emulator's errors: what the appliance answers when it refuses a call.

The appliance's RESTful API guide ("Errors", table 1-4) gives one shape for
every refusal, an HTTP status plus::

    {"fault": {"message": "ERR_NOT_FOUND", "details": "...", "code": 404}}

with these names: ERR_INVALID_ARG, ERR_UNKNOWN_ARG, ERR_MISSING_ARG (400),
ERR_UNAUTHORIZED (401), ERR_DENIED (403), ERR_NOT_FOUND (404),
ERR_OBJECT_EXISTS (409), ERR_OVER_LIMIT (413), ERR_UNSUPPORTED_MEDIA (415),
ERR_INTERNAL (500), ERR_NOT_IMPLEMENTED (501), ERR_BUSY (503). The guide gives
ERR_STATE_CHANGED no code; the emulator answers it with 409.
"""

from __future__ import annotations

from typing import Any

MESSAGES = {
    400: "ERR_INVALID_ARG",
    401: "ERR_UNAUTHORIZED",
    403: "ERR_DENIED",
    404: "ERR_NOT_FOUND",
    409: "ERR_OBJECT_EXISTS",
    413: "ERR_OVER_LIMIT",
    415: "ERR_UNSUPPORTED_MEDIA",
    500: "ERR_INTERNAL",
    501: "ERR_NOT_IMPLEMENTED",
    503: "ERR_BUSY",
}


class ApiError(Exception):
    """A refusal of the ZFSSA emulator: an HTTP status and the appliance's fault body."""

    def __init__(self, status: int, details: str, message: str | None = None):
        super().__init__(f"{status} {message or MESSAGES.get(status, 'ERR_INTERNAL')}: {details}")
        self.status = status
        self.message = message or MESSAGES.get(status, "ERR_INTERNAL")
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"fault": {"message": self.message, "details": self.details, "code": self.status}}


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def exists(what: str) -> ApiError:
    return ApiError(409, f"{what} already exists")


def invalid(details: str) -> ApiError:
    return ApiError(400, details)


def unknown_arg(name: str) -> ApiError:
    return ApiError(400, f"unknown property \"{name}\"", "ERR_UNKNOWN_ARG")


def missing_arg(name: str) -> ApiError:
    return ApiError(400, f"missing required argument \"{name}\"", "ERR_MISSING_ARG")


def denied(details: str) -> ApiError:
    return ApiError(403, details)


def state_changed(details: str) -> ApiError:
    return ApiError(409, details, "ERR_STATE_CHANGED")
