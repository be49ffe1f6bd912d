"""Shared File Systems quotas through the real Shoal: quota sets per project, per user and
per share type at the microversions Manila has them, filled by shares, snapshots, shares
from snapshots and extends until Manila's 413 (an extend: 403) answers; bad updates change nothing; 50
parallel creates against a quota of 10 leave exactly 10 shares; a failed create is given
back when it is deleted; python-manilaclient reads and changes the same sets. (Its OSC
plugin, `openstack share quota show/set`, first looks the project up in Keystone, which
a noauth server has not: it is left to the password-auth client tour.)

Each test works in a project of its own and removes what it made there; the servers run
in noauth mode (every caller an admin, user "admin"): the non-admin rules are checked in
tests/unit/test_quotas.py.
"""

from __future__ import annotations

import uuid

import pytest

from .quota_helpers import race, settle_and_delete
from .share_helpers import (
    fault,
    share_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
)

pytestmark = pytest.mark.integration

ALL_KEYS = {"shares", "gigabytes", "snapshots", "snapshot_gigabytes", "share_networks", "share_groups",
            "share_group_snapshots", "share_replicas", "replica_gigabytes", "per_share_gigabytes"}


def clean_project(client) -> None:
    """Remove every snapshot and share of the client's project (force, then wait)."""
    for kind in ("snapshots", "shares"):
        for item in client.get(f"/{kind}").json()[kind]:
            client.post(f"/{kind}/{item['id']}/action", json={"force_delete": None})
        for item in client.get(f"/{kind}").json()[kind]:
            wait_gone(client, f"/{kind}/{item['id']}", timeout=120)


@pytest.fixture
def project(share_api):
    pid = uuid.uuid4().hex
    with share_api.server.client(project=pid) as client:
        try:
            yield pid, client
        finally:
            clean_project(client)
            client.delete(f"/quota-sets/{pid}")


def put_quota(client, pid: str, params: dict | None = None, **values) -> dict:
    resp = client.put(f"/quota-sets/{pid}", params=params, json={"quota_set": values})
    assert resp.status_code == 200, resp.text
    return resp.json()["quota_set"]


def create(client, size: int = 1, **fields):
    return client.post("/shares", json={"share": {"share_proto": "NFS", "size": size, **fields}})


def created(client, size: int = 1, **fields) -> dict:
    resp = create(client, size, **fields)
    assert resp.status_code == 200, resp.text
    return wait_for_status(client, f"/shares/{resp.json()['share']['id']}", "available")


def snapshot(client, share_id: str):
    return client.post("/snapshots", json={"snapshot": {"share_id": share_id}})


def over_limit(resp) -> str:
    assert resp.status_code == 413, f"expected 413, got {resp.status_code}: {resp.text}"
    assert set(resp.json()) == {"overLimit"}, resp.text
    return fault(resp, 413)


def detail(client, pid: str, **params) -> dict:
    resp = client.get(f"/quota-sets/{pid}/detail", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()["quota_set"]


def test_quota_set_paths_keys_and_microversions(share_api, project):
    pid, client = project
    shown = client.get(f"/quota-sets/{pid}").json()["quota_set"]
    assert set(shown) == ALL_KEYS | {"id"} and shown["id"] == pid
    assert all(shown[k] == -1 for k in ALL_KEYS), shown
    assert client.get(f"/quota-sets/{pid}/defaults").json()["quota_set"] == shown
    assert detail(client, pid)["shares"] == {"limit": -1, "in_use": 0, "reserved": 0, "allocated": 0}
    assert client.get(f"/os-quota-sets/{pid}").status_code == 404  # the old name ended at 2.6
    with share_api.server.client(version="2.6", project=pid) as old:
        legacy = old.get(f"/os-quota-sets/{pid}").json()["quota_set"]
        assert set(legacy) == {"shares", "gigabytes", "snapshots", "snapshot_gigabytes", "share_networks", "id"}
        assert old.get(f"/quota-sets/{pid}").status_code == 404
        assert old.get(f"/os-quota-class-sets/default").status_code == 200
    with share_api.server.client(version="2.24", project=pid) as old:
        assert old.get(f"/quota-sets/{pid}/detail").status_code == 404
    with share_api.server.client(version="2.38", project=pid) as old:
        assert "2.39" in fault(old.get(f"/quota-sets/{pid}", params={"share_type": "default"}), 400)
        assert "Bad key" in fault(old.put(f"/quota-sets/{pid}", json={"quota_set": {"share_groups": 1}}), 400)
    limits = client.get("/limits").json()["limits"]
    assert limits["rate"] == [] and limits["absolute"]["maxTotalShares"] == -1
    assert limits["absolute"]["totalSharesUsed"] == 0 and limits["absolute"]["maxTotalShareReplicas"] == -1


def test_a_project_fills_its_quota_and_is_refused_with_413(project):
    pid, client = project
    updated = put_quota(client, pid, shares=2, gigabytes=5, snapshots=1, snapshot_gigabytes=4,
                        per_share_gigabytes=4)
    assert "id" not in updated and updated["shares"] == 2 and updated["per_share_gigabytes"] == 4

    assert over_limit(create(client, 5)) == "Requested share size 5 is larger than maximum allowed limit 4."
    first = created(client, 2)
    resp = snapshot(client, first["id"])
    assert resp.status_code == 202, resp.text
    snap = wait_for_status(client, f"/snapshots/{resp.json()['snapshot']['id']}", "available")
    assert over_limit(snapshot(client, first["id"])) == (
        "Maximum number of snapshots allowed (1) either per project/user or share type quota is exceeded.")
    assert over_limit(create(client, 4)) == (
        "Requested share exceeds allowed project/user or share type gigabytes quota.")
    copy = created(client, 2, snapshot_id=snap["id"])  # 2 of 2 shares, 4 of 5 GiB
    assert over_limit(create(client, 1)) == (
        "Maximum number of shares allowed (2) either per project/user or share type quota is exceeded.")
    # an extend over quota is Manila's 403 (a create's is 413)
    assert fault(client.post(f"/shares/{copy['id']}/action", json={"extend": {"new_size": 4}}), 403) == (
        f"Quota exceeded for {pid}, tried to extend share by 2G, (4G of 5G already consumed).")
    resp = client.post(f"/shares/{copy['id']}/action", json={"extend": {"new_size": 3}})
    assert resp.status_code == 202, resp.text
    wait_for_status(client, f"/shares/{copy['id']}", "available")
    assert client.get(f"/shares/{copy['id']}").json()["share"]["size"] == 3

    used = detail(client, pid)
    assert {k: used[k]["in_use"] for k in ("shares", "gigabytes", "snapshots", "snapshot_gigabytes")} == \
        {"shares": 2, "gigabytes": 5, "snapshots": 1, "snapshot_gigabytes": 2}
    absolute = client.get("/limits").json()["limits"]["absolute"]
    assert (absolute["maxTotalShares"], absolute["totalSharesUsed"]) == (2, 2)
    assert (absolute["maxTotalShareGigabytes"], absolute["totalShareGigabytesUsed"]) == (5, 5)
    assert (absolute["maxTotalSnapshotGigabytes"], absolute["totalSnapshotGigabytesUsed"]) == (4, 2)
    # Both snapshot limits would be passed now; the gigabytes are named first, as upstream.
    put_quota(client, pid, snapshot_gigabytes=2)
    assert over_limit(snapshot(client, first["id"])) == (
        "Requested snapshot exceeds allowed project/user or share type gigabytes quota.")


def test_share_type_and_user_quotas(share_api, project):
    pid, client = project
    name = f"quota-{uuid.uuid4().hex[:6]}"
    resp = client.post("/types", json={"share_type": {"name": name, "extra_specs": {
        "driver_handles_share_servers": False}}})
    assert resp.status_code == 200, resp.text
    by_type = {"share_type": name}
    shown = client.get(f"/quota-sets/{pid}", params=by_type).json()["quota_set"]
    assert set(shown) == {"id", "shares", "gigabytes", "snapshots", "snapshot_gigabytes", "share_replicas",
                          "replica_gigabytes", "per_share_gigabytes"}
    assert "share_networks" in fault(client.put(f"/quota-sets/{pid}", params=by_type,
                                                json={"quota_set": {"share_networks": 1}}), 400)
    assert put_quota(client, pid, by_type, shares=1)["shares"] == 1
    created(client, 1, share_type=name)
    assert "shares allowed (1)" in over_limit(create(client, 1, share_type=name))
    other = created(client, 1)  # the default type is not limited
    assert detail(client, pid, **by_type)["shares"]["in_use"] == 1
    assert detail(client, pid)["shares"]["in_use"] == 2

    # A user's quota (the noauth caller is "admin") within the project's.
    as_user = {"user_id": "admin"}
    put_quota(client, pid, shares=5)
    assert "project's limit 5" in fault(client.put(f"/quota-sets/{pid}", params=as_user,
                                                   json={"quota_set": {"shares": 6}}), 400)
    assert "already used" in fault(client.put(f"/quota-sets/{pid}", params=as_user,
                                              json={"quota_set": {"shares": 1}}), 400)
    assert put_quota(client, pid, as_user, shares=2)["shares"] == 2
    assert client.get(f"/quota-sets/{pid}", params=as_user).json()["quota_set"]["shares"] == 2
    assert "shares allowed (2)" in over_limit(create(client, 1))
    resp = client.delete(f"/quota-sets/{pid}", params=as_user)
    assert resp.status_code == 202, resp.text
    assert client.get(f"/quota-sets/{pid}", params=as_user).json()["quota_set"]["shares"] == 5
    assert client.delete(f"/quota-sets/{pid}", params=by_type).status_code == 202
    assert client.get(f"/quota-sets/{pid}", params=by_type).json()["quota_set"]["shares"] == 5
    assert "mutually exclusive" in fault(client.get(f"/quota-sets/{pid}", params={**as_user, **by_type}), 400)
    client.post(f"/shares/{other['id']}/action", json={"force_delete": None})


def test_bad_updates_are_refused_and_change_nothing(project):
    pid, client = project
    put_quota(client, pid, shares=5)
    created(client, 1)
    created(client, 1)
    before = client.get(f"/quota-sets/{pid}").json()
    for body, words in (({"shares": -2}, "-1 (unlimited) or greater"), ({"gigabytes": "lots"}, "integer"),
                        ({"shares": 3, "cores": 4}, "Bad key(s) cores"),
                        ({"gigabytes": 10, "shares": 1}, "smaller than already used and reserved 2")):
        message = fault(client.put(f"/quota-sets/{pid}", json={"quota_set": body}), 400)
        assert words in message, message
    assert client.get(f"/quota-sets/{pid}").json() == before
    assert put_quota(client, pid, shares=1, force=True)["shares"] == 1  # Manila's override
    assert "shares allowed (1)" in over_limit(create(client, 1))


def test_delete_and_the_default_class(project):
    pid, client = project
    put_quota(client, pid, shares=4)
    resp = client.delete(f"/quota-sets/{pid}")
    assert resp.status_code == 202, resp.text
    assert client.get(f"/quota-sets/{pid}").json()["quota_set"]["shares"] == -1
    try:
        resp = client.put("/quota-class-sets/default", json={"quota_class_set": {"shares": 7}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["quota_class_set"]["shares"] == 7
        shown = client.get("/quota-class-sets/default").json()["quota_class_set"]
        assert shown["id"] == "default" and shown["shares"] == 7 and shown["gigabytes"] == -1
        assert client.get(f"/quota-sets/{pid}").json()["quota_set"]["shares"] == 7
        assert client.get(f"/quota-sets/{pid}/defaults").json()["quota_set"]["shares"] == 7
    finally:
        client.put("/quota-class-sets/default", json={"quota_class_set": {"shares": -1}})
    assert client.get(f"/quota-sets/{pid}/defaults").json()["quota_set"]["shares"] == -1


def test_50_parallel_creates_against_a_quota_of_10(share_api, project):
    pid, client = project
    put_quota(client, pid, shares=10)
    answers = race(50, lambda: share_api.server.client(project=pid),
                   lambda own, index: create(own, 1, name=f"race-{index}"))
    assert sorted(r.status_code for r in answers) == [200] * 10 + [413] * 40
    for resp in answers:
        if resp.status_code == 413:
            assert over_limit(resp) == ("Maximum number of shares allowed (10) either per project/user or "
                                        "share type quota is exceeded.")
    ids = {r.json()["share"]["id"] for r in answers if r.status_code == 200}
    assert {s["id"] for s in client.get("/shares").json()["shares"]} == ids
    assert detail(client, pid)["shares"]["in_use"] == 10
    settle_and_delete(client, "shares", ids)
    assert detail(client, pid)["shares"]["in_use"] == 0


def test_a_failed_create_counts_until_deleted_then_gives_its_quota_back(project):
    pid, client = project
    put_quota(client, pid, shares=1)
    resp = create(client, 10000, name="no-pool-holds-this")  # passes the quota, fails to be placed
    assert resp.status_code == 200, resp.text
    failed = wait_for_status(client, f"/shares/{resp.json()['share']['id']}", "error")
    assert "shares allowed (1)" in over_limit(create(client, 1))
    assert client.delete(f"/shares/{failed['id']}").status_code == 202
    wait_gone(client, f"/shares/{failed['id']}")
    assert detail(client, pid)["shares"]["in_use"] == 0
    created(client, 1)  # the quota is back


# ---- the clients -------------------------------------------------------------------------------------

def test_manilaclient_quota_get_and_update(share_api, project):
    """The calls `openstack share quota show/set` make once the project is resolved."""
    manila = pytest.importorskip("manilaclient.client")
    from manilaclient import api_versions

    pid, client = project
    mc = manila.Client(api_versions.APIVersion("2.84"), input_auth_token=f"admin:{pid}",
                       service_catalog_url=f"{share_api.server.url}/share/v2/{pid}")
    assert mc.quotas.get(pid).shares == -1
    mc.quotas.update(pid, shares=6, gigabytes=60, per_share_gigabytes=10)
    shown = mc.quotas.get(pid)
    assert (shown.shares, shown.gigabytes, shown.per_share_gigabytes) == (6, 60, 10)
    created(client, 2)
    used = mc.quotas.get(pid, detail=True)
    assert used.shares["in_use"] == 1 and used.gigabytes == {"limit": 60, "in_use": 2, "reserved": 0,
                                                             "allocated": 0}
    assert mc.quotas.defaults(pid).shares == -1
    mc.quotas.delete(pid)
    assert mc.quotas.get(pid).shares == -1

