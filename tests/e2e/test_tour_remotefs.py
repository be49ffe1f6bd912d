"""Client tour, RemoteFS: the tour's Shoal has a second volume backend, `nas`
(Cinder's RemoteFS driver: raw files and qcow2 snapshot chains on a NAS share
directory), and a volume type naming it (`volume_backend_name=nas`) is how the
unmodified `openstack` and `cinder` clients reach it. The share directory is
exported by a real nfs-ganesha (the test session's), and a client opens the
volume that the connection info names over NFS with qemu-img (libnfs), as a
compute host would."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from shoal.exports.nfs import NfsClientRule, NfsExport
from tests.e2e.tour_fixtures import NAS_BACKEND, VOLUMES, remove, wait_deleted, wait_status, wait_until

pytestmark = pytest.mark.e2e
MiB = 1024**2


def qemu_io(path: str, fmt: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-io", "-f", fmt, "-c", command, path], capture_output=True, text=True, timeout=120)


def holds(path: str, fmt: str, pattern: int, offset: int = 0, length: int = MiB) -> bool:
    result = qemu_io(path, fmt, f"read -P {pattern:#04x} {offset} {length}")
    return result.returncode == 0 and "verification failed" not in result.stdout


@pytest.fixture(scope="module")
def nas_type(tour):
    """A public volume type that sends volumes to the RemoteFS backend (made by the admin)."""
    name = f"nas-{uuid.uuid4().hex[:6]}"
    made = tour.osc_json("admin", "volume", "type", "create", "--public", "--property",
                         f"volume_backend_name={NAS_BACKEND}", name)
    yield made["name"]
    tour.osc("admin", "volume", "type", "delete", made["id"], check=False)


@pytest.fixture
def nas_export(tour, ganesha_factory):
    """The share directory exported to this machine by an nfs-ganesha of the test's own,
    started last so that rpcbind sends NFSv3 clients (qemu's nfs:// asks it) there."""
    server = ganesha_factory()
    export = NfsExport(f"tour-nas-{os.getpid()}", tour.nas_dir, "", (NfsClientRule("rw", "127.0.0.1", "rw"),))
    assert server.helper.apply(export) == {}
    yield server
    server.helper.remove(export)


def volume_files(tour, volume_id: str, sidecars: bool = False) -> list[str]:
    """The volume's files in Cinder's layout (with Shoal's `.shoal-*` records too, if asked)."""
    return sorted(p.name for p in Path(tour.nas_dir).iterdir()
                  if p.name.startswith(f"volume-{volume_id}") and (sidecars or ".shoal-" not in p.name))


def test_a_type_sends_volumes_to_the_remotefs_backend(tour, nas_type, nas_export):
    a = tour.sdk("a-member").block_storage
    made = []
    try:
        created = tour.osc_json("a-member", "volume", "create", "--type", nas_type, "--size", "1", "nas-vol")
        made.append(created["id"])
        vol_id = created["id"]
        wait_status(a.get_volume, vol_id, "available")
        shown = tour.osc_json("admin", "volume", "show", vol_id)
        assert shown["os-vol-host-attr:host"] == f"shoal@{NAS_BACKEND}#127.0.0.1:{tour.nas_dir}"
        assert shown["type"] == nas_type
        base = f"{tour.nas_dir}/volume-{vol_id}"
        assert volume_files(tour, vol_id) == [f"volume-{vol_id}"]
        assert qemu_io(base, "raw", f"write -P 0x5a 0 {MiB}").returncode == 0  # what a guest wrote

        # A snapshot is a qcow2 overlay over the raw base, recorded in the .info file.
        snap = tour.osc_json("a-member", "volume", "snapshot", "create", "--volume", vol_id, "nas-snap")
        wait_status(a.get_snapshot, snap["id"], "available")
        info = json.loads(Path(f"{base}.info").read_text())
        assert info == {"active": f"volume-{vol_id}.{snap['id']}", snap["id"]: f"volume-{vol_id}.{snap['id']}"}
        assert qemu_io(f"{base}.{snap['id']}", "qcow2", f"write -P 0x6b 0 {MiB}").returncode == 0  # written after

        from_snap, clone = tour.osc_batch(
            "a-member",
            ["volume", "create", "--snapshot", snap["id"], "--size", "2", "--type", nas_type, "nas-from-snap",
             "-f", "json"],
            ["volume", "create", "--source", vol_id, "--type", nas_type, "nas-clone", "-f", "json"])
        made += [from_snap["id"], clone["id"]]
        assert wait_status(a.get_volume, from_snap["id"], "available").size == 2
        wait_status(a.get_volume, clone["id"], "available")
        # The snapshot's data in the new volume; the source's current data in the clone.
        assert holds(f"{tour.nas_dir}/volume-{from_snap['id']}", "raw", 0x5a)
        assert holds(f"{tour.nas_dir}/volume-{clone['id']}", "raw", 0x6b)
        assert volume_files(tour, vol_id) == sorted([f"volume-{vol_id}", f"volume-{vol_id}.info",
                                                     f"volume-{vol_id}.{snap['id']}"])  # the clone's temp snapshot is gone

        # Attach as a compute host does (legacy calls, as nova makes them): Cinder's NFS
        # connection info, and the active image read over NFS from the share's export.
        with tour.http(tour.token_id("a-member")) as http:
            url = f"/volume/v3/{tour.projects['tour-a']}/volumes/{vol_id}/action"
            connector = {"ip": "127.0.0.1", "host": "compute-1", "initiator": "iqn.2004-10.com.ubuntu:01:c1"}
            assert http.post(url, json={"os-reserve": None}).status_code == 202
            answer = http.post(url, json={"os-initialize_connection": {"connector": connector}})
            assert answer.status_code == 200, answer.text
            conn = answer.json()["connection_info"]
            assert conn["driver_volume_type"] == "nfs"
            assert conn["data"]["export"] == f"127.0.0.1:{tour.nas_dir}"
            assert (conn["data"]["name"], conn["data"]["format"]) == (f"volume-{vol_id}.{snap['id']}", "qcow2")
            seen = subprocess.run(["qemu-img", "info", "--output=json", "-f", "qcow2",
                                   f"nfs://127.0.0.1{tour.nas_dir}/{conn['data']['name']}"],
                                  capture_output=True, text=True, timeout=120)
            assert seen.returncode == 0, seen.stderr
            image = json.loads(seen.stdout)
            assert image["virtual-size"] == 1024**3 and image["backing-filename"] == f"volume-{vol_id}"
            assert http.post(url, json={"os-terminate_connection": {"connector": connector}}).status_code == 202
            assert http.post(url, json={"os-unreserve": None}).status_code == 202

        # Extend with a snapshot in place (the active overlay grows), then delete the
        # snapshot: its overlay is committed into the base, which keeps the later data.
        tour.osc("a-member", "volume", "set", "--size", "2", vol_id)
        wait_until("nas-vol to be 2 GiB", lambda: a.get_volume(vol_id).size == 2)
        tour.osc("a-member", "volume", "snapshot", "delete", snap["id"])
        wait_deleted(a.get_snapshot, snap["id"])
        assert volume_files(tour, vol_id) == [f"volume-{vol_id}"]
        assert holds(base, "raw", 0x6b)
        assert os.path.getsize(base) == 2 * 1024**3

        tour.osc("a-member", "volume", "delete", vol_id, from_snap["id"], clone["id"])
        for volume_id in made:
            wait_deleted(a.get_volume, volume_id)
            assert volume_files(tour, volume_id, sidecars=True) == []
    finally:
        remove(a, VOLUMES, made)


def test_cinder_client_on_the_remotefs_backend(tour, nas_type):
    a = tour.sdk("a-member").block_storage
    cinder = lambda *args, **kw: tour.cinder("a-member", *args, **kw)  # noqa: E731
    out = cinder("create", "--volume-type", nas_type, "--name", "nas-cinder", "1").stdout
    volume_id = next(line.split("|")[2].strip() for line in out.splitlines() if line.startswith("| id "))
    try:
        wait_status(a.get_volume, volume_id, "available")
        snap_out = cinder("snapshot-create", "--name", "nas-cinder-snap", volume_id).stdout
        snap_id = next(line.split("|")[2].strip() for line in snap_out.splitlines() if line.startswith("| id "))
        wait_status(a.get_snapshot, snap_id, "available")
        assert f"volume-{volume_id}.{snap_id}" in volume_files(tour, volume_id)
        cinder("snapshot-delete", snap_id)
        wait_deleted(a.get_snapshot, snap_id)
        cinder("delete", volume_id)
        wait_deleted(a.get_volume, volume_id)
        assert volume_files(tour, volume_id, sidecars=True) == []
    finally:
        remove(a, VOLUMES, [volume_id])


def test_pools_of_both_backends_and_a_type_no_pool_can_serve(tour, nas_type):
    pools = tour.cinder("admin", "get-pools", "--detail").stdout
    assert f"shoal@{NAS_BACKEND}#127.0.0.1:{tour.nas_dir}" in pools and "shoal@test#" in pools
    # A RemoteFS share cannot attach a volume to two hosts: a type asking for it places nowhere.
    name = f"nas-multi-{uuid.uuid4().hex[:6]}"
    vtype = tour.osc_json("admin", "volume", "type", "create", "--public", "--property",
                          f"volume_backend_name={NAS_BACKEND}", "--property", "multiattach=<is> True", name)
    a = tour.sdk("a-member").block_storage
    volume = None
    try:
        volume = tour.osc_json("a-member", "volume", "create", "--type", name, "--size", "1", "nas-multi")
        wait_until("the volume to fail", lambda: a.get_volume(volume["id"]).status == "error")
        with tour.http(tour.token_id("a-member")) as http:
            listed = http.get(f"/volume/v3/{tour.projects['tour-a']}/messages",
                              headers={"OpenStack-API-Version": "volume 3.3"}).json()["messages"]
        notes = [m["user_message"] for m in listed if m["resource_uuid"] == volume["id"]]
        assert notes and "multiattach" in notes[0], notes
    finally:
        if volume is not None:
            remove(a, VOLUMES, [volume["id"]])
        tour.osc("admin", "volume", "type", "delete", vtype["id"], check=False)


def test_an_existing_file_on_the_share_is_managed_and_unmanaged(tour, nas_type):
    legacy = Path(tour.nas_dir) / "legacy-disk.img"
    subprocess.run(["qemu-img", "create", "-f", "raw", str(legacy), "1536M"], check=True, capture_output=True)
    qemu_io(str(legacy), "raw", f"write -P 0x7c 0 {MiB}")
    pool = f"shoal@{NAS_BACKEND}#127.0.0.1:{tour.nas_dir}"
    listed = tour.cinder("admin", "--os-volume-api-version", "3.8", "manageable-list", "--detailed", "True",
                         f"shoal@{NAS_BACKEND}").stdout
    assert "legacy-disk.img" in listed
    out = tour.cinder("admin", "--os-volume-api-version", "3.8", "manage", "--name", "managed-legacy",
                      "--volume-type", nas_type, pool, f"127.0.0.1:{tour.nas_dir}/legacy-disk.img").stdout
    volume_id = next(line.split("|")[2].strip() for line in out.splitlines() if line.startswith("| id "))
    admin = tour.sdk("admin").block_storage
    try:
        managed = wait_status(admin.get_volume, volume_id, "available")
        assert managed.size == 2  # 1.5 GiB rounded up
        assert not legacy.exists() and holds(f"{tour.nas_dir}/volume-{volume_id}", "raw", 0x7c)
        tour.cinder("admin", "unmanage", volume_id)
        wait_deleted(admin.get_volume, volume_id)
        assert Path(f"{tour.nas_dir}/volume-{volume_id}").exists()  # unmanage keeps the data
    finally:
        remove(admin, VOLUMES, [volume_id]) if admin.find_volume(volume_id) else None
        for leftover in (legacy, Path(f"{tour.nas_dir}/volume-{volume_id}")):
            leftover.unlink(missing_ok=True)
