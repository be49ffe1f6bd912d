"""A Shoal with a RemoteFS backend beside its ZFS one, through the Cinder API:
a type chooses the backend; what services ask of the driver (manage references,
the managed ids in the manageable list, recovery after a restart) goes through
the driver contracts. Real `shoal serve`, real qemu-img on a share directory
under the test's tmp dir."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.fixtures.remotefs import backend_toml
from tests.fixtures.shoal import restart_server, running_shoal

from .volume_helpers import cinder, fault, messages_for, wait_for_status, wait_gone

pytestmark = pytest.mark.integration
NAS = "nas"


@pytest.fixture(scope="module")
def nas_server(zpool, tmp_path_factory):
    share = tmp_path_factory.mktemp("nas-share")
    with running_shoal(zpool, tmp_path_factory, "remotefs-svc", extra_config=backend_toml(NAS, share)) as server:
        server.nas_dir = share
        server.pool_name = f"shoal@{NAS}#127.0.0.1:{share}"
        yield server


@pytest.fixture
def api(nas_server):
    with cinder(nas_server) as client:
        vtype = client.post("/types", json={"volume_type": {
            "name": f"nas-{uuid.uuid4().hex[:6]}", "extra_specs": {"volume_backend_name": NAS}}}).json()["volume_type"]
        made: list[str] = []

        def create(**fields) -> dict:
            body = {"size": 1, "volume_type": vtype["id"], **fields}
            volume = client.post("/volumes", json={"volume": body}).json()["volume"]
            made.append(volume["id"])
            return wait_for_status(client, f"/volumes/{volume['id']}", "available")

        yield client, create
        for volume_id in made:
            if client.get(f"/volumes/{volume_id}").status_code == 200:
                client.post(f"/volumes/{volume_id}/action", json={"os-reset_status": {"status": "available"}})
                client.delete(f"/volumes/{volume_id}", params={"cascade": "true"})
                wait_gone(client, f"/volumes/{volume_id}")
        client.delete(f"/types/{vtype['id']}")


def test_the_type_places_the_volume_on_the_share(api, nas_server):
    client, create = api
    volume = create()
    shown = client.get(f"/volumes/{volume['id']}").json()["volume"]
    assert shown["os-vol-host-attr:host"] == nas_server.pool_name
    assert (Path(nas_server.nas_dir) / f"volume-{volume['id']}").is_file()
    pools = {p["name"]: p for p in client.get("/scheduler-stats/get_pools", params={"detail": "true"}).json()["pools"]}
    nas = pools[nas_server.pool_name]["capabilities"]
    assert nas["storage_protocol"] == "NFS" and nas["volume_backend_name"] == NAS and nas["multiattach"] is False
    assert any(name.startswith("shoal@test#") for name in pools)


def test_managing_a_file_shoal_already_holds_is_refused_and_listed_with_its_id(api, nas_server):
    client, create = api
    volume = create()
    reference = {"source-name": f"127.0.0.1:{nas_server.nas_dir}/volume-{volume['id']}"}
    before = sorted(p.name for p in Path(nas_server.nas_dir).iterdir())
    refused = client.post("/manageable_volumes", json={"volume": {"host": nas_server.pool_name, "ref": reference}})
    assert "already managed as volume " + volume["id"] in fault(refused, 400)
    assert sorted(p.name for p in Path(nas_server.nas_dir).iterdir()) == before  # nothing changed
    listed = client.get("/manageable_volumes/detail", params={"host": f"shoal@{NAS}"}).json()["manageable-volumes"]
    mine = [item for item in listed if item["reference"] == reference]
    assert mine and mine[0]["safe_to_manage"] is False and mine[0]["cinder_id"] == volume["id"]


def test_a_chain_damaged_while_shoal_was_down_puts_its_volume_in_error_with_the_reason(api, nas_server):
    client, create = api
    damaged, intact = create(), create()
    for volume in (damaged, intact):
        snap = client.post("/snapshots", json={"snapshot": {"volume_id": volume["id"]}}).json()["snapshot"]
        wait_for_status(client, f"/snapshots/{snap['id']}", "available")
    nas_server.process.send_signal(2)
    nas_server.process.wait(timeout=30)
    # Lost while Shoal was down: the base image under the damaged volume's overlay.
    (Path(nas_server.nas_dir) / f"volume-{damaged['id']}").unlink()
    restart_server(nas_server)
    broken = wait_for_status(client, f"/volumes/{damaged['id']}", "error")
    assert broken["id"] == damaged["id"]
    notes = [m["user_message"] for m in messages_for(client, damaged["id"])]
    assert notes and f"volume-{damaged['id']}" in notes[-1]
    assert client.get(f"/volumes/{intact['id']}").json()["volume"]["status"] == "available"
    subprocess.run(["qemu-img", "create", "-f", "raw", str(Path(nas_server.nas_dir) / f"volume-{damaged['id']}"),
                    "1G"], check=True, capture_output=True)  # so the clean-up can delete it
