"""Routes copied flat onto the application.

FastAPI (0.16x) keeps an included router nested and, on every request, walks
each nested route with per-candidate scope bookkeeping: with the Manila and
Cinder APIs each included twice (with and without the project id), matching
took about 40% of a simple GET. Copied onto the app, every route is one regex
tried in order -- the same order `include_router` would give.

Each route also declares its response as `Any`, which sends a returned dict
through pydantic's JSON serializer instead of FastAPI's recursive
`jsonable_encoder` plus `json.dumps` (the same JSON, in a fraction of the time).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.utils import is_body_allowed_for_status_code


def add_routes(app: FastAPI, router: APIRouter, prefix: str, tags: list[str]) -> None:
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only API routes can be copied flat")
        app.add_api_route(
            prefix + route.path,
            route.endpoint,
            methods=sorted(route.methods),
            status_code=route.status_code,
            response_model=Any if is_body_allowed_for_status_code(route.status_code) else None,
            name=route.name,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            dependencies=route.dependencies,
            tags=tags,
        )
