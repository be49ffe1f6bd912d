"""Shoal crashes (SIGKILL) while qemu-img copies an image into a volume, and while it
converts a volume into an image. After the restart nothing stays `downloading` or
`uploading`: the volume being filled is `error` with the reason (and can be deleted,
leaving no file), the volume being uploaded is `available` again, its image is gone,
and no qemu-img outlived Shoal (they die with it) nor any conversion file.

On a RemoteFS backend (a share directory on the test's own filesystem): a writer
killed mid-write on zfs-fuse can leave its dataset busy for good (a zfs-fuse flaw),
which would leave a pool behind; the recovery under test is the backend-independent one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.fixtures.remotefs import backend_toml
from tests.fixtures.shoal import running_shoal, start_server

from .volume_helpers import GiB, MiB, VolumeApi, cinder, messages_for, wait_for_status
from .volume_image_helpers import glance, upload_image

pytestmark = pytest.mark.integration


def children_running(pid: int, word: str) -> list[int]:
    """Processes whose parent is `pid` and whose command line holds `word`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and word.encode() in argv and stat[0] != "Z":
            found.append(int(entry))
    return found


def qemu_img_of(word: str) -> list[int]:
    """Every qemu-img process (whoever its parent) whose command line holds `word`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"qemu-img") and any(word.encode() in a for a in argv):
                found.append(int(entry))
    return found


def crash_when_copying(server, word: str) -> None:
    """Kill Shoal as soon as its qemu-img convert naming `word` runs; start it again."""
    deadline = time.monotonic() + 120
    while not children_running(server.process.pid, word):
        assert time.monotonic() < deadline, "qemu-img convert never started"
        assert server.process.poll() is None
        time.sleep(0.02)
    server.process.kill()
    server.process.wait()
    deadline = time.monotonic() + 30
    while qemu_img_of(word):  # PR_SET_PDEATHSIG: they die with Shoal
        assert time.monotonic() < deadline, "a qemu-img outlived Shoal"
        time.sleep(0.05)
    server.process = start_server(server.config, server.state_dir, server.url)


def test_a_crash_during_either_copy_leaves_nothing_in_a_transitional_status(zpool, tmp_path_factory, tmp_path):
    share = tmp_path_factory.mktemp("nas-crash")
    with running_shoal(zpool, tmp_path_factory, "volimgcrash", extra_config=backend_toml("nas", share)) as server, \
            glance(server) as images, cinder(server) as client:
        api = VolumeApi(server, client)
        vtype = api.create_type("nas", {"volume_backend_name": "nas"})
        source = tmp_path / "big.raw"
        with open(source, "wb") as fh:  # data that takes qemu-img a while to write
            for _ in range(384):
                fh.write(os.urandom(MiB))
            fh.truncate(GiB)
        image = upload_image(images, source, "raw")

        # Into a volume: the restart finds it downloading and ends it in error.
        resp = client.post("/volumes", json={"volume": {"size": 1, "imageRef": image["id"], "volume_type": vtype["id"]}})
        assert resp.status_code == 202, resp.text
        volume_id = resp.json()["volume"]["id"]
        crash_when_copying(server, image["id"])
        volume = wait_for_status(client, f"/volumes/{volume_id}", "error")
        assert volume["bootable"] == "false" and "volume_image_metadata" not in volume
        assert any("restart of Shoal" in m["user_message"] for m in messages_for(client, volume_id))
        api.delete_volume(volume_id)
        assert not [p for p in share.iterdir() if volume_id in p.name]

        # Out of a volume: the restart puts the volume back and drops the image.
        volume = api.create_volume(1, imageRef=image["id"], volume_type=vtype["id"], wait=None)
        api.wait_volume(volume["id"], "available", timeout=300)
        resp = api.action(volume["id"], "os-volume_upload_image", {"image_name": "cut-short", "disk_format": "qcow2"})
        assert resp.status_code == 202, resp.text
        new_image = resp.json()["os-volume_upload_image"]["image_id"]
        crash_when_copying(server, new_image)
        assert api.wait_volume(volume["id"], "available")["status"] == "available"
        assert images.get(f"/images/{new_image}").status_code == 404
        assert any("interrupted by a restart" in m["user_message"] for m in messages_for(client, volume["id"]))
        conversion = Path(server.state_dir) / "conversion"
        assert not list(conversion.iterdir()) if conversion.exists() else True
        api.delete_volume(volume["id"])
        assert not [p for p in share.iterdir() if volume["id"] in p.name]
