"""Answers sent as they are."""

from __future__ import annotations

from fastapi.responses import JSONResponse


def as_json(body: dict) -> JSONResponse:
    """A body that holds only JSON types (str, int, bool, None, lists, dicts), as the
    views build them, sent without FastAPI's jsonable_encoder, which walks every value
    again: ~0.15 s of a 0.3 s answer for a page of 1000 shares. The negotiated
    microversion headers still come (request_ids.add_response_headers)."""
    return JSONResponse(body)
