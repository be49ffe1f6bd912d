"""The shape pre-check of the API's routes picks exactly the route plain matching
would pick, for every route's own path, its neighbours and odd paths."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Match

from shoal.api.openstack.routes import RouteIndex, ShapedRoute, add_routes
from shoal.app import create_app
from shoal.config import Settings

APP = create_app(Settings(api={"auth": "identity"}), start=False)
ROUTES = APP.router.routes


def first_match(scope: dict, plain: bool, routes=ROUTES) -> tuple[object, Match] | None:
    partial = None
    for route in routes:
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


def full_match(scope: dict, routes) -> object | None:
    found = first_match(scope, plain=False, routes=routes)
    return found[0] if found is not None and found[1] is Match.FULL else None


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
def test_the_index_offers_the_route_a_walk_of_all_routes_takes(method):
    index = APP.router.middleware_stack
    assert isinstance(index, RouteIndex)
    for path in paths():
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
        candidates = index.candidates(dict(scope))
        assert len(candidates) < len(ROUTES) / 4, path
        assert full_match(dict(scope), candidates) is full_match(dict(scope), ROUTES), (method, path)


def test_requests_no_candidate_takes_are_answered_by_the_router_and_new_routes_are_indexed():
    app = create_app(Settings(api={"auth": "noauth"}), start=False)
    with TestClient(app) as client:
        assert client.get("/volume/v3/p/no-such-collection").status_code == 404
        assert client.get("/volume/v3").status_code == 200  # a route without a shape
        assert client.delete("/volume/v3/p/limits").status_code == 405  # a wrong method: the router's answer
        router = APIRouter()

        @router.get("/later/{item}")
        async def later(item: str):
            return {"item": item}

        add_routes(app, router, "/volume/v3/{project_id}", ["test"])
        assert client.get("/volume/v3/p/later/7").json() == {"item": "7"}


def test_routes_without_a_shape_keep_their_place_among_the_candidates():
    """A route without a shape (a parameter first, or a plain APIRoute) that comes
    before a shaped one matching the same path still wins, before or after it."""
    app = FastAPI()

    async def endpoint():
        return {}

    for path, shaped in (("/v/{a}/{b}", False), ("/v/x/{b}", True), ("/v/x/y", True), ("/w/x/{b}", True),
                         ("/w/{a}/{b}", False), ("/w/x/y", True), ("/{a}/x/y", True)):
        app.router.add_api_route(path, endpoint, methods=["GET"], route_class_override=ShapedRoute if shaped else APIRoute)
    index = RouteIndex(app.router)
    routes = app.router.routes
    for path, winner in (("/v/x/y", "/v/{a}/{b}"), ("/v/x/z", "/v/{a}/{b}"), ("/w/x/y", "/w/x/{b}"),
                         ("/w/q/y", "/w/{a}/{b}"), ("/u/x/y", "/{a}/x/y")):
        scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
        assert full_match(dict(scope), routes).path == winner, path
        assert full_match(dict(scope), index.candidates(dict(scope))).path == winner, path
