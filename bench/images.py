"""Volumes from images through Shoal's API against qemu-img by hand, in one run, on
a ZFS backend with the image-volume cache on.

- fill: a volume from a new 1 GiB qcow2 image holding 512 MiB of data (the cache's
  first fill: the image checked, converted into a cache volume, the volume a clone
  of it), against `zfs create` + `qemu-img convert -f qcow2 -O raw` of the same
  image file into a file in a fresh dataset by hand. Reported as a throughput
  ratio: floor time / Shoal time (goal >= 0.9).
- cached: a volume from that image once cached, against an empty volume's
  create, both through the API (goal <= 1.3x).
- a volume from a cached 1 GiB image and from a cached 20 GiB (sparse, mostly
  empty) image, side by side: the clone is O(1) in the size, so they should be equal.

Latency through the API ends when the server recorded `available` (`updated_at`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUIET, Rounds, bench_shoal, latency, send, sh, wait_gone, wait_status

GiB, MiB = 1024**3, 1024**2
CACHE_ON = "image_volume_cache_enabled = true\n"
OCTETS = {"Content-Type": "application/octet-stream"}


def cache_on(config: Path) -> None:
    text = config.read_text()
    config.write_text(text.replace("[backends.test]\n", "[backends.test]\n" + CACHE_ON, 1))


def qcow2_image(work: Path, name: str, virtual: int, data: int) -> Path:
    """A qcow2 image of `virtual` bytes whose first `data` bytes are random (incompressible)."""
    raw = work / f"{name}.raw"
    with open(raw, "wb") as fh:
        fh.writelines(os.urandom(8 * MiB) for _ in range(data // (8 * MiB)))
        fh.truncate(virtual)
    path = work / f"{name}.qcow2"
    sh("qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(path))
    raw.unlink()
    return path


class Api:
    def __init__(self, volumes: httpx.Client, images: httpx.Client):
        self.volumes, self.images = volumes, images

    def upload(self, path: Path) -> str:
        created = self.images.post("/images", json={"name": f"bench-{uuid.uuid4().hex[:6]}", "disk_format": "qcow2",
                                                     "container_format": "bare"})
        image = created.json()["id"]
        with open(path, "rb") as fh:
            put = self.images.put(f"/images/{image}/file", content=fh, headers=OCTETS, timeout=600)
        assert put.status_code == 204, put.text
        return image

    def drop_image(self, image: str) -> None:
        """The image, and with it its cache entry (the cache volume deleted in the background)."""
        self.images.delete(f"/images/{image}")
        deadline = time.monotonic() + 120
        while any(v["name"] == f"image-{image}" for v in self.volumes.get(
                "/volumes", params={"all_tenants": 1}).json()["volumes"]):
            assert time.monotonic() < deadline, f"the cache volume of image {image} is still there"
            time.sleep(0.2)

    def create(self, first_poll: float = 0.0, size: int = 1, **extra) -> tuple[str, float]:
        response, started = send(self.volumes, "POST", "/volumes", json={"volume": {"size": size, **extra}})
        assert response.status_code == 202, response.text
        volume = response.json()["volume"]["id"]
        return volume, latency(started, wait_status(self.volumes, f"/volumes/{volume}", "available",
                                                    first_poll=first_poll))

    def delete(self, volume: str) -> None:
        self.volumes.delete(f"/volumes/{volume}")
        wait_gone(self.volumes, f"/volumes/{volume}")


def fill_rounds(api: Api, shoal, image_file: Path, rounds: int) -> dict:
    """Each round a new image (a first fill), the API and the floor taking turns going first."""
    paired = Rounds(("fill",), shoal.settle)
    for index in range(rounds):
        image = api.upload(image_file)
        os.sync()  # the upload's dirty pages written out now, not during whichever copy comes first
        name = f"{shoal.pool}/raw/f{index}"

        def floor(name: str = name) -> None:
            sh("zfs", "create", name)
            sh("qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(image_file), f"/{name}/volume.raw")

        volume = paired.pair("fill", index, floor, lambda wait, image=image: api.create(wait, imageRef=image))
        api.delete(volume)
        api.drop_image(image)
        sh("zfs", "destroy", "-r", name)
    return paired.results["fill"]


def side_by_side(api: Api, rounds: int, settle, steps: dict) -> dict[str, list[float]]:
    """Each step `name -> fn() -> (volume, seconds)` once a round, on a settled pool after
    a pause, the order turned round every round; the volumes deleted after the round."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for index in range(rounds):
        made = []
        order = list(steps.items())
        for name, step in order if index % 2 == 0 else order[::-1]:
            settle()
            time.sleep(QUIET)
            volume, seconds = step()
            times[name].append(seconds)
            made.append(volume)
        for volume in made:
            api.delete(volume)
    return times


def paired_ratio(times: dict[str, list[float]], top: str, bottom: str) -> float:
    return statistics.median(a / b for a, b in zip(times[top], times[bottom]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the fill (each uploads a new image)")
    args = parser.parse_args()
    with bench_shoal(pool_size="64G", before_start=cache_on) as shoal:
        headers = {"OpenStack-API-Version": "volume 3.71", "X-Auth-Token": f"admin:{shoal.project}"}
        images = httpx.Client(base_url=f"{shoal.url}/image/v2", timeout=60, headers={"X-Auth-Token": f"admin:{shoal.project}"})
        api = Api(shoal.client("volume", headers), images)
        work = shoal.work
        big = qcow2_image(work, "data", GiB, 512 * MiB)

        fill = fill_rounds(api, shoal, big, args.rounds)
        fill_ratio = statistics.median(f / a for a, f in zip(fill["api"], fill["floor"]))
        print(f"image -> volume (1 GiB qcow2, 512 MiB of data), median of {args.rounds} rounds: "
              f"shoal {statistics.median(fill['api']) * 1000:.0f} ms, qemu-img convert by hand "
              f"{statistics.median(fill['floor']) * 1000:.0f} ms, throughput ratio {fill_ratio:.2f}")

        cached_rounds = max(20, 2 * args.rounds)
        image = api.upload(big)
        api.delete(api.create(imageRef=image)[0])  # fills the entry
        times = side_by_side(api, cached_rounds, shoal.settle, {
            "cached": lambda: api.create(imageRef=image),
            "empty": lambda: api.create(),
        })
        print(f"volume from the cached image vs empty volume, median of {cached_rounds}: "
              f"{statistics.median(times['cached']) * 1000:.1f} ms vs {statistics.median(times['empty']) * 1000:.1f} ms, "
              f"ratio {paired_ratio(times, 'cached', 'empty'):.2f}")
        api.drop_image(image)

        small = api.upload(qcow2_image(work, "small", GiB, 4 * MiB))
        large = api.upload(qcow2_image(work, "large", 20 * GiB, 4 * MiB))
        for image, size in ((small, 1), (large, 20)):
            api.delete(api.create(size=size, imageRef=image)[0])  # fills the entries
        times = side_by_side(api, cached_rounds, shoal.settle, {
            "1 GiB": lambda: api.create(size=1, imageRef=small),
            "20 GiB": lambda: api.create(size=20, imageRef=large),
        })
        print(f"volume from a cached image, median of {cached_rounds}: 1 GiB {statistics.median(times['1 GiB']) * 1000:.1f} ms, "
              f"20 GiB {statistics.median(times['20 GiB']) * 1000:.1f} ms, ratio {paired_ratio(times, '20 GiB', '1 GiB'):.2f}")
        for image in (small, large):
            api.drop_image(image)
        images.close()
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
