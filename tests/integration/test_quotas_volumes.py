"""Block Storage quotas through the real Shoal: an admin gives a fresh project a quota
set, the project fills it (volumes, snapshots, clones, extends) and is refused with
Cinder's 413 and messages; usage and limits follow; bad updates change nothing; 50
parallel creates against a quota of 10 leave exactly 10 volumes; a failed create is
given back when it is deleted; and the `cinder` CLI shows and changes the same sets.

Each test works in a project of its own, so the session project's quotas stay -1
(the test server configures no defaults). The servers run in noauth mode, where every
caller is an admin: the non-admin rules are checked in tests/unit/test_quotas.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.fixtures.zfs import destroy_dataset

from .quota_helpers import race, settle_and_delete
from .volume_helpers import (
    GiB,
    cinder,
    fault,
    messages_for,
    volume_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
    zfs,
    zfs_exists,
    zfs_get,
    zfs_names,
)

pytestmark = pytest.mark.integration

CINDER = Path(sys.executable).with_name("cinder")


@pytest.fixture
def project(volume_api):
    """A fresh project: (its id, a client of it). What it creates is removed by volume_api."""
    pid = uuid.uuid4().hex
    with cinder(volume_api.server, project=pid) as client:
        yield pid, client


def put_quota(client, pid: str, **values) -> dict:
    resp = client.put(f"/os-quota-sets/{pid}", json={"quota_set": values})
    assert resp.status_code == 200, resp.text
    return resp.json()["quota_set"]


def create(client, size: int = 1, **fields):
    return client.post("/volumes", json={"volume": {"size": size, **fields}})


def created(client, size: int = 1, **fields) -> dict:
    resp = create(client, size, **fields)
    assert resp.status_code == 202, resp.text
    return wait_for_status(client, f"/volumes/{resp.json()['volume']['id']}", "available")


def over_limit(resp) -> str:
    return fault(resp, 413, "overLimit")


def usage(client, pid: str) -> dict:
    resp = client.get(f"/os-quota-sets/{pid}", params={"usage": "True"})
    assert resp.status_code == 200, resp.text
    return resp.json()["quota_set"]


def test_quota_set_shapes_and_defaults(project):
    pid, client = project
    shown = client.get(f"/os-quota-sets/{pid}").json()["quota_set"]
    assert shown["id"] == pid
    for key in ("volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes", "groups",
                "per_volume_gigabytes", "volumes___DEFAULT__", "gigabytes___DEFAULT__", "snapshots___DEFAULT__"):
        assert shown[key] == -1, (key, shown)
    assert client.get(f"/os-quota-sets/{pid}/defaults").json()["quota_set"] == shown
    used = usage(client, pid)
    assert used["volumes"] == {"limit": -1, "in_use": 0, "reserved": 0, "allocated": 0}
    assert used["id"] == pid
    limits = client.get("/limits").json()["limits"]
    assert limits["rate"] == []
    assert limits["absolute"] == {
        "maxTotalVolumes": -1, "maxTotalSnapshots": -1, "maxTotalVolumeGigabytes": -1, "maxTotalBackups": -1,
        "maxTotalBackupGigabytes": -1, "totalVolumesUsed": 0, "totalGigabytesUsed": 0, "totalSnapshotsUsed": 0,
        "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0}


def test_a_project_fills_its_quota_and_is_refused_with_413(volume_api, project):
    pid, client = project
    updated = put_quota(client, pid, volumes=3, snapshots=1, gigabytes=8, per_volume_gigabytes=5)
    assert "id" not in updated and updated["volumes"] == 3 and updated["gigabytes"] == 8

    assert over_limit(create(client, 6)) == "Requested volume size 6G is larger than maximum allowed limit 5G."
    first = created(client, 2)
    resp = client.post("/snapshots", json={"snapshot": {"volume_id": first["id"]}})
    assert resp.status_code == 202, resp.text
    snap = wait_for_status(client, f"/snapshots/{resp.json()['snapshot']['id']}", "available")
    # Snapshots count in gigabytes too (as Cinder counts by default): 2 + 2 used.
    assert over_limit(client.post("/snapshots", json={"snapshot": {"volume_id": first["id"]}})) == \
        "Maximum number of snapshots allowed (1) exceeded for quota 'snapshots'."
    assert over_limit(create(client, 5)) == ("Requested volume or snapshot exceeds allowed gigabytes quota. "
                                             "Requested 5G, quota is 8G and 4G has been consumed.")
    clone = created(client, 2, source_volid=first["id"])  # 6 of 8 GiB, 2 of 3 volumes
    message = over_limit(create(client, 3, snapshot_id=snap["id"]))
    assert "exceeds allowed gigabytes quota" in message and "Requested 3G" in message
    # Extending asks for the difference only: 2 -> 4 needs 2 more GiB (8 of 8); 4 -> 5 one more.
    extend = client.post(f"/volumes/{clone['id']}/action", json={"os-extend": {"new_size": 4}})
    assert extend.status_code == 202, extend.text
    wait_for_status(client, f"/volumes/{clone['id']}", "available")
    assert client.get(f"/volumes/{clone['id']}").json()["volume"]["size"] == 4
    message = over_limit(client.post(f"/volumes/{clone['id']}/action", json={"os-extend": {"new_size": 5}}))
    assert "Requested 1G, quota is 8G and 8G has been consumed." in message
    assert client.get(f"/volumes/{clone['id']}").json()["volume"]["status"] == "available"  # unchanged

    used = usage(client, pid)
    assert (used["volumes"]["in_use"], used["snapshots"]["in_use"], used["gigabytes"]["in_use"]) == (2, 1, 8)
    absolute = client.get("/limits").json()["limits"]["absolute"]
    assert absolute["maxTotalVolumes"] == 3 and absolute["totalVolumesUsed"] == 2
    assert absolute["maxTotalVolumeGigabytes"] == 8 and absolute["totalGigabytesUsed"] == 8
    assert absolute["maxTotalSnapshots"] == 1 and absolute["totalSnapshotsUsed"] == 1

    # More room: the third volume fits, a fourth hits the volume count.
    put_quota(client, pid, gigabytes=-1)
    created(client, 1)
    assert over_limit(create(client, 1)) == "Maximum number of volumes allowed (3) exceeded for quota 'volumes'."
    # Deleting gives the quota back.
    delete = client.delete(f"/snapshots/{snap['id']}")
    assert delete.status_code == 202
    wait_gone(client, f"/snapshots/{snap['id']}")
    assert usage(client, pid)["snapshots"]["in_use"] == 0


def test_per_type_quota(volume_api, project):
    pid, client = project
    name = f"quota-{uuid.uuid4().hex[:6]}"
    vtype = volume_api.create_type(name)
    put_quota(client, pid, **{f"volumes_{name}": 1})
    shown = client.get(f"/os-quota-sets/{pid}").json()["quota_set"]
    assert shown[f"volumes_{name}"] == 1 and shown[f"gigabytes_{name}"] == -1
    created(client, 1, volume_type=vtype["id"])
    assert over_limit(create(client, 1, volume_type=vtype["id"])) == \
        f"Maximum number of volumes allowed (1) exceeded for quota 'volumes_{name}'."
    created(client, 1)  # another type: not limited
    assert usage(client, pid)[f"volumes_{name}"]["in_use"] == 1


def test_bad_updates_are_refused_and_change_nothing(project):
    pid, client = project
    put_quota(client, pid, volumes=5)
    created(client, 1)
    created(client, 1)
    before = client.get(f"/os-quota-sets/{pid}").json()
    for body, words in (({"volumes": -2}, "-1 (unlimited) or greater"), ({"volumes": "many"}, "integer"),
                        ({"volumes": 3, "cores": 4}, "Bad key(s) in quota set: cores"),
                        ({"snapshots": 2, "volumes": 1}, "Current usage is 2 and the requested limit is 1"),
                        ({"volumes": True}, "integer")):
        message = fault(client.put(f"/os-quota-sets/{pid}", json={"quota_set": body}), 400, "badRequest")
        assert words in message, message
    assert "quota_set" in fault(client.put(f"/os-quota-sets/{pid}", json={"volumes": 3}), 400)
    assert client.get(f"/os-quota-sets/{pid}").json() == before


def test_delete_and_the_default_class(project):
    pid, client = project
    put_quota(client, pid, volumes=4, snapshots=2)
    resp = client.delete(f"/os-quota-sets/{pid}")
    assert resp.status_code == 200, resp.text
    assert client.get(f"/os-quota-sets/{pid}").json()["quota_set"]["volumes"] == -1
    try:
        resp = client.put("/os-quota-class-sets/default", json={"quota_class_set": {"volumes": 7}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["quota_class_set"]["volumes"] == 7
        shown = client.get("/os-quota-class-sets/default").json()["quota_class_set"]
        assert shown["id"] == "default" and shown["volumes"] == 7 and shown["snapshots"] == -1
        assert client.get(f"/os-quota-sets/{pid}").json()["quota_set"]["volumes"] == 7
        assert client.get(f"/os-quota-sets/{pid}/defaults").json()["quota_set"]["volumes"] == 7
        put_quota(client, pid, volumes=2)  # the project's own value wins over the class
        assert client.get(f"/os-quota-sets/{pid}").json()["quota_set"]["volumes"] == 2
    finally:
        client.put("/os-quota-class-sets/default", json={"quota_class_set": {"volumes": -1}})
    assert client.get(f"/os-quota-sets/{pid}/defaults").json()["quota_set"]["volumes"] == -1


def test_50_parallel_creates_against_a_quota_of_10(volume_api, project):
    pid, client = project
    put_quota(client, pid, volumes=10)
    answers = race(50, lambda: cinder(volume_api.server, project=pid),
                   lambda own, index: create(own, 1, name=f"race-{index}"))
    assert sorted(r.status_code for r in answers) == [202] * 10 + [413] * 40
    for resp in answers:
        if resp.status_code == 413:
            assert over_limit(resp) == "Maximum number of volumes allowed (10) exceeded for quota 'volumes'."
    ids = {r.json()["volume"]["id"] for r in answers if r.status_code == 202}
    assert {v["id"] for v in client.get("/volumes").json()["volumes"]} == ids
    assert usage(client, pid)["volumes"]["in_use"] == 10
    settle_and_delete(client, "volumes", ids)
    assert usage(client, pid)["volumes"]["in_use"] == 0


def test_a_failed_create_counts_until_deleted_then_gives_its_quota_back(project):
    pid, client = project
    put_quota(client, pid, volumes=1)
    resp = create(client, 100000, name="no-pool-holds-this")  # passes the quota, fails to be placed
    assert resp.status_code == 202, resp.text
    failed = wait_for_status(client, f"/volumes/{resp.json()['volume']['id']}", "error")
    assert over_limit(create(client, 1)) == "Maximum number of volumes allowed (1) exceeded for quota 'volumes'."
    assert client.delete(f"/volumes/{failed['id']}").status_code == 202
    wait_gone(client, f"/volumes/{failed['id']}")
    assert usage(client, pid)["volumes"]["in_use"] == 0
    created(client, 1)  # the quota is back



def test_manage_counts_against_the_quota_once_its_size_is_known(volume_api, project):
    """The size of a managed volume is known only when the backend has it: a manage over the
    gigabytes quota ends in error_managing (not counted at that size) and can be unmanaged."""
    pid, client = project
    root = volume_api.server.pool_root
    legacy = f"{root}/legacy-{uuid.uuid4().hex[:6]}"
    zfs("create", legacy)
    with open(f"{zfs_get(legacy, 'mountpoint')}/volume.raw", "wb") as fh:
        fh.truncate(2 * GiB)
    before = zfs_names(root) - {legacy}
    try:
        put_quota(client, pid, volumes=0)
        body = {"volume": {"host": f"shoal@test#{root.split('/')[0]}", "ref": {"source-name": legacy}}}
        assert over_limit(client.post("/os-volume-manage", json=body)) == \
            "Maximum number of volumes allowed (0) exceeded for quota 'volumes'."
        assert zfs_exists(legacy)  # refused before anything was touched
        put_quota(client, pid, volumes=1, gigabytes=1)
        resp = client.post("/os-volume-manage", json=body)
        assert resp.status_code == 202, resp.text
        vid = resp.json()["volume"]["id"]
        volume = wait_for_status(client, f"/volumes/{vid}", "error_managing")
        assert volume["size"] == 0
        notes = [m["user_message"] for m in messages_for(client, vid)]
        assert any("exceeds allowed gigabytes quota. Requested 2G, quota is 1G" in m for m in notes), notes
        used = usage(client, pid)
        assert (used["volumes"]["in_use"], used["gigabytes"]["in_use"]) == (1, 0)
        resp = client.post(f"/volumes/{vid}/action", json={"os-unmanage": None})
        assert resp.status_code == 202, resp.text
        wait_gone(client, f"/volumes/{vid}")
        assert usage(client, pid)["volumes"]["in_use"] == 0
    finally:
        for dataset in sorted(zfs_names(root) - before, reverse=True):
            destroy_dataset(dataset)

# ---- the cinder CLI (noauth) ---------------------------------------------------------------------

@pytest.fixture
def cinder_cli(project, volume_api):
    if not CINDER.exists():
        pytest.skip("python-cinderclient is not installed in this venv; run scripts/host-setup")
    pid, _ = project
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CINDER_"))}
    env.update(OS_AUTH_TYPE="noauth", OS_USER_ID="admin", OS_PROJECT_ID=pid,
               CINDER_ENDPOINT=f"{volume_api.server.url}/volume/v3/{pid}")

    def run(*args: str) -> str:
        result = subprocess.run([str(CINDER), *args], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"cinder {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    return run


def table(text: str) -> dict[str, list[str]]:
    """A cinderclient table: first column -> the other columns."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) > 1:
            rows[cells[0]] = cells[1:]
    return rows


def test_cinder_cli_quota_show_update_usage(project, cinder_cli):
    pid, client = project
    assert table(cinder_cli("quota-show", pid))["volumes"] == ["-1"]
    updated = table(cinder_cli("quota-update", "--volumes", "4", "--gigabytes", "20", pid))
    assert updated["volumes"] == ["4"] and updated["gigabytes"] == ["20"]
    assert table(cinder_cli("quota-show", pid))["volumes"] == ["4"]
    created(client, 2)
    used = table(cinder_cli("quota-usage", pid))
    # Type | In_use | Reserved | Limit [| Allocated]
    assert used["volumes"][:3] == ["1", "0", "4"] and used["gigabytes"][:3] == ["2", "0", "20"]
    assert table(cinder_cli("quota-defaults", pid))["volumes"] == ["-1"]
    cinder_cli("quota-delete", pid)
    assert table(cinder_cli("quota-show", pid))["volumes"] == ["-1"]
