"""The image-volume cache with an external Glance: entries of images deleted or
changed in Glance go, though Glance tells no one.

A real Glance (tests/fixtures/glance.py) beside the test Keystone, and a Shoal with
the image-volume cache on its ZFS backend whose service user holds the admin role
besides `service` (as Cinder's service user usually does): to an admin Glance shows
every image, so its 404 means the image is gone. Shoal's periodic check (every 2 s
here) asks Glance about the image of every entry.

The story: alice's two images fill one entry each. She deletes one in Glance: its
entry goes with its cache volume, whose data stays hidden on ZFS while a volume
cloned from it still reads as the image, and is gone with that volume; the other
image's entry stays and still gives clones. She changes the other image's
properties in Glance: its entry goes too, and the next volume fills a new one.
Then, straight against Glance: a service user without the admin role cannot tell
a deleted private image from one it may not see (test_volume_images_glance.py shows
what the cache does then).
"""

from __future__ import annotations

import time
import uuid

import pytest

from shoal.config import ImageConfig, KeystoneConfig
from shoal.services.identity.keystone_tokens import KeystoneTokens
from shoal.services.image_client import NotVisible
from shoal.services.image_client.glance import GlanceImages
from tests.fixtures.keystone import User

from .keystone_helpers import KeystoneShoal, running_keystone_shoal, volume_api
from .volume_helpers import HOST1, MiB, VolumeApi, wait_until, zfs
from .volume_image_helpers import lun_spec, make_image, same_data, upload_image

pytestmark = pytest.mark.integration
TIMEOUT = 300
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


@pytest.fixture(scope="module")
def service_user_is_admin(keystone):
    """The admin role for Shoal's service user in its project, for this module only."""
    service = keystone.service_user
    with keystone.admin_client() as client:
        roles = {role["name"]: role["id"] for role in client.get("/roles").json()["roles"]}
        grant = f"/projects/{service.project_id}/users/{service.id}/roles/{roles['admin']}"
        assert client.put(grant).status_code == 204
        try:
            yield
        finally:
            client.delete(grant)


@pytest.fixture(scope="module")
def shoal(keystone, glance, zpool, service_user_is_admin, tmp_path_factory):
    with running_keystone_shoal(keystone, zpool, tmp_path_factory, "shoal-glance-cache",
                                backend_keys="image_volume_cache_enabled = true\n") as server:
        yield server


def cache_volumes(admin: VolumeApi, image_id: str) -> list[dict]:
    listed = admin.client.get("/volumes/detail", params={"all_tenants": 1}).json()["volumes"]
    return [v for v in listed if v["name"] == f"image-{image_id}"]


def the_cache_volume(admin: VolumeApi, image_id: str) -> dict:
    (found,) = cache_volumes(admin, image_id)
    return found


def datasets(server: KeystoneShoal) -> str:
    return zfs("list", "-H", "-o", "name", "-r", server.pool_root).stdout


def origin(server: KeystoneShoal, volume_id: str) -> str:
    return zfs("get", "-H", "-o", "value", "origin", f"{server.pool_root}/volume-{volume_id}").stdout.strip()


def reads_as(api: VolumeApi, volume_id: str, source) -> None:
    attachment = api.attach(volume_id, HOST1)
    same_data(source, "raw", lun_spec(attachment, HOST1))
    api.detach(attachment["id"])


def test_entries_of_images_deleted_or_changed_in_glance_go(shoal, glance, tmp_path):
    alice, admin = shoal.keystone.users["alice"], shoal.keystone.admin
    api, admin_api = volume_api(shoal, alice), volume_api(shoal, admin)
    sources = {name: make_image(tmp_path, "raw", 64 * MiB, f"swept-{name}-{uuid.uuid4().hex[:4]}") for name in "ab"}
    with glance.client(shoal.keystone.token(alice)) as images:
        image = {name: upload_image(images, sources[name], "raw") for name in "ab"}
    made = {name: api.wait_volume(api.create_volume(1, imageRef=image[name]["id"], wait=None)["id"], "available",
                                  timeout=TIMEOUT) for name in "ab"}
    cache = {name: the_cache_volume(admin_api, image[name]["id"]) for name in "ab"}
    assert origin(shoal, made["a"]["id"]).startswith(f"{shoal.pool_root}/volume-{cache['a']['id']}@")

    # a deleted in Glance: nothing asks Shoal for it again, its entry goes all the same.
    with glance.client(shoal.keystone.token(alice)) as images:
        assert images.delete(f"/images/{image['a']['id']}").status_code == 204
    wait_until(lambda: not cache_volumes(admin_api, image["a"]["id"]), timeout=120,
               what="the deleted image's cache volume gone")
    reads_as(api, made["a"]["id"], sources["a"])  # its clone keeps the data
    api.delete_volume(made["a"]["id"])
    wait_until(lambda: cache["a"]["id"] not in datasets(shoal), timeout=120,
               what="the cache volume's hidden dataset gone with its last clone")

    # b's entry stayed: another volume of b is a clone of the same cache volume, no fill.
    assert the_cache_volume(admin_api, image["b"]["id"])["id"] == cache["b"]["id"]
    again = api.wait_volume(api.create_volume(1, imageRef=image["b"]["id"], wait=None)["id"], "available",
                            timeout=TIMEOUT)
    assert origin(shoal, again["id"]).startswith(f"{shoal.pool_root}/volume-{cache['b']['id']}@")

    # b changed in Glance (a property: its updated_at moves): its entry goes before anyone asks for it,
    # and the next volume of b fills a new entry that carries the property.
    time.sleep(1.1)  # Glance shows updated_at to the second
    with glance.client(shoal.keystone.token(alice)) as images:
        changed = images.patch(f"/images/{image['b']['id']}", headers=PATCH,
                               json=[{"op": "add", "path": "/hw_disk_bus", "value": "scsi"}])
        assert changed.status_code == 200, changed.text
    wait_until(lambda: admin_api.volume(cache["b"]["id"]) is None, timeout=120,
               what="the changed image's cache volume gone")
    newest = api.wait_volume(api.create_volume(1, imageRef=image["b"]["id"], wait=None)["id"], "available",
                             timeout=TIMEOUT)
    assert newest["volume_image_metadata"]["hw_disk_bus"] == "scsi"
    fresh = the_cache_volume(admin_api, image["b"]["id"])
    assert fresh["id"] != cache["b"]["id"]
    assert origin(shoal, newest["id"]).startswith(f"{shoal.pool_root}/volume-{fresh['id']}@")
    for volume in (made["b"], again, newest):
        reads_as(api, volume["id"], sources["b"])
        api.delete_volume(volume["id"])
    with glance.client(shoal.keystone.token(alice)) as images:
        assert images.delete(f"/images/{image['b']['id']}").status_code == 204
    wait_until(lambda: not cache_volumes(admin_api, image["b"]["id"]), timeout=120,
               what="the last cache volume gone")


def as_service_user(keystone, user: User) -> GlanceImages:
    tokens = KeystoneTokens(KeystoneConfig(auth_url=keystone.url, username=user.name, password=user.password,
                                           project_name=user.project))
    return GlanceImages(ImageConfig(backend="glance"), tokens)


def test_only_an_admin_service_user_can_tell_an_image_is_gone(keystone, glance, tmp_path):
    """`lookup` straight against Glance: for an admin a deleted image is None; for a
    user without the admin role (bob) alice's private image is NotVisible, deleted
    or not, while one it may see (community) is shown, and NotVisible once deleted
    (the cache takes that as gone for an entry filled from a community image)."""
    alice, bob = keystone.users["alice"], keystone.users["bob"]
    with glance.client(keystone.token(alice)) as images:
        private = upload_image(images, make_image(tmp_path, "raw", 4 * MiB, "private-one"), "raw")
        community = upload_image(images, make_image(tmp_path, "raw", 4 * MiB, "community-one"), "raw",
                                 visibility="community")
    as_admin, as_bob = as_service_user(keystone, keystone.admin), as_service_user(keystone, bob)

    assert as_admin.lookup(private["id"]).checksum == private["checksum"]
    assert as_bob.lookup(community["id"]).updated_at is not None
    with pytest.raises(NotVisible):
        as_bob.lookup(private["id"])
    with glance.client(keystone.token(alice)) as images:
        for made in (private, community):
            assert images.delete(f"/images/{made['id']}").status_code == 204
    assert as_admin.lookup(private["id"]) is None
    assert as_admin.lookup(community["id"]) is None
    with pytest.raises(NotVisible):
        as_bob.lookup(community["id"])
