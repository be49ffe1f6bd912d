"""The image-volume cache on a ZFS backend (zfs-fuse: volume files in datasets,
exported over iSCSI by Shoal's tgtd) and a RemoteFS backend (raw volume files on a
share directory), both with `image_volume_cache_enabled` and at most two entries.

The story, on each backend (RemoteFS's cache also at most 2 GiB): the first volume from an image fills a cache volume
(owned by Shoal's internal project: admins see it with all_tenants, the user's
listing and quota do not); later volumes are clones of it -- on ZFS a clone whose
`origin` is the cache volume's one snapshot, on RemoteFS a copy of the cache
volume's file -- which is proven from outside by changing the image store's
file behind Shoal's back: a volume from the cache reads as the image was when the
cache was filled. Every volume reads as the image byte for byte (qemu-img compare
over iscsi:// on ZFS, of the volume file on RemoteFS). The copies are counted on
/metrics (`qemu-img convert`): one fill per image, however many ask at once.
An image changed (its updated_at) gets a new entry; a deleted image takes its
entry with it and the volumes cloned from it still read; a third image evicts the
least recently used entry. On RemoteFS an image larger than the size limit is not
cached, and one that fits only when the others go evicts them all."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid

import pytest

from tests.fixtures.shoal import running_shoal

from .test_metrics import scrape, value
from .volume_helpers import HOST1, GiB, VolumeApi, cinder, wait_until, zfs, zfs_exists
from .volume_image_helpers import (
    glance,
    lun_spec,
    make_image,
    same_data,
    store_path,
    upload_image,
)

pytestmark = pytest.mark.integration
INTERNAL_PROJECT = "shoal-internal"
CACHE = "image_volume_cache_enabled = true\nimage_volume_cache_max_count = 2\n"
BACKENDS = ("test", "nas")  # ZFS (the fixture's own backend), RemoteFS
CONVERT = "qemu-img convert"
FILL_TIMEOUT = 300
NAS_MAX_GB = 2  # image_volume_cache_max_size_gb of the RemoteFS backend


def cache_on(config) -> None:
    """The fixture's ZFS backend table gets the cache keys (before Shoal starts)."""
    text = config.read_text()
    config.write_text(text.replace("[backends.test]\n", "[backends.test]\n" + CACHE, 1))


@pytest.fixture(scope="module")
def server(zpool, tmp_path_factory):
    share = tmp_path_factory.mktemp("cache-share")
    nas = f"""
[backends.nas]
driver = "remotefs"
{CACHE}image_volume_cache_max_size_gb = {NAS_MAX_GB}
[[backends.nas.shares]]
address = "127.0.0.1:{share}"
path = "{share}"
"""
    with running_shoal(zpool, tmp_path_factory, "imgcache", before_start=cache_on, extra_config=nas) as shoal:
        shoal.share = share
        yield shoal


@pytest.fixture
def api(server):
    """A VolumeApi with a volume type per backend and an Image API client; what a
    test made is removed afterwards, images first (their cache entries go with them)."""
    with cinder(server) as client, glance(server) as images:
        api = VolumeApi(server, client)
        api.images = images
        api.types = {name: api.create_type(f"{name}-{uuid.uuid4().hex[:4]}", {"volume_backend_name": name})
                     for name in BACKENDS}
        yield api
        for image in images.get("/images").json()["images"]:
            images.delete(f"/images/{image['id']}")
        wait_until(lambda: not cache_volumes(api), timeout=120, what="the cache volumes gone")
        for volume in client.get("/volumes").json()["volumes"]:
            client.post(f"/volumes/{volume['id']}/action", json={"os-force_delete": None})
        wait_until(lambda: not client.get("/volumes").json()["volumes"], timeout=120, what="the volumes gone")
        for vtype in api.types.values():
            client.delete(f"/types/{vtype['id']}")


# ---- what the test looks at ---------------------------------------------------------------------


def cache_volumes(api: VolumeApi, image_id: str | None = None) -> list[dict]:
    """The cache volumes an admin sees (all_tenants), of one image or all."""
    listed = api.client.get("/volumes/detail", params={"all_tenants": 1}).json()["volumes"]
    return [v for v in listed if v["os-vol-tenant-attr:tenant_id"] == INTERNAL_PROJECT
            and (image_id is None or v["name"] == f"image-{image_id}")]


def the_cache_volume(api: VolumeApi, image_id: str, backend: str) -> dict:
    """The image's one cache volume, on `backend`."""
    (found,) = cache_volumes(api, image_id)
    assert found["status"] == "available" and found["os-vol-host-attr:host"].startswith(f"shoal@{backend}#")
    return found


def converts(api: VolumeApi) -> float:
    return value(scrape(api.server)[1], "shoal_commands_total", verb=CONVERT)


def new_volume(api: VolumeApi, backend: str, image: dict, size: int = 1) -> dict:
    volume = api.create_volume(size, imageRef=image["id"], volume_type=api.types[backend]["id"], wait=None)
    volume = api.wait_volume(volume["id"], "available", timeout=FILL_TIMEOUT)
    assert volume["bootable"] == "true" and volume["volume_image_metadata"]["image_id"] == image["id"]
    return volume


def reads_as(api: VolumeApi, backend: str, volume: dict, source, fmt: str) -> None:
    """From outside: over iSCSI for ZFS, the share's volume file for RemoteFS."""
    if backend == "nas":
        same_data(source, fmt, str(api.server.share / f"volume-{volume['id']}"))
        return
    attachment = api.attach(volume["id"], HOST1)
    try:
        same_data(source, fmt, lun_spec(attachment, HOST1))
    finally:
        api.detach(attachment["id"])


def origin(api: VolumeApi, volume: dict) -> str:
    return zfs("get", "-H", "-p", "-o", "value", "origin", api.dataset(volume["id"])).stdout.strip()


def cloned_from(api: VolumeApi, backend: str, volume: dict, cache_volume: dict) -> None:
    """On the backend: a ZFS clone of the cache volume's dataset; on RemoteFS a file
    of its own (a copy: no backing file), the cache volume's file beside it."""
    if backend == "test":
        assert origin(api, volume).startswith(f"{api.dataset(cache_volume['id'])}@"), origin(api, volume)
        return
    share = api.server.share
    assert (share / f"volume-{cache_volume['id']}").is_file()
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", "-f", "raw",
                                      str(share / f"volume-{volume['id']}")],
                                     capture_output=True, text=True, check=True).stdout)
    assert info.get("backing-filename") is None and info["format"] == "raw"


def behind_shoals_back(server, image: dict, tmp_path, seed: str):
    """The image store's file replaced by other data of the same size and format
    (never done by Shoal: image data is immutable); returns the new data's file."""
    other = make_image(tmp_path, "raw", image["virtual_size"] or image["size"], seed)
    assert other.stat().st_size == image["size"]
    shutil.copyfile(other, store_path(server, image["id"]))
    return other


# ---- the stories ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_later_volumes_are_clones_of_the_entry_the_first_one_filled(api, backend, tmp_path):
    source = make_image(tmp_path, "raw", GiB, f"cache-{backend}")
    image = upload_image(api.images, source, "raw", os_distro="debian")
    before = converts(api)

    first = new_volume(api, backend, image)
    cache = the_cache_volume(api, image["id"], backend)
    assert converts(api) - before == (1 if backend == "test" else 2)  # the fill, then (RemoteFS) a copy of it
    assert cache["size"] == 1 and cache["name"] == f"image-{image['id']}"
    cloned_from(api, backend, first, cache)
    reads_as(api, backend, first, source, "raw")

    # Hidden from the user: not in the project's listing, nor in its quota usage.
    mine = api.client.get("/volumes").json()["volumes"]
    assert cache["id"] not in {v["id"] for v in mine}
    usage = api.client.get(f"/os-quota-sets/{api.server.project}", params={"usage": "True"}).json()["quota_set"]
    assert usage["volumes"]["in_use"] == len(mine)

    # The image store's file changes behind Shoal's back: a volume from the cache
    # still reads as the image did (never from the store again), with the image's metadata.
    behind_shoals_back(api.server, image, tmp_path, f"other-{backend}")
    before = converts(api)
    second = new_volume(api, backend, image, size=2)
    assert converts(api) - before == (0 if backend == "test" else 1)
    assert second["size"] == 2 and second["volume_image_metadata"] == first["volume_image_metadata"]
    assert second["volume_image_metadata"]["os_distro"] == "debian"
    assert the_cache_volume(api, image["id"], backend)["id"] == cache["id"]
    cloned_from(api, backend, second, cache)
    if backend == "test":  # both from the entry's one snapshot: no new snapshot per volume
        assert origin(api, first) == origin(api, second)
    reads_as(api, backend, second, source, "raw")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_changed_image_gets_a_new_entry_and_a_deleted_one_takes_its_entry_along(api, backend, tmp_path):
    source = make_image(tmp_path, "qcow2", GiB, f"change-{backend}")
    image = upload_image(api.images, source, "qcow2")
    first = new_volume(api, backend, image)
    old = the_cache_volume(api, image["id"], backend)

    time.sleep(1.1)  # Glance shows updated_at to the second: let the change show
    changed = api.images.patch(f"/images/{image['id']}", json=[{"op": "add", "path": "/hw_disk_bus", "value": "scsi"}],
                               headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["updated_at"] != image["updated_at"]
    before = converts(api)
    second = new_volume(api, backend, image)
    assert converts(api) - before == (1 if backend == "test" else 2)  # filled again
    wait_until(lambda: api.volume(old["id"]) is None, timeout=60, what="the stale cache volume gone")
    new = the_cache_volume(api, image["id"], backend)
    assert new["id"] != old["id"]
    assert second["volume_image_metadata"]["hw_disk_bus"] == "scsi"
    cloned_from(api, backend, second, new)

    # The image deleted: its entry goes, the volumes made from it still read as it.
    assert api.images.delete(f"/images/{image['id']}").status_code == 204
    wait_until(lambda: not cache_volumes(api, image["id"]), timeout=60, what="the cache volume gone")
    for volume in (first, second):
        reads_as(api, backend, volume, source, "qcow2")
    if backend == "test":  # the cache volume's data stays, hidden, while clones need it
        assert zfs_exists(api.dataset(new["id"]))
        api.delete_volume(second["id"])
        wait_until(lambda: not zfs_exists(api.dataset(new["id"])), timeout=60,
                   what="the hidden cache dataset collected with its last clone")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_least_recently_used_entry_is_evicted_at_the_count_limit(api, backend, tmp_path):
    images = {name: upload_image(api.images, make_image(tmp_path, "raw", GiB, f"lru-{name}-{backend}"), "raw")
              for name in "abc"}
    for name in ("a", "b", "a"):  # a used last
        new_volume(api, backend, images[name])
    b = the_cache_volume(api, images["b"]["id"], backend)
    new_volume(api, backend, images["c"])
    wait_until(lambda: api.volume(b["id"]) is None, timeout=60, what="b's cache volume gone")
    assert {v["name"] for v in cache_volumes(api)} == {f"image-{images[n]['id']}" for n in "ac"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_first_requests_fill_the_entry_once(api, backend, tmp_path):
    source = make_image(tmp_path, "raw", GiB, f"together-{backend}", data_mib=64)
    image = upload_image(api.images, source, "raw")
    before = converts(api)
    made: list[dict] = []
    start = threading.Barrier(4)

    def create() -> None:
        with cinder(api.server) as client:
            start.wait()
            resp = client.post("/volumes", json={"volume": {"size": 1, "imageRef": image["id"],
                                                            "volume_type": api.types[backend]["id"]}})
            assert resp.status_code == 202, resp.text
            made.append(resp.json()["volume"])

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 4
    volumes = [api.wait_volume(v["id"], "available", timeout=FILL_TIMEOUT) for v in made]
    cache = the_cache_volume(api, image["id"], backend)  # exactly one
    # One fill; on RemoteFS each volume is then a copy of the cache volume.
    assert converts(api) - before == (1 if backend == "test" else 1 + len(volumes))
    for volume in volumes:
        cloned_from(api, backend, volume, cache)
    for volume in volumes:
        reads_as(api, backend, volume, source, "raw")


def test_the_size_limit_keeps_a_too_big_image_out_and_makes_room_for_a_big_one(api, tmp_path):
    """RemoteFS, at most 2 GiB of entries: a 3 GiB image is copied into its volume
    without an entry; two 1 GiB images fill the cache, and a 2 GiB one evicts both."""
    backend = "nas"
    big = upload_image(api.images, make_image(tmp_path, "raw", (NAS_MAX_GB + 1) * GiB, "too-big"), "raw")
    before = converts(api)
    new_volume(api, backend, big, size=NAS_MAX_GB + 1)
    assert converts(api) - before == 1  # the volume filled straight from the image
    assert not cache_volumes(api)
    small = {name: upload_image(api.images, make_image(tmp_path, "raw", GiB, f"small-{name}"), "raw")
             for name in "ab"}
    for image in small.values():
        new_volume(api, backend, image)
    assert {v["name"] for v in cache_volumes(api)} == {f"image-{i['id']}" for i in small.values()}
    fits = upload_image(api.images, make_image(tmp_path, "raw", NAS_MAX_GB * GiB, "fits"), "raw")
    new_volume(api, backend, fits, size=NAS_MAX_GB)
    wait_until(lambda: {v["name"] for v in cache_volumes(api)} == {f"image-{fits['id']}"}, timeout=60,
               what="both small entries evicted for the big one")
    assert the_cache_volume(api, fits["id"], backend)["size"] == NAS_MAX_GB
