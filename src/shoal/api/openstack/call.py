"""The per-request state of an OpenStack API call: caller, microversion, URLs,
and the body reader every router uses (query strings: api/openstack/queries.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from shoal.services import Services
from shoal.services.common.context import RequestContext, current_request_id

from .auth import known_caller, validated_caller
from .errors import ApiError
from .microversions import Version, VersionRange
from .queries import refuse_nul
from .request_ids import add_response_headers


@dataclass
class ApiCall:
    request: Request
    services: Services
    ctx: RequestContext
    version: Version
    url_project: str | None
    root: str  # the path prefix of this API: "share", "volume"

    @property
    def base(self) -> str:
        return f"{public_origin(self.request)}/{self.root}"

    def link(self, collection: str, item_id: str, major: str = "v2") -> list[dict]:
        project = self.ctx.project_id
        return [
            {"href": f"{self.base}/{major}/{project}/{collection}/{item_id}", "rel": "self"},
            {"href": f"{self.base}/{project}/{collection}/{item_id}", "rel": "bookmark"},
        ]

    def v(self, text: str) -> bool:
        return self.version.at_least(text)

    def query(self, name: str, default: Any = None) -> Any:
        return self.request.query_params.get(name, default)

    async def body(self, key: str | None = None, *alternatives: str) -> Any:
        return await read_body(self.request, key, *alternatives)


async def read_body(request: Request, key: str | None = None, *alternatives: str) -> Any:
    """The JSON body (it must be an object); with `key`, the object under it."""
    data = parse_json(await request.body())
    if not isinstance(data, dict):
        raise ApiError(400, "Malformed request body: a JSON object is expected")
    if key is None:
        return data
    for name in (key, *alternatives):
        if name in data:
            inner = data[name]
            if inner is not None and not isinstance(inner, dict):
                raise ApiError(400, f"Malformed request body: '{name}' must be an object")
            return inner if inner is not None else {}
    raise ApiError(400, f"Malformed request body: missing '{key}'")


def parse_json(raw: bytes, empty: bytes = b"null") -> Any:
    """A request's JSON text, parsed once its depth is known to be bounded; else a 400."""
    if too_deep(raw):  # before parsing: a deep body would exhaust the parser's stack
        raise ApiError(400, f"Malformed request body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw or empty)
    except (ValueError, RecursionError):
        raise ApiError(400, "Malformed request body: not valid JSON") from None


MAX_JSON_DEPTH = 32  # no OpenStack request body comes near it


def too_deep(raw: bytes) -> bool:
    """Whether the arrays and objects of a JSON text nest deeper than MAX_JSON_DEPTH
    (brackets inside strings not counted); a scan of the bytes, no parse."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:  # the usual body: it cannot be
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def public_origin(request: Request) -> str:
    """Where clients reach Shoal: the configured public URL, else the request's own origin."""
    public = request.app.state.services.settings.api.public_url
    return public.rstrip("/") if public else str(request.base_url).rstrip("/")


def call_factory(versions: VersionRange, root: str):
    """A FastAPI dependency that builds the ApiCall of one API."""

    async def dependency(request: Request, response: Response) -> ApiCall:
        version, headers = versions.negotiate(request.headers)
        response.headers.update(headers)
        # also on an answer the endpoint builds itself (a bare 202/204) and on an error, as Cinder's
        add_response_headers(request.scope, headers)
        services: Services = request.app.state.services
        url_project = request.path_params.get("project_id")
        # In the event loop when no I/O is needed; a token to validate goes to a thread.
        ctx = known_caller(request, url_project) or await run_in_threadpool(validated_caller, request, url_project)
        current_request_id.set(ctx.request_id)  # for the user messages the call's work writes
        if request.method not in ("GET", "HEAD") and not ctx.can_write:
            raise ApiError(403, "Policy doesn't allow this operation: the reader role may only read.")
        call = ApiCall(request, services, ctx, version, url_project, root)
        refuse_nul(call)  # also for the routes that read a query value or two without a model
        return call

    return dependency

