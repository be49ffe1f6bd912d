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


class RouteIndex:
    """The routing step in front of the app's router: a request is offered only
    to the routes its path's shape can match (and to every route without a
    shape), in the router's order, so the first full match is the one a walk
    of all routes would find -- without asking the hundreds of others (a Cinder
    request still walked past ~500 routes' shape checks). A request no candidate
    takes fully (a wrong method, a missing trailing slash, an unknown path, the
    lifespan) goes to the router's own walk, which answers it as before. The
    index is rebuilt when routes are added."""

    def __init__(self, router):
        self.router = router
        self._built_from: tuple[int, int] | None = None

    def _build(self, routes: list) -> None:
        always: list = []  # routes without a shape: candidates for every path
        by_start: dict[tuple, list] = {}  # (count, first): routes whose last segment is a parameter
        by_shape: dict[tuple, list] = {}  # (count, first, last): routes with a literal last segment
        for route in routes:
            if not (isinstance(route, ShapedRoute) and route._shaped):
                always.append(route)
                for group in (*by_start.values(), *by_shape.values()):
                    group.append(route)
            elif route._shape_index == 0:
                shape = route._shape
                if shape not in by_shape:  # what a path of this shape could also match, so far
                    by_shape[shape] = [*by_start.get(shape[:2], always)]
                by_shape[shape].append(route)
            else:
                start = route._shape
                if start not in by_start:
                    by_start[start] = [*always]
                by_start[start].append(route)
                for shape, group in by_shape.items():
                    if shape[:2] == start:
                        group.append(route)
        self._always, self._by_start, self._by_shape = always, by_start, by_shape
        self._built_from = (id(routes), len(routes))

    def candidates(self, scope) -> list:
        """The routes that may match `scope`'s path, in the router's order."""
        routes = self.router.routes
        if self._built_from != (id(routes), len(routes)):
            self._build(routes)
        path = scope["path"]
        cached = scope.get(_SHAPE)
        if cached is None or cached[0] is not path:
            cached = scope[_SHAPE] = (path, *path_shape(get_route_path(scope)))
        group = self._by_shape.get(cached[1])
        return group if group is not None else self._by_start.get(cached[2], self._always)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            for route in self.candidates(scope):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:  # as Starlette's Router.app hands a full match over
                    scope.setdefault("router", self.router)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self.router.app(scope, receive, send)


def index_routes(app: FastAPI) -> None:
    """Route the app's requests through a RouteIndex (see there)."""
    router = app.router
    if router.middleware_stack != router.app:  # Starlette's router with nothing around its walk
        raise RuntimeError("the app's router has middleware of its own; RouteIndex would skip it")
    router.middleware_stack = RouteIndex(router)
