"""A NUL in any query parameter, declared or not, of the share, volume, identity and image
APIs is a 400 in that API's error format (api/openstack/queries.read): never a 500, never
a value stored or looked up. In-process app in identity mode, no backends."""

from __future__ import annotations

import pytest

from tests.unit.identity_app import identity_app

NUL = "a\x00b"
WORDS = "must be valid Unicode text without NUL characters"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return identity_app(tmp_path_factory.mktemp("query-nul"))


@pytest.fixture(scope="module")
def headers(app):
    token = app.admin()["X-Auth-Token"]
    return {"X-Auth-Token": token, "OpenStack-API-Version": "volume 3.71",
            "X-OpenStack-Manila-API-Version": "2.84", "Accept": "application/json"}


def _fault(reply) -> dict:
    """The message and code of each API's error body."""
    body = reply.json()
    if "error" in body:  # Keystone's
        return {"code": body["error"]["code"], "message": body["error"]["message"]}
    if "title" in body:  # Glance's
        return {"code": int(body["code"].split()[0]), "message": body["message"]}
    ((_, fault),) = body.items()  # Cinder's and Manila's {"badRequest": {...}}
    return fault


@pytest.mark.parametrize(("path", "params", "shape"), [
    ("/volume/v3/volumes/detail", {"name": NUL}, "badRequest"),
    ("/volume/v3/volumes", {"limit": "1", "unknown_filter": NUL}, "badRequest"),
    ("/volume/v3/snapshots", {"sort": NUL}, "badRequest"),
    ("/volume/v3/os-services", {"host": NUL}, "badRequest"),
    ("/volume/v3/qos-specs/none/associate", {"vol_type_id": NUL}, "badRequest"),
    ("/volume/v3/types", {"is_public": NUL}, "badRequest"),
    ("/share/v2/shares/detail", {"name": NUL}, "badRequest"),
    ("/share/v2/shares", {"metadata": NUL}, "badRequest"),
    ("/share/v2/snapshots", {"all_tenants": "1", "x\x00": "1"}, "badRequest"),
    # routes that read a value or two without a query model (api/openstack/call.py checks them)
    ("/share/v2/types", {"is_public": NUL}, "badRequest"),
    ("/share/v2/share-replicas/detail", {"share_id": NUL}, "badRequest"),
    ("/share/v2/services", {"host": NUL}, "badRequest"),
    ("/identity/v3/users", {"name": NUL}, "error"),
    ("/identity/v3/projects", {"parent_id": NUL}, "error"),
    ("/image/v2/images", {"name": NUL}, "message"),
    ("/image/v2/images", {"os_distro": NUL}, "message"),  # an image property, passed on undeclared
])
def test_a_nul_in_the_query_is_the_apis_400(app, headers, path, params, shape):
    reply = app.client.get(path, params=params, headers=headers)
    assert reply.status_code == 400, (path, reply.status_code, reply.text)
    assert shape in reply.json(), reply.text
    fault = _fault(reply)
    assert fault["code"] == 400 and WORDS in fault["message"], fault
    assert "\x00" not in fault["message"]


def test_the_same_query_without_the_nul_is_answered(app, headers):
    for path, params in [("/volume/v3/volumes/detail", {"name": "ab"}), ("/share/v2/shares/detail", {"name": "ab"}),
                         ("/identity/v3/users", {"name": "ab"}), ("/image/v2/images", {"name": "ab"}),
                         ("/volume/v3/os-services", {"host": "ab"})]:
        assert app.client.get(path, params=params, headers=headers).status_code == 200, path
