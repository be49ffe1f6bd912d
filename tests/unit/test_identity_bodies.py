"""Identity request bodies whose text could be neither stored nor answered -- a lone
surrogate or a NUL in a name, a password, a description, at any depth, the token
request's included -- are Keystone's 400 and create nothing (before, most were 500s)."""

from __future__ import annotations

import json

import pytest

from tests.unit.identity_app import identity_app

LONE = "\ud800"


@pytest.fixture
def app(tmp_path):
    return identity_app(tmp_path)


def post(app, path, body, headers=None):
    return app.client.post(path, content=json.dumps(body), headers={**(headers or {}),
                                                                    "Content-Type": "application/json"})


def test_unsafe_text_is_refused_and_creates_nothing(app):
    h = app.admin()
    listed = lambda kind: sorted(x["name"] for x in app.client.get(  # noqa: E731
        f"/identity/v3/{kind}", headers=h).json()[kind])
    before = {kind: listed(kind) for kind in ("users", "projects", "roles")}
    for path, body, where in (
            ("/identity/v3/users", {"user": {"name": f"a{LONE}", "password": "x"}}, "user.name"),
            ("/identity/v3/users", {"user": {"name": "b", "password": f"p{LONE}"}}, "user.password"),
            ("/identity/v3/users", {"user": {"name": "c\x00"}}, "user.name"),
            ("/identity/v3/users", {"user": {"name": "d", "options": {LONE: 1}}}, "user.options.<key>"),
            ("/identity/v3/projects", {"project": {"name": f"p{LONE}"}}, "project.name"),
            ("/identity/v3/projects", {"project": {"name": "p", "tags": ["ok", "\x00"]}}, "project.tags[1]"),
            ("/identity/v3/roles", {"role": {"name": "r", "description": LONE}}, "role.description")):
        answer = post(app, path, body, h)
        assert answer.status_code == 400, (path, body, answer.text)
        error = answer.json()["error"]
        assert error["message"].startswith(f"Invalid input for field '{where}'"), error
    token = post(app, "/identity/v3/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": {"name": "Default"}, "password": f"x{LONE}"}}}}})
    assert token.status_code == 400 and "auth.identity.password.user.password" in token.json()["error"]["message"]
    assert {kind: listed(kind) for kind in before} == before
