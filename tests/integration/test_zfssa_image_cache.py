"""The ZFSSA drivers' own image cache (Cinder's ZFSSA clone_image, reference
§3.6), against the ZFSSA emulator (tests/emulators/zfssa: the appliance's REST
API and WebDAV over a real zpool, tgtd and ganesha). A Shoal of its own has a
`zfssa_iscsi` and a `zfssa_nfs` backend on the emulator, each with a cache
project / directory of its own, and its Image API holds the images.

The story, on each backend: the first volume from an image fills the cache
entry on the appliance (iSCSI: a LUN `os-cache-vol-<image>` with a snapshot
`image-<image>`; NFS: a file `<cache dir>/volume-<image>`) through Shoal's
copy, and the volume is made from it; a second volume from the image is made
from the same entry without another copy (iSCSI: a clone of the snapshot, its
`origin` in the emulator's REST); every volume reads as the image, byte for
byte, from outside (qemu-img compare over iscsi:// with an attachment's
connection info, over nfs:// for the volume file). An image changed since
(its updated_at) gets a fresh entry; the entry goes when the last volume made
from it does. A clone the appliance refuses falls back to Shoal's copy: the
volume still reads as the image, and no entry or LUN/file is left behind."""

from __future__ import annotations

import json
import uuid

import pytest

from shoal.drivers.zfssa.appliance import Appliance
from shoal.drivers.zfssa.config import (
    ApplianceAccess,
    ZfssaIscsiBackendConfig,
    ZfssaNfsBackendConfig,
)
from shoal.drivers.zfssa.iscsi import ZfssaIscsiVolumeDriver
from shoal.drivers.zfssa.nfs import ZfssaNfsVolumeDriver
from shoal.drivers.zfssa.rest import RestClient
from shoal.drivers.zfssa.webdav import WebDavClient
from shoal.hosts import LocalHost
from tests.fixtures.shoal import backend_table, running_shoal

from .image_helpers import patch
from .test_image_volume_cache import (  # `qemu-img convert`s run; a volume from an image
    converts,
    new_volume,
)
from .volume_helpers import MiB, VolumeApi, cinder, wait_until
from .volume_image_helpers import (
    download,
    glance,
    lun_spec,
    make_image,
    same_data,
    upload_image,
    wait_image,
)
from .zfssa_helpers import INITIATOR_A, iscsi_table, nfs_client, nfs_table, token

pytestmark = pytest.mark.integration
ISCSI, NFS = "zfssa-ic-iscsi", "zfssa-ic-nfs"
VIRTUAL = 64 * MiB  # the images' virtual size: a 1 GiB cache entry, compared over the image's extent


@pytest.fixture(scope="module")
def server(zpool, tmp_path_factory, zfssa_appliance):
    """emulator: a Shoal with a zfssa_iscsi and a zfssa_nfs backend on it, each
    with an image cache of its own; REST and WebDAV clients to look behind Shoal."""
    iscsi = iscsi_table(zfssa_appliance, cache_project=f"shoal-cache-{token()}")
    nfs = nfs_table(zfssa_appliance, cache_directory=f"cache-{token()}")
    extra = backend_table(ISCSI, iscsi) + backend_table(NFS, nfs)
    with running_shoal(zpool, tmp_path_factory, "zfssa-imgcache", extra_config=extra) as shoal:
        access = ApplianceAccess.model_validate(iscsi["appliance"])
        shoal.zfssa, shoal.iscsi, shoal.nfs = Appliance(RestClient(access)), iscsi, nfs
        share = shoal.zfssa.filesystem(nfs["pool"], nfs["project"], nfs["share"])
        shoal.mountpoint = share["mountpoint"]
        shoal.dav = WebDavClient(access, nfs["data_ip"], nfs["https_port"], share["mountpoint"])
        yield shoal


@pytest.fixture(autouse=True)
def rpcbind_names_the_emulator(zfssa_appliance, server):
    """qemu's nfs:// (the NFS driver's and the test's) reaches the emulator's
    ganesha through rpcbind (the test Shoal's own ganesha took it over)."""
    with zfssa_appliance.rpcbind_names_ganesha():
        yield


@pytest.fixture
def api(server, zfssa_appliance):
    """A VolumeApi with a type per backend and an Image API client; what a test
    made is removed afterwards."""
    with cinder(server) as client, glance(server) as images:
        api = VolumeApi(server, client)
        api.images, api.appliance = images, zfssa_appliance
        api.types = {name: api.create_type(f"{name}-{uuid.uuid4().hex[:4]}", {"volume_backend_name": name})
                     for name in (ISCSI, NFS)}
        yield api
        zfssa_appliance.clear_failures()
        for volume in client.get("/volumes").json()["volumes"]:
            client.post(f"/volumes/{volume['id']}/action", json={"os-force_delete": None})
        wait_until(lambda: not client.get("/volumes").json()["volumes"], timeout=120, what="the volumes gone")
        for image in images.get("/images").json()["images"]:
            images.delete(f"/images/{image['id']}")
        for vtype in api.types.values():
            client.delete(f"/types/{vtype['id']}")


# ---- what the test looks at -----------------------------------------------------------------------


def nfs_spec(server, name: str) -> str:
    """qemu's spec of the first VIRTUAL bytes of a file on the emulator's share."""
    return "json:" + json.dumps({"driver": "raw", "size": VIRTUAL, "file": {
        "driver": "nfs", "server": {"type": "inet", "host": server.nfs["data_ip"]},
        "path": f"{server.mountpoint}/{name}"}})


def reads_as(api: VolumeApi, backend: str, volume: dict, source) -> None:
    """From outside: over iSCSI with an attachment's connection info, or the volume file over NFS."""
    if backend == NFS:
        # rpcbind named again (another test's ganesha may have started since), and
        # asked again while the emulator's ganesha rereads its exports.
        with api.appliance.rpcbind_names_ganesha():
            done = nfs_client(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(source),
                               nfs_spec(api.server, f"volume-{volume['id']}")])
        assert done.returncode == 0, done.stdout + done.stderr
        return
    attachment = api.attach(volume["id"], INITIATOR_A)
    try:
        spec = json.loads(lun_spec(attachment, INITIATOR_A)[len("json:"):])
        same_data(source, "qcow2", "json:" + json.dumps({**spec, "size": VIRTUAL}))
    finally:
        api.detach(attachment["id"])


def cache_luns(server) -> dict[str, dict]:
    return {lun["name"]: lun for lun in server.zfssa.luns(server.iscsi["pool"], server.iscsi["cache_project"])}


def volume_lun(server, volume_id: str) -> dict:
    return server.zfssa.lun(server.iscsi["pool"], server.iscsi["project"], f"volume-{volume_id}")


def numclones(server, image_id: str) -> int:
    snap = server.zfssa.lun_snapshot(server.iscsi["pool"], server.iscsi["cache_project"],
                                     f"os-cache-vol-{image_id}", f"image-{image_id}")
    return snap["numclones"]


def cache_files(server) -> dict[str, dict]:
    return dict(server.dav.listing(server.nfs["cache_directory"]))


def volume_files(server) -> set[str]:
    return {name for name, props in server.dav.listing("") if "collection" not in props}


def an_image(api: VolumeApi, tmp_path, seed: str) -> tuple[dict, object]:
    source = make_image(tmp_path, "qcow2", VIRTUAL, seed)
    return upload_image(api.images, source, "qcow2"), source


# ---- the stories ---------------------------------------------------------------------------------


def test_iscsi_volumes_from_an_image_are_clones_of_the_appliances_cache(api, tmp_path):
    """emulator: two volumes asked for at once fill os-cache-vol-<image> (custom
    image_id and updated_at) and its snapshot image-<image> through one copy, and
    both are clones of that snapshot (their origin in the REST); a third, larger
    volume is one too, with no copy at all; all read as the image over iSCSI.
    The entry goes with the last clone."""
    server = api.server
    image, source = an_image(api, tmp_path, "zi-cache")
    before = converts(api)
    asked = [api.create_volume(1, imageRef=image["id"], volume_type=api.types[ISCSI]["id"], wait=None)
             for _ in range(2)]
    first, other = (api.wait_volume(v["id"], "available", timeout=300) for v in asked)
    assert converts(api) - before == 1  # one fill for both; each volume is a clone of it
    cache = cache_luns(server)[f"os-cache-vol-{image['id']}"]
    assert cache["custom:image_id"] == image["id"] and cache["volsize"] == 1024 * MiB
    assert cache["initiatorgroup"] == ["com.sun.ms.vss.hg.maskAll"]  # the copy's own group withdrawn
    origin = {"project": server.iscsi["cache_project"], "share": f"os-cache-vol-{image['id']}",
              "snapshot": f"image-{image['id']}"}
    for volume in (first, other):
        assert {k: volume_lun(server, volume["id"])["origin"][k] for k in origin} == origin
    reads_as(api, ISCSI, first, source)
    api.delete_volume(other["id"])

    before = converts(api)
    second = new_volume(api, ISCSI, image, size=2)
    assert converts(api) == before  # no copy at all: a clone of the cache's snapshot
    lun = volume_lun(server, second["id"])
    assert {k: lun["origin"][k] for k in origin} == origin and lun["volsize"] == 2 * 1024 * MiB
    assert numclones(server, image["id"]) == 2
    reads_as(api, ISCSI, second, source)

    api.delete_volume(first["id"])
    assert numclones(server, image["id"]) == 1
    api.delete_volume(second["id"])
    assert not cache_luns(server)  # the entry went with its last clone


def test_iscsi_a_changed_image_refreshes_the_cache_and_old_clones_keep_theirs(api, tmp_path):
    """emulator: after the image's metadata changes (updated_at), the next volume
    comes from a fresh entry; the stale one, still needed by an older volume's
    clone, is hidden (deleted-…) and goes with that volume."""
    server = api.server
    image, source = an_image(api, tmp_path, "zi-refresh")
    old = new_volume(api, ISCSI, image)
    stale_updated_at = cache_luns(server)[f"os-cache-vol-{image['id']}"]["custom:updated_at"]
    assert patch(api.images, image["id"], {"op": "replace", "path": "/name", "value": "renamed"}).status_code == 200

    before = converts(api)
    new = new_volume(api, ISCSI, image)
    assert converts(api) - before == 1  # a fresh fill
    luns = cache_luns(server)
    current = luns[f"os-cache-vol-{image['id']}"]
    assert current["custom:updated_at"] != stale_updated_at
    (hidden,) = [name for name in luns if name.startswith("deleted-")]
    assert hidden.endswith(f"-os-cache-vol-{image['id']}") and luns[hidden]["custom:updated_at"] == stale_updated_at
    assert volume_lun(server, old["id"])["origin"]["share"] == hidden
    assert volume_lun(server, new["id"])["origin"]["share"] == f"os-cache-vol-{image['id']}"
    reads_as(api, ISCSI, old, source)
    reads_as(api, ISCSI, new, source)

    api.delete_volume(old["id"])
    assert set(cache_luns(server)) == {f"os-cache-vol-{image['id']}"}  # the stale entry went with its clone
    api.delete_volume(new["id"])
    assert not cache_luns(server)


def test_iscsi_a_refused_clone_falls_back_to_the_copy_and_leaves_nothing(api, zfssa_appliance, tmp_path):
    """emulator: the appliance refuses the clone of the cache snapshot; the volume
    is made and filled by Shoal's copy instead (no origin), reads as the image,
    and the entry filled for it, which nothing uses, is gone."""
    server = api.server
    image, source = an_image(api, tmp_path, "zi-refused")
    zfssa_appliance.fail_next("PUT", rf"/snapshots/image-{image['id']}/clone$", 400)
    before = converts(api)
    volume = new_volume(api, ISCSI, image)
    assert converts(api) - before == 2  # the cache's fill, then the volume's own copy
    assert "origin" not in volume_lun(server, volume["id"])
    assert not cache_luns(server)
    names = {lun["name"] for lun in server.zfssa.luns(server.iscsi["pool"], server.iscsi["project"])}
    assert names == {f"volume-{volume['id']}"}
    reads_as(api, ISCSI, volume, source)


def test_nfs_volumes_from_an_image_are_copies_of_the_appliances_cache_file(api, tmp_path):
    """emulator: the first volume fills <cache dir>/volume-<image> (image_id and
    updated_at as WebDAV properties) through one copy; it and a second, larger
    volume are WebDAV copies of it (origin names it, numclones counts them), with
    no second qemu-img copy; both read as the image over NFS. A changed image
    replaces the file; it goes when the last volume copied from it does."""
    server = api.server
    cache_name = "volume-{}"
    image, source = an_image(api, tmp_path, "zn-cache")
    cache_path = f"{server.nfs['cache_directory']}/{cache_name.format(image['id'])}"
    before = converts(api)
    first = new_volume(api, NFS, image)
    assert converts(api) - before == 1
    props = cache_files(server)[cache_name.format(image["id"])]
    assert props["image_id"] == image["id"] and props["numclones"] == "1"
    assert server.dav.properties(f"volume-{first['id']}")["origin"] == cache_path
    reads_as(api, NFS, first, source)

    before = converts(api)
    second = new_volume(api, NFS, image, size=2)
    assert converts(api) == before
    assert server.dav.properties(f"volume-{second['id']}")["origin"] == cache_path
    assert int(server.dav.properties(f"volume-{second['id']}")["getcontentlength"]) == 2 * 1024 * MiB
    assert cache_files(server)[cache_name.format(image["id"])]["numclones"] == "2"
    reads_as(api, NFS, second, source)

    stale = cache_files(server)[cache_name.format(image["id"])]["updated_at"]
    assert patch(api.images, image["id"], {"op": "replace", "path": "/name", "value": "renamed"}).status_code == 200
    before = converts(api)
    third = new_volume(api, NFS, image)
    assert converts(api) - before == 1  # refreshed
    refreshed = cache_files(server)[cache_name.format(image["id"])]
    assert refreshed["updated_at"] != stale and refreshed["numclones"] == "3"
    reads_as(api, NFS, third, source)

    api.delete_volume(first["id"])
    api.delete_volume(second["id"])
    assert cache_files(server)[cache_name.format(image["id"])]["numclones"] == "1"
    api.delete_volume(third["id"])
    assert not cache_files(server)
    assert not {n for n in volume_files(server) if n.startswith("volume-")}


def test_nfs_two_volumes_asked_for_at_once_fill_the_cache_once(api, tmp_path):
    """emulator: two NFS volumes from one image asked for at once (the cache's
    lock): one fill of <cache dir>/volume-<image>, both WebDAV copies of it
    (origin names it, numclones 2), both read as the image over NFS; the file
    goes with the last of them."""
    server = api.server
    image, source = an_image(api, tmp_path, "zn-at-once")
    cache_path = f"{server.nfs['cache_directory']}/volume-{image['id']}"
    before = converts(api)
    asked = [api.create_volume(1, imageRef=image["id"], volume_type=api.types[NFS]["id"], wait=None)
             for _ in range(2)]
    volumes = [api.wait_volume(v["id"], "available", timeout=300) for v in asked]
    assert converts(api) - before == 1  # one fill for both
    assert cache_files(server)[f"volume-{image['id']}"]["numclones"] == "2"
    for volume in volumes:
        assert server.dav.properties(f"volume-{volume['id']}")["origin"] == cache_path
        reads_as(api, NFS, volume, source)
    for volume in volumes:
        api.delete_volume(volume["id"])
    assert not cache_files(server)


def test_nfs_a_refused_copy_falls_back_and_leaves_nothing(api, zfssa_appliance, tmp_path):
    """emulator: the appliance's WebDAV refuses the COPY out of the cache; the
    volume is made and filled by Shoal's copy instead, reads as the image, and
    the cache file filled for it, which nothing was copied from, is gone."""
    server = api.server
    image, source = an_image(api, tmp_path, "zn-refused")
    zfssa_appliance.fail_next("COPY", rf"/volume-{image['id']}$", 507)
    before = converts(api)
    volume = new_volume(api, NFS, image)
    assert converts(api) - before == 2
    assert "origin" not in server.dav.properties(f"volume-{volume['id']}")
    assert not cache_files(server)
    assert {n for n in volume_files(server) if n.startswith("volume-")} == {f"volume-{volume['id']}"}
    reads_as(api, NFS, volume, source)



@pytest.mark.parametrize("backend", [ISCSI, NFS])
def test_an_image_from_a_volume_reads_the_volume_through_the_appliance(api, backend, tmp_path):
    """emulator: os-volume_upload_image of a volume made from an image (the
    driver's open_data for reading: the LUN over iSCSI, the file over NFS) gives
    an image with the volume's bytes; the LUN is withdrawn from the copy's group."""
    image, source = an_image(api, tmp_path, f"{backend}-upload")
    volume = new_volume(api, backend, image)
    resp = api.action(volume["id"], "os-volume_upload_image",
                      {"image_name": f"back-{token()}", "disk_format": "qcow2", "container_format": "bare"})
    assert resp.status_code == 202, resp.text
    uploaded = wait_image(api.images, resp.json()["os-volume_upload_image"]["image_id"])
    assert api.wait_volume(volume["id"], "available")["status"] == "available"
    saved = download(api.images, uploaded["id"], tmp_path / "saved.qcow2")
    same_data(source, "qcow2", str(saved), "qcow2")
    if backend == ISCSI:
        assert volume_lun(api.server, volume["id"])["initiatorgroup"] == ["com.sun.ms.vss.hg.maskAll"]


def test_what_a_crash_left_in_the_caches_goes_at_the_next_start(api, tmp_path):
    """emulator: a cache LUN whose fill a crash cut short (no snapshot), a cache
    file nothing was copied from and a half-written fill file are removed when a
    driver on the same caches starts; an entry a volume still needs stays."""
    server = api.server
    image, _ = an_image(api, tmp_path, "crash")
    kept = new_volume(api, ISCSI, image)
    pool, cache_project = server.iscsi["pool"], server.iscsi["cache_project"]
    orphan = f"os-cache-vol-{uuid.uuid4()}"
    server.zfssa.create_lun(pool, cache_project, {"name": orphan, "volsize": "1g", "sparse": True})

    nfs_volume = new_volume(api, NFS, image)
    directory = server.nfs["cache_directory"]
    stray, unused = f"{directory}/tmp-fill-{uuid.uuid4()}-0a1b2c3d", f"{directory}/volume-{uuid.uuid4()}"
    for name in (stray, unused):
        server.dav.copy(f"volume-{nfs_volume['id']}", name)
    api.delete_volume(nfs_volume["id"])  # its own entry goes with it; the two above are no entry's

    for driver in (ZfssaIscsiVolumeDriver("restarted", ZfssaIscsiBackendConfig.model_validate(server.iscsi)),
                   ZfssaNfsVolumeDriver("restarted", ZfssaNfsBackendConfig.model_validate(server.nfs), LocalHost())):
        driver.start()
    assert set(cache_luns(server)) == {f"os-cache-vol-{image['id']}"}  # the one `kept` is a clone of
    assert not cache_files(server)
    api.delete_volume(kept["id"])
    assert not cache_luns(server)
