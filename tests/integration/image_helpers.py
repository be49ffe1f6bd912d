"""Helpers of the image service tests: a client of a test Shoal's /image/v2, images
made by qemu-img, and what the store directory holds."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import httpx

PATCH = "application/openstack-images-v2.1-json-patch"
OCTETS = {"Content-Type": "application/octet-stream"}


def image_client(server, project: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/image/v2", timeout=120,
                        headers={"X-Auth-Token": f"admin:{project or server.project}", "Accept": "application/json"})


def create(client: httpx.Client, **body) -> dict:
    body = {"disk_format": "raw", "container_format": "bare", **body}
    response = client.post("/images", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def upload(client: httpx.Client, image_id: str, data) -> httpx.Response:
    return client.put(f"/images/{image_id}/file", content=data, headers=OCTETS)


def patch(client: httpx.Client, image_id: str, *ops: dict) -> httpx.Response:
    return client.patch(f"/images/{image_id}", json=list(ops), headers={"Content-Type": PATCH})


def glance_error(response: httpx.Response, code: int) -> str:
    """The message of a Glance-shaped error body, after checking its status."""
    assert response.status_code == code, f"{response.status_code}: {response.text}"
    body = response.json()
    assert body["code"].startswith(str(code)) and body["title"], body
    return body["message"]


def store_files(server) -> list[str]:
    """Every file of the image store (data, staged data and part files)."""
    root = Path(server.state_dir) / "images"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()


def qemu_image(path: Path, fmt: str, size: int, *options: str, data: bytes = b"") -> bytes:
    """An image of `fmt` and `size` bytes made by qemu-img, holding `data` at offset 0."""
    if data:
        raw = path.with_suffix(".raw")
        raw.write_bytes(data)
        os.truncate(raw, size)
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", fmt, *options, str(raw), str(path)], check=True)
        raw.unlink()
    else:
        subprocess.run(["qemu-img", "create", "-q", "-f", fmt, *options, str(path), str(size)], check=True)
    return path.read_bytes()


def random_bytes(size: int) -> bytes:
    return os.urandom(size)
