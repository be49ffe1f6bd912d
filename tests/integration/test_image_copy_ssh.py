"""Image copies with a volume on a storage host reached over SSH (the private OpenSSH
server of the ``sshd`` fixture, on this machine: what the remote end did is checked
on the local filesystem).

The generic path of volumes from images and images from volumes (image_copy) with a
volume's data on an SSHHost: the image file is staged in a private directory on the
storage host and converted there onto the volume; a volume is converted there into
the image format and the result copied back. qemu-img compares the results from
outside; progress reaches 100; no staging directory is left, whether the copy
succeeded or failed, and a staging area too small is refused before anything moves.
"""

from __future__ import annotations

import glob
import json
import subprocess
from pathlib import Path

import pytest

from shoal.drivers.base import DriverError
from shoal.drivers.volume import VolumeData
from shoal.hosts import LocalHost, SSHHost
from shoal.services.volume import image_copy

from .volume_helpers import GiB, MiB
from .volume_image_helpers import make_image, same_data

pytestmark = pytest.mark.integration


@pytest.fixture
def storage_host(sshd):
    """root@127.0.0.1 over SSH: another machine as far as Shoal can tell."""
    host = SSHHost(sshd.address, port=sshd.port, key_file=sshd.key_file)
    yield host
    host.close()


@pytest.fixture
def staging_dirs():
    """The staging directories a test left on the storage host (none expected)."""
    pattern = f"{image_copy.STAGING_DIR}/{image_copy.STAGING_PREFIX}*"
    before = set(glob.glob(pattern))
    yield lambda: set(glob.glob(pattern)) - before


def a_volume(tmp_path: Path, size: int) -> Path:
    """A raw volume file of `size` bytes, zeroed (sparse), as a driver's volume is."""
    path = tmp_path / "volume"
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def test_an_image_goes_onto_a_volume_of_a_storage_host_and_back(storage_host, staging_dirs, tmp_path):
    image = make_image(tmp_path, "qcow2", GiB, "over-ssh", data_mib=8)
    volume = a_volume(tmp_path, GiB)
    seen: list[int] = []
    image_copy.image_into_volume(LocalHost(), str(image), "qcow2", VolumeData(storage_host, str(volume), "raw"),
                                 seen.append)
    same_data(image, "qcow2", str(volume))
    assert seen and seen[-1] == 100
    assert not staging_dirs()

    target = tmp_path / "back.vmdk"
    seen.clear()
    image_copy.volume_into_file(VolumeData(storage_host, str(volume), "raw"), target, "vmdk", seen.append,
                                room=GiB)
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(target)], check=True,
                                     capture_output=True, text=True).stdout)
    assert info["format"] == "vmdk" and info["virtual-size"] == GiB
    same_data(target, "vmdk", str(volume))
    assert seen and seen[-1] == 100
    assert not staging_dirs()


def test_a_failed_copy_and_a_staging_area_too_small_leave_nothing(storage_host, staging_dirs, tmp_path):
    image = make_image(tmp_path, "raw", 16 * MiB, "nowhere")
    missing = VolumeData(storage_host, str(tmp_path / "no-such-dir" / "volume"), "raw")
    with pytest.raises(DriverError):
        image_copy.image_into_volume(LocalHost(), str(image), "raw", missing, lambda _p: None)
    assert not staging_dirs()

    volume = a_volume(tmp_path, 16 * MiB)
    with pytest.raises(DriverError, match="not enough space in /var/tmp on storage host"):
        image_copy.volume_into_file(VolumeData(storage_host, str(volume), "raw"), tmp_path / "big.qcow2", "qcow2",
                                    lambda _p: None, room=1 << 60)
    assert not (tmp_path / "big.qcow2").exists()
    assert not staging_dirs()
