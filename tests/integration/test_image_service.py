"""The Image service v2 of a real Shoal, through its HTTP API (noauth: every caller is an admin
of the project its token names; who-sees-what between projects is the e2e tour's).

The story: an image is created, its data uploaded in a stream and read back byte for byte
(whole, and a Range of it) with Glance's checksums; a qcow2 made by qemu-img reports its
virtual size; properties and tags are changed with Glance's JSON patch; the list filters,
sorts and pages with `next`; an image is deactivated, reactivated, protected and deleted;
data is staged and imported with glance-direct. Then everything a careless or hostile client
does -- bad formats, read-only attributes, a truncated upload, data that is not its
disk_format, a qcow2 with a backing file -- is refused with Glance's error and leaves the
image queued and the store without a byte of it.
"""

from __future__ import annotations

import socket
import time
import uuid
from urllib.parse import urlparse

import pytest

from .image_helpers import (
    OCTETS,
    create,
    digests,
    glance_error,
    image_client,
    patch,
    qemu_image,
    random_bytes,
    store_files,
    upload,
)

pytestmark = pytest.mark.integration
MiB = 1 << 20


@pytest.fixture(scope="module")
def images(shoal_server):
    client = image_client(shoal_server, project=f"img-{uuid.uuid4().hex[:8]}")
    made: list[str] = []
    client.made = made
    yield client
    for image_id in made:
        patch(client, image_id, {"op": "replace", "path": "/protected", "value": False})
        client.delete(f"/images/{image_id}")
    client.close()


def new(images, **body) -> dict:
    image = create(images, **body)
    images.made.append(image["id"])
    return image


def test_version_document_and_catalog_shapes(shoal_server):
    import httpx

    root = httpx.get(f"{shoal_server.url}/image")
    assert root.status_code == 300
    versions = root.json()["versions"]
    assert versions[0]["status"] == "CURRENT" and versions[0]["id"].startswith("v2.")
    assert versions[0]["links"][0]["href"] == f"{shoal_server.url}/image/v2/"


def test_upload_and_download_byte_for_byte(images, shoal_server):
    data = random_bytes(5 * MiB + 123)
    image = new(images, name="raw-one", tags=["t1"], os_distro="debian")
    assert image["status"] == "queued" and image["visibility"] == "shared" and image["size"] is None
    assert image["os_distro"] == "debian" and image["tags"] == ["t1"]
    assert image["self"] == f"/v2/images/{image['id']}" and image["schema"] == "/v2/schemas/image"

    def chunks():  # a streamed body of unknown length (chunked transfer encoding)
        for at in range(0, len(data), 256 * 1024):
            yield data[at:at + 256 * 1024]

    assert upload(images, image["id"], chunks()).status_code == 204
    shown = images.get(f"/images/{image['id']}").json()
    md5, sha512 = digests(data)
    assert (shown["status"], shown["size"], shown["virtual_size"]) == ("active", len(data), len(data))
    assert (shown["checksum"], shown["os_hash_algo"], shown["os_hash_value"]) == (md5, "sha512", sha512)
    assert shown["stores"] == "file"

    whole = images.get(f"/images/{image['id']}/file")
    assert whole.status_code == 200 and whole.content == data and whole.headers["content-md5"] == md5
    part = images.get(f"/images/{image['id']}/file", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert images.get(f"/images/{image['id']}/file", headers={"Range": f"bytes={len(data) + 5}-"}).status_code == 416
    assert store_files(shoal_server).count(f"store/{image['id']}") == 1

    # A second upload into an active image is a conflict, and changes nothing.
    glance_error(upload(images, image["id"], b"other"), 409)
    assert images.get(f"/images/{image['id']}/file").content == data


def test_qcow2_virtual_size_from_its_header(images, tmp_path):
    data = qemu_image(tmp_path / "disk.qcow2", "qcow2", 64 * MiB, data=b"hello" * 1000)
    image = new(images, name="qcow", disk_format="qcow2")
    assert upload(images, image["id"], data).status_code == 204
    shown = images.get(f"/images/{image['id']}").json()
    assert (shown["status"], shown["size"], shown["virtual_size"]) == ("active", len(data), 64 * MiB)
    assert images.get(f"/images/{image['id']}/file").content == data


def test_json_patch_properties_and_tags(images):
    image = new(images, name="patched", foo="1")
    response = patch(images, image["id"], {"op": "replace", "path": "/name", "value": "renamed"},
                     {"op": "add", "path": "/hw_disk_bus", "value": "scsi"},
                     {"op": "remove", "path": "/foo"},
                     {"op": "add", "path": "/tags", "value": ["x", "y"]},
                     {"op": "replace", "path": "/min_disk", "value": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "renamed" and body["hw_disk_bus"] == "scsi" and "foo" not in body
    assert body["tags"] == ["x", "y"] and body["min_disk"] == 2
    assert images.put(f"/images/{image['id']}/tags/z").status_code == 204
    assert images.delete(f"/images/{image['id']}/tags/x").status_code == 204
    glance_error(images.delete(f"/images/{image['id']}/tags/nope"), 404)
    assert images.get(f"/images/{image['id']}").json()["tags"] == ["y", "z"]
    # Each bad operation is refused whole: nothing of the patch is applied.
    for ops, code in (
            ([{"op": "replace", "path": "/status", "value": "active"}], 403),
            ([{"op": "replace", "path": "/size", "value": 5}], 403),
            ([{"op": "add", "path": "/locations/-", "value": {"url": "file:///etc/passwd", "metadata": {}}}], 403),
            ([{"op": "replace", "path": "/name", "value": "z"}, {"op": "replace", "path": "/nope", "value": "1"}],
             409),
            ([{"op": "remove", "path": "/missing"}], 409),
            ([{"op": "remove", "path": "/name"}], 403),
            ([{"op": "replace", "path": "/disk_format", "value": "floppy"}], 400),
            ([{"op": "replace", "path": "/min_ram", "value": -1}], 400),
            ([{"op": "add", "path": "/prop", "value": 5}], 400),
            ([{"op": "move", "path": "/name", "from": "/x"}], 400),
            ([{"op": "add", "path": "/os_glance_import_task", "value": "x"}], 403)):
        glance_error(patch(images, image["id"], *ops), code)
    assert images.get(f"/images/{image['id']}").json()["name"] == "renamed"
    wrong_type = images.patch(f"/images/{image['id']}", json=[], headers={"Content-Type": "application/json"})
    glance_error(wrong_type, 415)


def test_list_filters_sorting_and_paging(images):
    tag = uuid.uuid4().hex[:8]
    made = [new(images, name=f"page-{n}", tags=[tag], min_ram=n, **({"os_distro": "arch"} if n % 2 else {}))
            for n in range(5)]
    listed = images.get("/images", params={"tag": tag, "sort": "min_ram:asc"}).json()
    assert [i["name"] for i in listed["images"]] == [f"page-{n}" for n in range(5)]
    assert listed["schema"] == "/v2/schemas/images" and "next" not in listed
    odd = images.get("/images", params={"tag": tag, "os_distro": "arch"}).json()["images"]
    assert sorted(i["name"] for i in odd) == ["page-1", "page-3"]
    seen, url = [], f"/images?tag={tag}&limit=2&sort_key=name&sort_dir=desc"
    while url:
        page = images.get(url).json()
        assert len(page["images"]) <= 2
        seen += [i["name"] for i in page["images"]]
        url = page.get("next", "").removeprefix("/v2")
    assert seen == [f"page-{n}" for n in reversed(range(5))]
    by_name = images.get("/images", params={"name": "page-3"}).json()["images"]
    assert [i["id"] for i in by_name] == [made[3]["id"]]
    glance_error(images.get("/images", params={"sort_key": "bogus"}), 400)
    glance_error(images.get("/images", params={"marker": str(uuid.uuid4())}), 400)
    glance_error(images.get("/images", params={"limit": "x"}), 400)


def test_deactivate_protect_and_delete(images, shoal_server):
    image = new(images, name="lifecycle")
    glance_error(images.post(f"/images/{image['id']}/actions/deactivate"), 403)  # queued: nothing to deactivate
    assert upload(images, image["id"], b"\0" * 4096).status_code == 204
    assert images.post(f"/images/{image['id']}/actions/deactivate").status_code == 204
    assert images.get(f"/images/{image['id']}").json()["status"] == "deactivated"
    assert images.post(f"/images/{image['id']}/actions/reactivate").status_code == 204
    assert images.get(f"/images/{image['id']}").json()["status"] == "active"
    assert patch(images, image["id"], {"op": "replace", "path": "/protected", "value": True}).status_code == 200
    glance_error(images.delete(f"/images/{image['id']}"), 403)
    assert patch(images, image["id"], {"op": "replace", "path": "/protected", "value": False}).status_code == 200
    assert images.delete(f"/images/{image['id']}").status_code == 204
    glance_error(images.get(f"/images/{image['id']}"), 404)
    assert not [f for f in store_files(shoal_server) if image["id"] in f]


def test_glance_direct_import_through_staging(images, shoal_server, tmp_path):
    assert images.get("/info/import").json()["import-methods"]["value"] == ["glance-direct"]
    assert images.get("/info/stores").json()["stores"][0]["id"] == "file"
    data = qemu_image(tmp_path / "staged.qcow2", "qcow2", 32 * MiB, data=random_bytes(MiB))
    image = new(images, name="imported", disk_format="qcow2")
    created = images.post("/images", json={"name": "headers"})
    images.made.append(created.json()["id"])
    assert "glance-direct" in created.headers["OpenStack-image-import-methods"]
    glance_error(images.post(f"/images/{image['id']}/import", json={"method": {"name": "glance-direct"}}), 409)
    assert images.put(f"/images/{image['id']}/stage", content=data, headers=OCTETS).status_code == 204
    assert images.get(f"/images/{image['id']}").json()["status"] == "uploading"
    assert f"staging/{image['id']}" in store_files(shoal_server)
    glance_error(images.post(f"/images/{image['id']}/import", json={"method": {"name": "web-download"}}), 400)
    assert images.post(f"/images/{image['id']}/import", json={"method": {"name": "glance-direct"}}).status_code == 202
    deadline = time.monotonic() + 60
    while (shown := images.get(f"/images/{image['id']}").json())["status"] != "active":
        assert shown["status"] == "importing" and time.monotonic() < deadline, shown
        time.sleep(0.1)
    assert shown["virtual_size"] == 32 * MiB and shown["checksum"] == digests(data)[0]
    assert images.get(f"/images/{image['id']}/file").content == data
    assert f"staging/{image['id']}" not in store_files(shoal_server)


def test_schemas(images):
    schema = images.get("/schemas/image").json()
    assert schema["name"] == "image" and "disk_format" in schema["properties"]
    assert schema["additionalProperties"] == {"type": "string"}
    for name in ("images", "member", "members"):
        assert images.get(f"/schemas/{name}").json()["name"] == name
    glance_error(images.get("/schemas/nope"), 404)


# ---- bad and hostile input ---------------------------------------------------------------------


def assert_untouched(images, server, image_id: str) -> None:
    shown = images.get(f"/images/{image_id}").json()
    assert (shown["status"], shown["size"], shown["checksum"]) == ("queued", None, None), shown
    assert not [f for f in store_files(server) if image_id in f], store_files(server)
    assert images.get(f"/images/{image_id}/file").status_code == 204


def test_bad_create_requests_make_nothing(images):
    before = {i["id"] for i in images.get("/images", params={"limit": 1000}).json()["images"]}
    for body, code in (({"disk_format": "floppy"}, 400), ({"container_format": "box"}, 400),
                       ({"name": "x" * 256}, 400), ({"visibility": "everyone"}, 400), ({"size": 10}, 403),
                       ({"status": "active"}, 403), ({"checksum": "0" * 32}, 403), ({"location": "x"}, 403),
                       ({"tags": "notalist"}, 400), ({"min_disk": "one"}, 400), ({"prop": 1}, 400),
                       ({"id": "not-a-uuid"}, 400), ({"disk_format": "aki", "container_format": "bare"}, 400)):
        glance_error(images.post("/images", json=body), code)
    glance_error(images.post("/images", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    after = {i["id"] for i in images.get("/images", params={"limit": 1000}).json()["images"]}
    assert after == before
    glance_error(images.get(f"/images/{uuid.uuid4()}"), 404)


def test_upload_needs_formats_and_octets(images, shoal_server):
    bare = images.post("/images", json={"name": "no-formats"}).json()
    images.made.append(bare["id"])
    glance_error(upload(images, bare["id"], b"data"), 400)
    image = new(images, name="wrong-type")
    glance_error(images.put(f"/images/{image['id']}/file", content=b"data", headers={"Content-Type": "text/plain"}),
                 415)
    for image_id in (bare["id"], image["id"]):
        assert_untouched(images, shoal_server, image_id)


def test_truncated_upload_leaves_the_image_queued(images, shoal_server):
    image = new(images, name="truncated")
    url = urlparse(shoal_server.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall((f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\n"
                      f"X-Auth-Token: admin:{images.headers['X-Auth-Token'].split(':')[1]}\r\n"
                      "Content-Type: application/octet-stream\r\nContent-Length: 10485760\r\n\r\n").encode())
        sock.sendall(b"\1" * (3 * MiB))
        deadline = time.monotonic() + 30
        while images.get(f"/images/{image['id']}").json()["status"] != "saving":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    deadline = time.monotonic() + 30
    while images.get(f"/images/{image['id']}").json()["status"] != "queued":
        assert time.monotonic() < deadline, "the aborted upload did not end"
        time.sleep(0.05)
    assert_untouched(images, shoal_server, image["id"])
    # The image takes a complete upload afterwards.
    assert upload(images, image["id"], b"\2" * 1000).status_code == 204


def test_data_that_is_not_its_disk_format_is_refused(images, shoal_server, tmp_path):
    qcow2 = qemu_image(tmp_path / "q.qcow2", "qcow2", 16 * MiB, data=b"x" * 4096)
    posing_as_raw = new(images, name="qcow2-as-raw", disk_format="raw")
    assert "does not match" in glance_error(upload(images, posing_as_raw["id"], qcow2), 400)
    posing_as_qcow2 = new(images, name="raw-as-qcow2", disk_format="qcow2")
    assert "does not match" in glance_error(upload(images, posing_as_qcow2["id"], random_bytes(MiB)), 400)
    vmdk = new(images, name="qcow2-as-vmdk", disk_format="vmdk")
    glance_error(upload(images, vmdk["id"], qcow2), 400)
    for image in (posing_as_raw, posing_as_qcow2, vmdk):
        assert_untouched(images, shoal_server, image["id"])


def test_qcow2_with_a_backing_file_or_data_file_is_refused(images, shoal_server, tmp_path):
    base = tmp_path / "base.raw"
    base.write_bytes(b"secret" * 1000)
    backed = qemu_image(tmp_path / "backed.qcow2", "qcow2", 8 * MiB, "-b", str(base), "-F", "raw")
    image = new(images, name="backed", disk_format="qcow2")
    assert "backing" in glance_error(upload(images, image["id"], backed), 400).lower()
    external = qemu_image(tmp_path / "ext.qcow2", "qcow2", 8 * MiB, "-o", f"data_file={tmp_path / 'ext.data'}")
    other = new(images, name="data-file", disk_format="qcow2")
    assert "not safe" in glance_error(upload(images, other["id"], external), 400)
    for made in (image, other):
        assert_untouched(images, shoal_server, made["id"])


def test_vmdk_with_extents_outside_the_image_is_refused(images, shoal_server, tmp_path):
    qemu_image(tmp_path / "flat.vmdk", "vmdk", 4 * MiB, "-o", "subformat=monolithicFlat")
    descriptor = (tmp_path / "flat.vmdk").read_bytes()  # names flat-flat.vmdk, a file beside it
    assert b"flat-flat.vmdk" in descriptor
    image = new(images, name="vmdk-extent", disk_format="vmdk")
    glance_error(upload(images, image["id"], descriptor), 400)
    sparse = qemu_image(tmp_path / "sparse.vmdk", "vmdk", 4 * MiB, data=b"v" * 4096)
    fine = new(images, name="vmdk-sparse", disk_format="vmdk")
    assert upload(images, fine["id"], sparse).status_code == 204
    assert images.get(f"/images/{fine['id']}").json()["virtual_size"] == 4 * MiB
    assert_untouched(images, shoal_server, image["id"])
