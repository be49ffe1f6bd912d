"""The shape pre-check of the API's routes picks exactly the route plain matching
would pick, for every route's own path, its neighbours and odd paths."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Match

from shoal.api.openstack.routes import ShapedRoute
from shoal.app import create_app
from shoal.config import Settings

APP = create_app(Settings(api={"auth": "identity"}), start=False)
ROUTES = APP.router.routes


def first_match(scope: dict, plain: bool) -> tuple[object, Match] | None:
    partial = None
    for route in ROUTES:
        if plain and isinstance(route, ShapedRoute):
            match, _ = APIRoute.matches(route, scope)
        else:
            match, _ = route.matches(scope)
        if match is Match.FULL:
            return route, match
        if match is Match.PARTIAL and partial is None:
            partial = (route, match)
    return partial


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123456789abcdef0123456789abcdef", template)


def paths() -> list[str]:
    found = set()
    for route in ROUTES:
        path = concrete(route.path)
        found |= {path, path + "/", path.rstrip("/"), path + "/detail", path.rsplit("/", 1)[0]}
    found |= {"/", "", "/share", "/volume/v3/x/unknown", "/identity/v3/auth/tokens/extra", "//share//"}
    return sorted(found)


def test_most_routes_are_shaped():
    assert sum(isinstance(r, ShapedRoute) for r in ROUTES) > 250


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
def test_shaped_matching_picks_the_route_plain_matching_picks(method):
    for path in paths():
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
        assert first_match(dict(scope), plain=False) == first_match(dict(scope), plain=True), (method, path)


def test_a_scope_copied_for_another_path_is_matched_by_its_own_path():
    """Starlette's slash-redirect check copies the scope (with the cached shape) and changes the path."""
    volume_list = next(r for r in ROUTES if r.path == "/volume/v3/{project_id}/volumes" and "GET" in r.methods)
    scope = {"type": "http", "method": "GET", "path": "/volume/v3/p/volumes/", "root_path": ""}
    assert volume_list.matches(scope)[0] is Match.NONE
    redirect = dict(scope, path="/volume/v3/p/volumes")
    assert volume_list.matches(redirect)[0] is Match.FULL
