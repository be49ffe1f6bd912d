"""Every response carries the request's id, as Cinder's and Manila's do:
`x-openstack-request-id` (both) and `x-compute-request-id` (Manila's clients
and Tempest's share tests read that one), `req-<uuid>`. The id is made here,
once per request, and kept in the ASGI scope so the user messages a request
writes name the id its client saw. A plain ASGI wrapper: no per-request
framework machinery on the hot path. It also adds the headers a request's handler
asked every answer to carry (`add_response_headers`: the negotiated microversion).

An exception no handler turned into an answer ends here, not in Starlette's
outermost error middleware: that one answers 500 and then re-raises, and uvicorn
closes a connection whose application raised, so the client's next request on
its keep-alive connection would fail; and its 500 would carry no request id.
Here the 500 is Cinder's and Manila's fault body with the request's id, the
exception is logged with that id, and the connection stays usable."""

from __future__ import annotations

import logging
import uuid

from starlette.requests import Request

from .errors import SERVER_ERROR, fault

log = logging.getLogger(__name__)

SCOPE_KEY = "shoal.request_id"
HEADERS = (b"x-openstack-request-id", b"x-compute-request-id")
EXTRA_KEY = "shoal.response_headers"  # more headers every answer to this request carries


def add_response_headers(scope, headers: dict[str, str]) -> None:
    """Headers for whatever answers this request (an endpoint's own Response, an error
    too); one the answer already carries is left as it is."""
    scope[EXTRA_KEY] = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


def request_id_of(request: Request) -> str | None:
    return request.scope.get(SCOPE_KEY)


class RequestIds:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope[SCOPE_KEY] = new_request_id()
        extra = [(name, request_id.encode()) for name in HEADERS]
        started = False

        async def send_with_id(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", []), *extra]
                if more := scope.get(EXTRA_KEY):
                    present = {name.lower() for name, _ in headers}
                    headers += [(k, v) for k, v in more if k not in present]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("%s: unexpected error on %s %s", request_id, scope.get("method"), scope.get("path"))
            if started:  # part of an answer is out: nothing well-formed can follow it
                raise
            answer = fault(500, SERVER_ERROR, request=Request(scope))
            await answer(scope, receive, send_with_id)
