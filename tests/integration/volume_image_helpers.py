"""Helpers of the volume-and-image tests (tests/integration/test_volume_images_*.py):
images made by qemu-img and uploaded through Shoal's Image API, the image store's
files, and byte-for-byte comparisons made from outside with `qemu-img compare`
(an image file against a volume reached over iscsi:// or nfs://)."""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from .image_helpers import OCTETS, image_client
from .volume_helpers import MiB, Lun, pattern

UPLOAD_TIMEOUT = 300.0


def make_image(tmp: Path, fmt: str, virtual: int, seed: str, data_mib: int = 3, *options: str) -> Path:
    """A `fmt` image of `virtual` bytes holding recognisable data: `data_mib` MiB of a
    pattern at offset 0 and 1 MiB more at the middle (the rest reads as zeros)."""
    raw = tmp / f"{seed}.raw"
    with open(raw, "wb") as fh:
        fh.write(pattern(seed, data_mib * MiB))
        fh.seek(virtual // 2)
        fh.write(pattern(seed + "-middle", MiB))
        fh.truncate(virtual)
    if fmt == "raw":
        return raw
    path = tmp / f"{seed}.{fmt}"
    qemu_fmt = {"vhd": "vpc"}.get(fmt, fmt)
    run(["qemu-img", "convert", "-f", "raw", "-O", qemu_fmt, *options, str(raw), str(path)])
    raw.unlink()
    return path


def run(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(argv)}: {result.stdout}{result.stderr}"
    return result


def upload_image(client: httpx.Client, path: Path, disk_format: str, **fields) -> dict:
    """Create an image and upload `path` to it; returns the active image."""
    body = {"name": f"img-{uuid.uuid4().hex[:6]}", "disk_format": disk_format, "container_format": "bare", **fields}
    created = client.post("/images", json=body)
    assert created.status_code == 201, created.text
    image = created.json()
    with open(path, "rb") as fh:
        put = client.put(f"/images/{image['id']}/file", content=fh, headers=OCTETS, timeout=UPLOAD_TIMEOUT)
    assert put.status_code == 204, put.text
    shown = client.get(f"/images/{image['id']}").json()
    assert shown["status"] == "active", shown
    return shown


def wait_image(client: httpx.Client, image_id: str, status: str = "active", timeout: float = UPLOAD_TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get(f"/images/{image_id}")
        assert resp.status_code == 200, f"image {image_id}: {resp.status_code} {resp.text}"
        image = resp.json()
        if image["status"] == status:
            return image
        if time.monotonic() > deadline:
            pytest.fail(f"image {image_id} did not become {status}: {image}")
        time.sleep(0.2)


def download(client: httpx.Client, image_id: str, target: Path) -> Path:
    with client.stream("GET", f"/images/{image_id}/file", timeout=UPLOAD_TIMEOUT) as resp:
        assert resp.status_code == 200, resp.read()
        with open(target, "wb") as fh:
            for chunk in resp.iter_bytes():
                fh.write(chunk)
    return target


def store_path(server, image_id: str) -> Path:
    return Path(server.state_dir) / "images" / "store" / image_id


def same_data(image: Path | str, image_fmt: str, other: str, other_fmt: str = "raw") -> None:
    """`qemu-img compare`: the two read the same byte for byte (what one has beyond
    the other's end must be zeros)."""
    qemu = {"vhd": "vpc"}
    result = subprocess.run(["qemu-img", "compare", "-f", qemu.get(image_fmt, image_fmt), "-F",
                             qemu.get(other_fmt, other_fmt), str(image), other],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"qemu-img compare {image} {other}: {result.stdout}{result.stderr}"


def lun_spec(attachment: dict, initiator: str) -> str:
    """A qemu `json:` spec of the attached LUN, as `initiator` reaches it."""
    return Lun.of(attachment["connection_info"]).qemu_spec(initiator)


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(MiB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def glance(server) -> httpx.Client:
    """An Image API client of the server's own project (the one the volume tests use)."""
    return image_client(server)


@pytest.fixture
def images(shoal_server):
    """An Image API client of the server's own project; the images the test made
    (protected or not) are deleted after it."""
    client = glance(shoal_server)
    before = {i["id"] for i in client.get("/images", params={"limit": 1000}).json()["images"]}
    yield client
    for image in client.get("/images", params={"limit": 1000}).json()["images"]:
        if image["id"] not in before:
            if image.get("protected"):
                client.patch(f"/images/{image['id']}", json=[{"op": "replace", "path": "/protected", "value": False}],
                             headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
            client.delete(f"/images/{image['id']}")
    client.close()
