"""Image API bodies (create, JSON patch, members, import) whose text could be neither
stored nor answered -- a lone surrogate or a NUL in a name, a property, a tag, a key --
or that nest deeper than the parser may go are Glance's 400 and create nothing
(before: 500s, and a NUL was stored)."""

from __future__ import annotations

import json

import pytest

from tests.unit.identity_app import identity_app

LONE = "\ud800"


@pytest.fixture
def app(tmp_path):
    return identity_app(tmp_path)


def test_unsafe_or_deep_bodies_are_refused(app):
    headers = {**app.admin(), "Content-Type": "application/json"}
    for body, where in (({"name": f"i{LONE}"}, "name"), ({"name": "i", "os_distro": LONE}, "os_distro"),
                        ({"name": "i\x00"}, "name"), ({"name": "i", "tags": ["ok", LONE]}, "tags[1]"),
                        ({"name": "i", LONE: "v"}, "<key>")):
        answer = app.client.post("/image/v2/images", content=json.dumps(body), headers=headers)
        assert answer.status_code == 400, (body, answer.text)
        assert f"Invalid input for field '{where}'" in answer.text
    deep = app.client.post("/image/v2/images", content="[" * 5000 + "]" * 5000, headers=headers)
    assert deep.status_code == 400 and "deeper than" in deep.text
    image = app.client.post("/image/v2/images", json={"name": "fine"}, headers=headers).json()
    patch = app.client.patch(f"/image/v2/images/{image['id']}", content=json.dumps(
        [{"op": "replace", "path": "/name", "value": f"x{LONE}"}]),
        headers={**headers, "Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert patch.status_code == 400 and "'[0].value'" in patch.text
    member = app.client.post(f"/image/v2/images/{image['id']}/members", content=json.dumps({"member": LONE}),
                             headers=headers)
    assert member.status_code == 400
    assert [i["name"] for i in app.client.get("/image/v2/images", headers=headers).json()["images"]] == ["fine"]
