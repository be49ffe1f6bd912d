"""Client tour, Oracle ZFS Storage Appliance, against the ZFSSA emulator
(tests/emulators/zfssa: the appliance's REST API and WebDAV over a real
zpool, tgtd and ganesha). A tour Shoal of its own has a `zfssa_iscsi` and a
`zfssa_nfs` backend on the emulator, and types naming them are how the
unmodified `openstack` and `cinder` clients reach them. Data is written and
read from outside with the connection info `cinder attachment-create` hands
out: qemu-img over iscsi:// as the connector's initiator, over nfs:// for a
volume file on the share."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

from shoal.drivers.zfssa.appliance import MASK_ALL, Appliance
from shoal.drivers.zfssa.config import ApplianceAccess
from shoal.drivers.zfssa.rest import RestClient
from tests.e2e.attach_cli import attached, from_snapshot_and_clone
from tests.e2e.tour_fixtures import (
    VOLUMES,
    remove,
    tour_shoal,
    wait_deleted,
    wait_status,
    wait_until,
)
from tests.fixtures.shoal import backend_table
from tests.integration.zfssa_helpers import (
    INITIATOR_A,
    GiB,
    dataset_mountpoint,
    iscsi_json,
    iscsi_read,
    iscsi_size,
    iscsi_table,
    iscsi_write,
    nfs_read,
    nfs_table,
    nfs_write,
    pattern,
    token,
)

pytestmark = pytest.mark.e2e
ISCSI, NFS = "zfssa-iscsi", "zfssa-nfs"
HOST_A = {"initiator": INITIATOR_A, "ip": "127.0.0.1", "host": "compute-a"}


@pytest.fixture(scope="module")
def zfssa(zpool, tmp_path_factory, zfssa_appliance):
    """A tour Shoal with both ZFSSA backends on the emulator, public types for
    them (two iSCSI types that differ in compression and logbias, one NFS
    type), and a REST client of the appliance for looking behind Shoal."""
    iscsi, nfs = iscsi_table(zfssa_appliance), nfs_table(zfssa_appliance)
    extra = backend_table(ISCSI, iscsi) + backend_table(NFS, nfs)
    with tour_shoal(zpool, tmp_path_factory, "tour-zfssa", extra) as tour:
        specs = {"iscsi_a": [f"volume_backend_name={ISCSI}", "zfssa:compression=off", "zfssa:logbias=latency"],
                 "iscsi_b": [f"volume_backend_name={ISCSI}", "zfssa:compression=gzip", "zfssa:logbias=throughput"],
                 "nfs": [f"volume_backend_name={NFS}"], "nfs_b": [f"volume_backend_name={NFS}"]}
        commands = [["volume", "type", "create", "--public", *[w for p in props for w in ("--property", p)],
                     f"zfssa-{key.replace('_', '-')}-{token()}", "-f", "json"] for key, props in specs.items()]
        made = tour.osc_batch("admin", *commands)
        api = Appliance(RestClient(ApplianceAccess.model_validate(iscsi["appliance"])))
        try:
            yield SimpleNamespace(tour=tour, appliance=zfssa_appliance, iscsi=iscsi, nfs=nfs, api=api,
                                  types={key: t["name"] for key, t in zip(specs, made)})
        finally:
            tour.osc("admin", "volume", "type", "delete", *[t["id"] for t in made], check=False)


@pytest.fixture(autouse=True)
def rpcbind_names_the_emulator(zfssa_appliance):
    """The NFS driver's qemu-img and the test's reach the emulator's ganesha
    through rpcbind (the tour Shoal's own ganesha took it over when it started)."""
    with zfssa_appliance.rpcbind_names_ganesha():
        yield


def lun_names(zfssa) -> set[str]:
    return {lun["name"] for lun in zfssa.api.luns(zfssa.iscsi["pool"], zfssa.iscsi["project"])}


def reads(data: dict, dest, expected) -> bool:
    done = iscsi_read(data, INITIATOR_A, dest)
    assert done.returncode == 0, done.stderr
    return dest.read_bytes() == expected.read_bytes()


def test_zfssa_iscsi_volume_tour(zfssa, tmp_path):
    """emulator: create, snapshot, a larger volume from it, extend, revert,
    clone (a revert past the clone's snapshot of the volume then refused with a
    400 and the reason), retype in place and delete with the real clients;
    every step's data read over iSCSI with the connection info of an attachment."""
    tour, types = zfssa.tour, zfssa.types
    a = tour.sdk("a-member").block_storage
    pool, project = zfssa.iscsi["pool"], zfssa.iscsi["project"]
    one, two, three = (pattern(tmp_path / name, byte) for name, byte in (("one", 0x31), ("two", 0x32),
                                                                         ("three", 0x33)))
    created = tour.osc_json("a-member", "volume", "create", "--type", types["iscsi_a"], "--size", "1", "zi-vol")
    vol, made = created["id"], [created["id"]]
    try:
        wait_status(a.get_volume, vol, "available")
        shown = tour.osc_json("admin", "volume", "show", vol)
        assert shown["os-vol-host-attr:host"] == f"shoal@{ISCSI}#{pool}"
        lun = zfssa.api.lun(pool, project, f"volume-{vol}")
        assert (lun["compression"], lun["logbias"], lun["initiatorgroup"]) == ("off", "latency", [MASK_ALL])
        with attached(tour, "a-member", vol, HOST_A) as (kind, data):
            assert kind == "iscsi" and data["target_portal"] == zfssa.iscsi["target_portal"]
            assert data["auth_method"] == "CHAP" and data["auth_username"] == zfssa.iscsi["target_user"]
            iscsi_write(data, INITIATOR_A, one)
        assert zfssa.api.lun(pool, project, f"volume-{vol}")["initiatorgroup"] == [MASK_ALL]  # detached

        snap = tour.osc_json("a-member", "volume", "snapshot", "create", "--volume", vol, "zi-snap")
        wait_status(a.get_snapshot, snap["id"], "available")
        with attached(tour, "a-member", vol, HOST_A) as (_, data):
            iscsi_write(data, INITIATOR_A, two)

        from_snap = tour.osc_json("a-member", "volume", "create", "--snapshot", snap["id"], "--size", "2",
                                  "--type", types["iscsi_a"], "zi-from-snap")["id"]
        made.append(from_snap)
        assert wait_status(a.get_volume, from_snap, "available").size == 2
        with attached(tour, "a-member", from_snap, HOST_A) as (_, data):
            assert reads(data, tmp_path / "seen-from-snap", one)
            assert iscsi_size(data, INITIATOR_A) == 2 * GiB

        # Extend, then revert to the snapshot: its data, the extended size kept.
        tour.osc("a-member", "volume", "set", "--size", "2", vol)
        wait_until("zi-vol to be 2 GiB", lambda: a.get_volume(vol).size == 2 and a.get_volume(vol).status == "available")
        tour.osc("a-member", "--os-volume-api-version", "3.40", "volume", "revert", snap["id"])
        wait_status(a.get_volume, vol, "available")
        with attached(tour, "a-member", vol, HOST_A) as (_, data):
            assert reads(data, tmp_path / "seen-reverted", one)
            assert iscsi_size(data, INITIATOR_A) == 2 * GiB
            iscsi_write(data, INITIATOR_A, three)

        clone = tour.osc_json("a-member", "volume", "create", "--source", vol, "--type", types["iscsi_a"],
                              "zi-clone")["id"]
        made.append(clone)
        assert wait_status(a.get_volume, clone, "available").size == 2
        with attached(tour, "a-member", clone, HOST_A) as (_, data):
            assert reads(data, tmp_path / "seen-clone", three)

        # Now a revert to zi-snap would destroy the clone's snapshot of the
        # volume on the appliance: refused before anything changes.
        refused = tour.osc_fails("a-member", "--os-volume-api-version", "3.40", "volume", "revert", snap["id"])
        assert "400" in refused and f"the clone {clone}" in refused, refused
        assert (a.get_volume(vol).status, a.get_snapshot(snap["id"]).status) == ("available", "available")

        # Retype in place: compression and logbias change on the LUN, the data stays.
        tour.osc("a-member", "volume", "set", "--type", types["iscsi_b"], "--migration-policy", "never", vol)
        wait_until("zi-vol to have the new type",
                   lambda: (v := a.get_volume(vol)).volume_type == types["iscsi_b"] and v.status == "available")
        lun = zfssa.api.lun(pool, project, f"volume-{vol}")
        assert (lun["compression"], lun["logbias"]) == ("gzip", "throughput")
        with attached(tour, "a-member", vol, HOST_A) as (_, data):
            assert reads(data, tmp_path / "seen-retyped", three)

        tour.osc("a-member", "volume", "snapshot", "delete", snap["id"])
        wait_deleted(a.get_snapshot, snap["id"])
        tour.osc("a-member", "volume", "delete", *made)
        for volume_id in made:
            wait_deleted(a.get_volume, volume_id)
        assert not [name for name in lun_names(zfssa) if any(v in name for v in made)]
    finally:
        remove(a, VOLUMES, made)


def test_zfssa_iscsi_lun_made_by_hand_is_managed_and_unmanaged(zfssa, tmp_path):
    """emulator: a LUN made and written by hand on the appliance is listed as
    manageable, managed by `openstack volume create --remote-source` with its
    data, and unmanaged by `openstack volume delete --remote` (the LUN stays,
    renamed and no longer marked cinder_managed)."""
    tour, pool, project, iscsi = zfssa.tour, zfssa.iscsi["pool"], zfssa.iscsi["project"], zfssa.iscsi
    hand = f"by-hand-{token()}"
    group_a = next(g for g in iscsi["initiator_config"] if "-a-" in g)
    lun = zfssa.api.create_lun(pool, project, {"name": hand, "volsize": "1g", "targetgroup": iscsi["target_group"],
                                               "initiatorgroup": group_a})
    target = zfssa.api.target_by_alias(iscsi["target_group"])
    by_hand = {"target_portal": iscsi["target_portal"], "target_iqn": target["iqn"],
               "target_lun": lun["assignednumber"][0], "auth_method": "CHAP",
               "auth_username": iscsi["target_user"], "auth_password": iscsi["target_password"]}
    written = pattern(tmp_path / "hand", 0x7C)
    iscsi_write(by_hand, INITIATOR_A, written)

    listed = tour.cinder("admin", "--os-volume-api-version", "3.8", "manageable-list", "--detailed", "True",
                         f"shoal@{ISCSI}").stdout
    assert hand in listed
    managed = tour.osc_json("admin", "volume", "create", "--remote-source", f"source-name={hand}", "--host",
                            f"shoal@{ISCSI}#{pool}", "--type", zfssa.types["iscsi_a"], "managed-by-hand")
    admin = tour.sdk("admin").block_storage
    try:
        assert wait_status(admin.get_volume, managed["id"], "available").size == 1
        names = lun_names(zfssa)
        assert hand not in names and f"volume-{managed['id']}" in names
        assert zfssa.api.lun(pool, project, f"volume-{managed['id']}")["custom:cinder_managed"] is True
        with attached(tour, "admin", managed["id"], HOST_A) as (_, data):
            assert reads(data, tmp_path / "seen-managed", written)
        tour.osc("admin", "volume", "delete", "--remote", managed["id"])
        wait_deleted(admin.get_volume, managed["id"])
        kept = zfssa.api.lun(pool, project, f"unmanaged-volume-{managed['id']}")
        assert kept["custom:cinder_managed"] is False
    finally:
        if admin.find_volume(managed["id"]):
            remove(admin, VOLUMES, [managed["id"]])
        for name in (f"unmanaged-volume-{managed['id']}", hand):
            if name in lun_names(zfssa):
                zfssa.api.delete_lun(pool, project, name)


def test_zfssa_nfs_volume_tour(zfssa, tmp_path):
    """emulator: create, snapshot, a larger volume from it, clone, extend,
    revert and delete with the real clients; the volume files written and read
    over NFS (qemu-img's libnfs) with the connection info of an attachment. A
    retype finds no in-place change for a volume file: refused, nothing moves."""
    tour, types, appliance = zfssa.tour, zfssa.types, zfssa.appliance
    a = tour.sdk("a-member").block_storage
    share_dir = dataset_mountpoint(appliance.zfs_dataset(zfssa.nfs["project"], zfssa.nfs["share"]))
    one, two = pattern(tmp_path / "one", 0x41), pattern(tmp_path / "two", 0x42)

    def path_of(data: dict) -> tuple[str, str]:
        server, _, export = data["export"].partition(":")
        return server, f"{export}/{data['name']}"

    created = tour.osc_json("a-member", "volume", "create", "--type", types["nfs"], "--size", "1", "zn-vol")
    vol, made = created["id"], [created["id"]]
    try:
        wait_status(a.get_volume, vol, "available")
        assert tour.osc_json("admin", "volume", "show", vol)["os-vol-host-attr:host"] == \
            f"shoal@{NFS}#{zfssa.nfs['pool']}"
        with attached(tour, "a-member", vol, HOST_A) as (kind, data):
            assert (kind, data["name"], data["format"]) == ("nfs", f"volume-{vol}", "raw")
            nfs_write(*path_of(data), one)
        assert (share_dir / f"volume-{vol}").stat().st_size == GiB

        snap = tour.osc_json("a-member", "volume", "snapshot", "create", "--volume", vol, "zn-snap")
        wait_status(a.get_snapshot, snap["id"], "available")
        with attached(tour, "a-member", vol, HOST_A) as (_, data):
            nfs_write(*path_of(data), two)

        from_snap, clone = from_snapshot_and_clone(tour, "a-member", snap["id"], vol, types["nfs"], "zn")
        made += [from_snap, clone]
        with attached(tour, "a-member", from_snap, HOST_A) as (_, data):
            assert nfs_read(*path_of(data), tmp_path / "seen-from-snap") == one.read_bytes()
        assert (share_dir / f"volume-{from_snap}").stat().st_size == 2 * GiB
        with attached(tour, "a-member", clone, HOST_A) as (_, data):
            assert nfs_read(*path_of(data), tmp_path / "seen-clone") == two.read_bytes()

        tour.osc("a-member", "volume", "set", "--size", "2", vol)
        wait_until("zn-vol to be 2 GiB", lambda: a.get_volume(vol).size == 2 and a.get_volume(vol).status == "available")
        tour.osc("a-member", "--os-volume-api-version", "3.40", "volume", "revert", snap["id"])
        wait_status(a.get_volume, vol, "available")
        # Read in the emulator's dataset: the revert replaced the file over WebDAV,
        # and ganesha's cache may hand an NFS client the old file for a while
        # (on an appliance both are one server).
        with open(share_dir / f"volume-{vol}", "rb") as reverted:
            assert reverted.read(len(one.read_bytes())) == one.read_bytes()
        assert (share_dir / f"volume-{vol}").stat().st_size == 2 * GiB

        tour.osc("a-member", "volume", "set", "--type", types["nfs_b"], "--migration-policy", "never", vol)
        wait_until("the retype to end", lambda: a.get_volume(vol).status == "available")
        assert a.get_volume(vol).volume_type == types["nfs"]

        tour.osc("a-member", "volume", "snapshot", "delete", snap["id"])
        wait_deleted(a.get_snapshot, snap["id"])
        tour.osc("a-member", "volume", "delete", *made)
        for volume_id in made:
            wait_deleted(a.get_volume, volume_id)
        assert not [p.name for p in share_dir.iterdir() if any(v in p.name for v in made + [snap["id"]])]
    finally:
        remove(a, VOLUMES, made)


def test_pools_of_both_zfssa_backends(zfssa):
    """emulator: `cinder get-pools` lists each backend's appliance pool, with no credentials."""
    pools = zfssa.tour.cinder("admin", "get-pools", "--detail").stdout
    assert f"shoal@{ISCSI}#{zfssa.iscsi['pool']}" in pools and f"shoal@{NFS}#{zfssa.nfs['pool']}" in pools
    assert zfssa.appliance.password not in pools and zfssa.iscsi["target_password"] not in pools


def test_zfssa_iscsi_volumes_from_an_image_through_the_appliances_cache(zfssa, tmp_path):
    """emulator: `openstack volume create --image` twice onto a zfssa_iscsi type:
    the first fills the appliance's image cache (os-cache-vol-<image> and its
    snapshot image-<image>), both volumes are clones of that snapshot and read
    as the image over iSCSI; `openstack image create --volume` saves one back
    as the same bytes; the cache entry goes with the last volume."""
    tour, api, pool = zfssa.tour, zfssa.api, zfssa.iscsi["pool"]
    sdk = tour.sdk("a-member")
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as fh:
        fh.write(bytes(range(256)) * 8192)  # 2 MiB of a pattern, then a hole to 64 MiB
        fh.truncate(64 * 1024 * 1024)
    source = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(source)], check=True)
    images, volumes = [], []
    try:
        image = tour.osc_json("a-member", "image", "create", "--file", str(source), "--disk-format", "qcow2",
                              "--container-format", "bare", "zi-tour-image")
        images.append(image["id"])
        cache = "os-cinder-cache", f"os-cache-vol-{image['id']}", f"image-{image['id']}"
        for name in ("zi-from-image-1", "zi-from-image-2"):
            created = tour.osc_json("a-member", "volume", "create", "--image", image["id"], "--type",
                                    zfssa.types["iscsi_a"], "--size", "1", name)
            volumes.append(created["id"])
            wait_status(sdk.block_storage.get_volume, created["id"], "available")
            origin = api.lun(pool, zfssa.iscsi["project"], f"volume-{created['id']}")["origin"]
            assert (origin["project"], origin["share"], origin["snapshot"]) == cache
            with attached(tour, "a-member", created["id"], HOST_A) as (_, data):
                compared = subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(source),
                                           iscsi_json(data, INITIATOR_A, raw.stat().st_size)],
                                          capture_output=True, text=True, timeout=600, check=False)
                assert compared.returncode == 0, compared.stdout + compared.stderr
        assert api.lun_snapshot(pool, *cache[:2], cache[2])["numclones"] == 2

        uploaded = tour.osc_json("a-member", "image", "create", "--volume", volumes[0], "--disk-format", "raw",
                                 "--container-format", "bare", "zi-tour-back")
        images.append(uploaded["image_id"])
        wait_status(sdk.image.get_image, uploaded["image_id"], "active")
        wait_status(sdk.block_storage.get_volume, volumes[0], "available")
        saved = tmp_path / "saved.raw"
        tour.osc("a-member", "image", "save", "--file", str(saved), uploaded["image_id"])
        compared = subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(source), str(saved)],
                                  capture_output=True, text=True, timeout=600, check=False)
        assert compared.returncode == 0, compared.stdout + compared.stderr

        tour.osc("a-member", "volume", "delete", *volumes)
        for volume_id in volumes:
            wait_deleted(sdk.block_storage.get_volume, volume_id)
        assert cache[1] not in {lun["name"] for lun in api.luns(pool, cache[0])}
    finally:
        remove(sdk.block_storage, VOLUMES, volumes)
        for image_id in images:
            sdk.image.delete_image(image_id, ignore_missing=True)
