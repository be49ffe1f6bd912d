"""Volumes from images and images from volumes with an external Glance.

A real Glance (PyPI `glance`, tests/fixtures/glance.py) with a file store and keystone
auth runs beside the test Keystone and is in its catalog as `image`. A Shoal with
`api.auth = "keystone"` and `[image] backend` left at "auto" finds it there at
start-up: it serves no /image of its own, and volumes take their images from Glance,
as the caller (the caller's token, with Shoal's service token beside it, which
lets a copy outlast the caller's token).

The story: alice puts a qcow2 image into Glance; `openstack volume create --image`
makes a volume of it that reads as the image over iscsi:// (qemu-img compare from
outside); data written to the volume goes back into Glance with
`openstack image create --volume` (os-volume_upload_image) and reads back from Glance
as the volume, its file in Glance's store. Another project cannot use alice's private
image, and an image too big for the volume is refused before anything is made.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shoal.config import ImageConfig, KeystoneConfig
from shoal.services.common.context import RequestContext
from shoal.services.common.errors import ServiceUnavailable
from shoal.services.identity.keystone_tokens import KeystoneTokens
from shoal.services.image_client.glance import GlanceImages
from tests.fixtures.keystone import User

from .keystone_helpers import (
    KeystoneShoal,
    clean_env,
    running_keystone_shoal,
    volume_api,
)
from .volume_helpers import (
    HOST1,
    GiB,
    Lun,
    MiB,
    messages_for,
    pattern,
    wait_until,
    zfs,
)
from .volume_image_helpers import (
    download,
    lun_spec,
    make_image,
    md5,
    same_data,
    upload_image,
    wait_image,
)

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
TIMEOUT = 300


@pytest.fixture(scope="module")
def gl_shoal(keystone, glance, zpool, tmp_path_factory):
    """A Shoal behind the test Keystone, started once Glance is in its catalog;
    `[image] backend` is left at "auto"."""
    with running_keystone_shoal(keystone, zpool, tmp_path_factory, "shoal-glance",
                                backend_keys="image_volume_cache_enabled = true\n") as server:
        yield server


def osc(server: KeystoneShoal, user: str, *args: str) -> str:
    """The unmodified openstack CLI as one of Keystone's users (from clouds.yaml)."""
    result = subprocess.run([str(BIN / "openstack"), "--os-cloud", user, *args],
                            env=clean_env(OS_CLIENT_CONFIG_FILE=str(server.clouds)),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr}"
    return result.stdout


def test_shoal_finds_glance_in_the_catalog_and_serves_no_image_api(gl_shoal, glance):
    assert httpx.get(f"{gl_shoal.url}/image/", timeout=10).status_code == 404
    alice = gl_shoal.keystone.users["alice"]
    token = gl_shoal.keystone.token(alice)
    assert httpx.get(f"{gl_shoal.url}/image/v2/images", headers={"X-Auth-Token": token}, timeout=10).status_code == 404
    with gl_shoal.keystone.admin_client() as client:
        services = client.get("/services", params={"type": "image"}).json()["services"]
        assert [s["id"] for s in services] == [glance.service_id]  # Shoal added none
        urls = {e["url"] for e in client.get("/endpoints", params={"service_id": services[0]["id"]})
                .json()["endpoints"]}
    assert urls == {glance.url}
    assert "image service; images are Glance's" in (gl_shoal.state_dir / "shoal.log").read_text()


def test_a_glance_image_becomes_a_volume_and_the_volume_goes_back_into_glance(gl_shoal, glance, tmp_path):
    alice = gl_shoal.keystone.users["alice"]
    source = make_image(tmp_path, "qcow2", GiB, "glance-image")
    with glance.client(gl_shoal.keystone.token(alice)) as images:
        image = upload_image(images, source, "qcow2", os_distro="debian")
    assert (glance.store_dir / image["id"]).stat().st_size == source.stat().st_size

    # The unmodified client: it finds the image by name in Glance, the volume API in Shoal.
    name = f"from-glance-{uuid.uuid4().hex[:4]}"
    osc(gl_shoal, "alice", "volume", "create", "--image", image["name"], "--size", "1", name)
    api = volume_api(gl_shoal, alice)
    volume_id = api.client.get("/volumes", params={"name": name}).json()["volumes"][0]["id"]
    volume = api.wait_volume(volume_id, "available", timeout=TIMEOUT)
    assert volume["bootable"] == "true"
    meta = volume["volume_image_metadata"]
    assert meta["image_id"] == image["id"] and meta["checksum"] == image["checksum"]
    assert meta["disk_format"] == "qcow2" and meta["os_distro"] == "debian"
    assert not list((gl_shoal.state_dir / "conversion").glob(".*")), "the download was not removed"

    attachment = api.attach(volume_id, HOST1)
    same_data(source, "qcow2", lun_spec(attachment, HOST1))  # the volume reads as Glance's image
    Lun.of(attachment["connection_info"]).write(HOST1, pattern("written-after-glance", 2 * MiB))
    api.detach(attachment["id"])

    # The volume's image metadata goes to the new image, but for what Cinder keeps out
    # (GLANCE_RESERVED_NAMESPACES): a signature of the old image would not verify the new one.
    signed = {"img_signature_hash_method": "SHA-256", "img_signature_key_type": "RSA-PSS",
              "signature_verified": "True", "hw_rng_model": "virtio"}
    assert api.action(volume_id, "os-set_image_metadata", {"metadata": signed}).status_code == 200

    # Back into Glance as a new image of alice's project, in another format.
    uploaded_name = f"to-glance-{uuid.uuid4().hex[:4]}"
    osc(gl_shoal, "alice", "image", "create", "--volume", name, "--disk-format", "qcow2", uploaded_name)
    with glance.client(gl_shoal.keystone.token(alice)) as images:
        found = images.get("/images", params={"name": uploaded_name}).json()["images"]
        assert len(found) == 1, found
        uploaded = wait_image(images, found[0]["id"])
        assert uploaded["owner"] == alice.project_id and uploaded["disk_format"] == "qcow2"
        assert uploaded["os_distro"] == "debian" and uploaded["hw_rng_model"] == "virtio"  # carried over
        assert not {key for key in uploaded if key.startswith(("img_signature", "signature_verified"))}, uploaded
        target = download(images, uploaded["id"], tmp_path / "back.qcow2")
    assert uploaded["checksum"] == md5(target) and uploaded["size"] == target.stat().st_size
    assert (glance.store_dir / uploaded["id"]).stat().st_size == target.stat().st_size
    assert api.wait_volume(volume_id, "available")["status"] == "available"
    attachment = api.attach(volume_id, HOST1)
    same_data(target, "qcow2", lun_spec(attachment, HOST1))  # Glance's new image reads as the volume
    api.detach(attachment["id"])
    api.delete_volume(volume_id)


def test_glance_decides_who_sees_an_image_and_a_too_big_one_is_refused_up_front(gl_shoal, glance, tmp_path):
    alice, bob = gl_shoal.keystone.users["alice"], gl_shoal.keystone.users["bob"]
    with glance.client(gl_shoal.keystone.token(alice)) as images:
        small = upload_image(images, make_image(tmp_path, "raw", 8 * MiB, "private"), "raw", visibility="private")
        big = upload_image(images, make_image(tmp_path, "qcow2", 3 * GiB, "big"), "qcow2")

    bob_api = volume_api(gl_shoal, bob)
    refused = bob_api.client.post("/volumes", json={"volume": {"size": 1, "imageRef": small["id"]}})
    assert refused.status_code == 400, refused.text
    assert "Invalid image identifier" in refused.json()["badRequest"]["message"]

    alice_api = volume_api(gl_shoal, alice)
    before = {v["id"] for v in alice_api.client.get("/volumes").json()["volumes"]}
    refused = alice_api.client.post("/volumes", json={"volume": {"size": 1, "imageRef": big["id"]}})
    assert refused.status_code == 400, refused.text
    assert "doesn't fit in a volume of size 1GB" in refused.json()["badRequest"]["message"]
    assert {v["id"] for v in alice_api.client.get("/volumes").json()["volumes"]} == before

    volume = alice_api.create_volume(1, imageRef=small["id"], wait=None)  # alice may: her own image
    assert alice_api.wait_volume(volume["id"], "available", timeout=TIMEOUT)["bootable"] == "true"
    alice_api.delete_volume(volume["id"])


def test_data_that_is_not_its_disk_format_is_refused_once_downloaded(gl_shoal, glance, tmp_path):
    """Glance 33 keeps a qcow2 said to be raw (it refuses a backing file itself). Shoal
    inspects the data it downloaded before a byte reaches the volume, as it inspects its
    own store's: the volume ends `error` with the reason, and the download is gone."""
    alice = gl_shoal.keystone.users["alice"]
    with glance.client(gl_shoal.keystone.token(alice)) as images:
        image = upload_image(images, make_image(tmp_path, "qcow2", 8 * MiB, "liar"), "raw")
    api = volume_api(gl_shoal, alice)
    volume = api.create_volume(1, imageRef=image["id"], wait=None)
    failed = api.wait_volume(volume["id"], "error", timeout=TIMEOUT)
    assert failed["bootable"] == "false" and "volume_image_metadata" not in failed
    (message,) = messages_for(api.client, volume["id"])
    assert f"Copying image {image['id']} to the volume failed" in message["user_message"]
    assert "does not match disk_format raw" in message["user_message"], message
    assert not list((gl_shoal.state_dir / "conversion").glob(".*"))
    api.delete_volume(volume["id"])


def test_a_second_volume_of_a_glance_image_is_a_clone_of_the_cache_entry(gl_shoal, glance, tmp_path):
    """The image-volume cache works on Glance's images: the first volume fills the entry
    (a download), the second is a ZFS clone of its snapshot and downloads nothing -- shown
    by damaging Glance's stored file behind its back: the second volume still reads as the
    image was. (Glance does not tell of deletions: test_image_cache_glance.py shows the
    periodic check finding them.)"""
    alice, admin = gl_shoal.keystone.users["alice"], gl_shoal.keystone.admin
    source = make_image(tmp_path, "raw", GiB, "cached-from-glance")
    with glance.client(gl_shoal.keystone.token(alice)) as images:
        image = upload_image(images, source, "raw")
    api, admin_api = volume_api(gl_shoal, alice), volume_api(gl_shoal, admin)
    first = api.create_volume(1, imageRef=image["id"], wait=None)
    first = api.wait_volume(first["id"], "available", timeout=TIMEOUT)
    listed = admin_api.client.get("/volumes/detail", params={"all_tenants": 1}).json()["volumes"]
    (cache,) = [v for v in listed if v["name"] == f"image-{image['id']}"]
    cache_dataset = f"{gl_shoal.pool_root}/volume-{cache['id']}"

    stored = glance.store_dir / image["id"]
    with open(stored, "r+b") as fh:  # Glance's copy is no longer the image
        fh.write(pattern("not-the-image", MiB))
    second = api.create_volume(1, imageRef=image["id"], wait=None)
    second = api.wait_volume(second["id"], "available", timeout=TIMEOUT)
    for volume in (first, second):
        origin = zfs("get", "-H", "-p", "-o", "value", "origin", f"{gl_shoal.pool_root}/volume-{volume['id']}")
        assert origin.stdout.strip().startswith(f"{cache_dataset}@"), origin.stdout
        attachment = api.attach(volume["id"], HOST1)
        same_data(source, "raw", lun_spec(attachment, HOST1))
        api.detach(attachment["id"])
    assert second["volume_image_metadata"]["image_id"] == image["id"]
    for volume in (first, second):
        api.delete_volume(volume["id"])


def test_without_the_admin_role_only_entries_of_images_all_could_see_go_when_deleted(gl_shoal, glance, tmp_path):
    """This Shoal's service user holds only `service`: Glance shows it public and
    community images, not alice's private ones. An entry whose image was community
    when filled goes once Glance shows the image to no one; a private image's entry
    cannot be told from another project's and stays, though the image is gone."""
    alice, admin = gl_shoal.keystone.users["alice"], gl_shoal.keystone.admin
    api, admin_api = volume_api(gl_shoal, alice), volume_api(gl_shoal, admin)

    def cache_of(image: dict) -> list[dict]:
        listed = admin_api.client.get("/volumes/detail", params={"all_tenants": 1}).json()["volumes"]
        return [v for v in listed if v["name"] == f"image-{image['id']}"]

    def image_of(name: str, visibility: str) -> dict:
        with glance.client(gl_shoal.keystone.token(alice)) as images:
            return upload_image(images, make_image(tmp_path, "raw", 64 * MiB, f"{name}-{uuid.uuid4().hex[:4]}"), "raw",
                                visibility=visibility)

    def cached_volume(image: dict) -> dict:
        volume = api.wait_volume(api.create_volume(1, imageRef=image["id"], wait=None)["id"], "available",
                                 timeout=TIMEOUT)
        assert len(cache_of(image)) == 1
        return volume

    def delete(image: dict) -> None:
        with glance.client(gl_shoal.keystone.token(alice)) as images:
            assert images.delete(f"/images/{image['id']}").status_code == 204

    private, community = image_of("private", "private"), image_of("community", "community")
    made = [cached_volume(private), cached_volume(community)]
    delete(private)
    delete(community)
    wait_until(lambda: not cache_of(community), timeout=120, what="the community image's entry gone")
    # A sweep that surely asked after private's deletion: it lists an entry made after it.
    marker = image_of("marker", "community")
    made.append(cached_volume(marker))
    delete(marker)
    wait_until(lambda: not cache_of(marker), timeout=120, what="the marker image's entry gone")
    (kept,) = cache_of(private)
    assert kept["status"] == "available"
    for volume in made:
        api.delete_volume(volume["id"])
    admin_api.delete_volume(kept["id"], cascade="true")  # with its snapshot; its entry goes with it


def test_an_upload_goes_to_the_glance_store_its_volume_type_names(gl_shoal, glance):
    """Cinder's volume-type extra spec `image_service:store_id`: the volume's data goes to
    that store of Glance (X-Image-Meta-Store), not Glance's default one. A store Glance
    does not have fails the upload: the volume is available again, with a message, and
    the image is gone from Glance."""
    alice, admin = gl_shoal.keystone.users["alice"], gl_shoal.keystone.admin
    api, admin_api = volume_api(gl_shoal, alice), volume_api(gl_shoal, admin)
    tag = uuid.uuid4().hex[:4]
    to_other = admin_api.create_type(f"to-other-{tag}", {"image_service:store_id": "other"})
    to_nowhere = admin_api.create_type(f"to-nowhere-{tag}", {"image_service:store_id": "nowhere"})
    made = {}
    for vtype in (to_other, to_nowhere):
        volume = api.create_volume(1, volume_type=vtype["name"])
        attachment = api.attach(volume["id"], HOST1)
        Lun.of(attachment["connection_info"]).write(HOST1, pattern(f"stored-{vtype['name']}", MiB))
        api.detach(attachment["id"])
        answer = api.action(volume["id"], "os-volume_upload_image", {"image_name": f"{vtype['name']}-image",
                                                                    "disk_format": "qcow2"})
        assert answer.status_code == 202, answer.text
        made[vtype["name"]] = (volume["id"], answer.json()["os-volume_upload_image"]["image_id"])

    volume_id, image_id = made[to_other["name"]]
    with glance.client(gl_shoal.keystone.token(alice)) as images:
        uploaded = wait_image(images, image_id)
        assert uploaded["stores"] == "other"
        assert (glance.other_store_dir / image_id).stat().st_size == uploaded["size"]
        assert not (glance.store_dir / image_id).exists()
    assert api.wait_volume(volume_id, "available")["status"] == "available"

    volume_id, image_id = made[to_nowhere["name"]]
    api.wait_volume(volume_id, "available", timeout=TIMEOUT)
    with glance.client(gl_shoal.keystone.token(alice)) as images:
        wait_until(lambda: images.get(f"/images/{image_id}").status_code == 404, timeout=60,
                   what="the image of the failed upload gone from Glance")
    (message,) = messages_for(api.client, volume_id)
    assert f"Uploading the volume to image {image_id} failed" in message["user_message"], message
    for volume_id, _ in made.values():
        api.delete_volume(volume_id)
    with glance.client(gl_shoal.keystone.token(alice)) as images:
        assert images.delete(f"/images/{made[to_other['name']][1]}").status_code == 204


def short_lived_token(keystone, user: User, seconds: int) -> str:
    """A token of `user` that expires in `seconds` (Keystone caps a token made from an
    application credential at the credential's own expiry)."""
    expires = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    with httpx.Client(base_url=keystone.url, headers={"X-Auth-Token": keystone.token(user)}, timeout=60) as client:
        made = client.post(f"/users/{user.id}/application_credentials", json={"application_credential": {
            "name": f"short-{uuid.uuid4().hex[:6]}", "expires_at": expires}})
        assert made.status_code == 201, made.text
        credential = made.json()["application_credential"]
        auth = {"identity": {"methods": ["application_credential"], "application_credential": {
            "id": credential["id"], "secret": credential["secret"]}}}
        issued = client.post("/auth/tokens", json={"auth": auth})
        assert issued.status_code == 201, issued.text
        return issued.headers["X-Subject-Token"]


def test_a_copy_that_outlasts_the_callers_token_still_reaches_glance(keystone, glance, tmp_path):
    """Shoal's service token goes along with the caller's (`send_service_token`): Keystone
    still gives the expired token's catalog and Glance still takes the token, as it does
    for Cinder. Without it, the same call is refused."""
    alice = keystone.users["alice"]
    source = make_image(tmp_path, "raw", 4 * MiB, "outlasted")
    with glance.client(keystone.token(alice)) as images:
        image = upload_image(images, source, "raw")
    token = short_lived_token(keystone, alice, seconds=5)
    with keystone.admin_client() as admin:  # wait until Keystone itself says the token is over
        wait_until(lambda: admin.get("/auth/tokens", headers={"X-Subject-Token": token}).status_code == 404,
                   timeout=120, what="the short-lived token to expire")
    with glance.client(token) as images:  # the expired token alone: Glance refuses it
        assert images.get(f"/images/{image['id']}").status_code == 401
    ctx = RequestContext(user_id=alice.id, project_id=alice.project_id, roles=("member",), auth_token=token)
    service_user = keystone.service_user
    tokens = KeystoneTokens(KeystoneConfig(auth_url=keystone.url, username=service_user.name,
                                           password=service_user.password, project_name=service_user.project))

    with_service_token = GlanceImages(ImageConfig(backend="glance"), tokens)
    shown = with_service_token.show(ctx, image["id"])
    assert shown.checksum == image["checksum"] and shown.status == "active"
    with with_service_token.local_copy(ctx, shown, tmp_path / "work") as local:
        assert md5(Path(local.path)) == md5(source)
    assert not list((tmp_path / "work").iterdir())  # the download is gone after use

    without = GlanceImages(ImageConfig(backend="glance", send_service_token=False), tokens)
    with pytest.raises(ServiceUnavailable):
        without.show(ctx, image["id"])
