"""Routes copied flat onto the application.

FastAPI (0.16x) keeps an included router nested and, on every request, walks
each nested route with per-candidate scope bookkeeping: with the Manila and
Cinder APIs each included twice (with and without the project id), matching
took about 40% of a simple GET. Copied onto the app, every route is one regex
tried in order -- the same order `include_router` would give.

Each route also declares its response as `Any`, which sends a returned dict
through pydantic's JSON serializer instead of FastAPI's recursive
`jsonable_encoder` plus `json.dumps` (the same JSON, in a fraction of the time).

Starlette still tries the routes one by one, and with some 300 of them a
Cinder request walked past every Manila route (0.5-1 ms per request here):
each route therefore first compares the path's shape -- segment count, first
and last segment -- and only a route of the same shape runs its regex.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.utils import is_body_allowed_for_status_code
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

_SHAPE = "shoal.path_shape"  # (path, its shape with and without the last segment), once per request


def path_shape(path: str) -> tuple[tuple[int, str, str], tuple[int, str]]:
    parts = path.split("/")
    count, first = len(parts), parts[1] if len(parts) > 1 else ""
    return (count, first, parts[-1]), (count, first)


class ShapedRoute(APIRoute):
    """An APIRoute that turns away a path of another shape before its regex."""

    def __init__(self, path: str, endpoint, **kwargs):
        super().__init__(path, endpoint, **kwargs)
        full, partial = path_shape(path)
        # Compared with the request's shape: all of it when the last segment is
        # literal, count and first segment when it is a parameter; nothing when
        # the first segment is a parameter.
        self._shape_index, self._shape = (0, full) if "{" not in full[2] else (1, partial)
        self._shaped = "{" not in full[1]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self._shaped and scope["type"] == "http":
            path = scope["path"]
            cached = scope.get(_SHAPE)
            if cached is None or cached[0] is not path:  # a redirect check copies the scope with another path
                cached = scope[_SHAPE] = (path, *path_shape(get_route_path(scope)))
            if cached[1 + self._shape_index] != self._shape:
                return Match.NONE, {}
        return super().matches(scope)


def add_routes(app: FastAPI, router: APIRouter, prefix: str, tags: list[str]) -> None:
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only API routes can be copied flat")
        app.router.add_api_route(
            prefix + route.path,
            route.endpoint,
            methods=sorted(route.methods),
            status_code=route.status_code,
            response_model=Any if is_body_allowed_for_status_code(route.status_code) else None,
            name=route.name,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            dependencies=route.dependencies,
            openapi_extra=route.openapi_extra,
            tags=tags,
            route_class_override=ShapedRoute,
        )
