"""What stops a RemoteFS backend, each problem with its fix: qemu-img not
installed, a share that could not be mounted, a share directory that is
missing. A healthy backend has none."""

from __future__ import annotations

import os
import shutil

import pytest

from shoal.drivers.remotefs.config import NasShareConfig, RemoteFsBackendConfig
from shoal.drivers.remotefs.nas import mount_point
from shoal.drivers.remotefs.volumes import RemoteFsVolumeDriver
from shoal.hosts import LocalHost

pytestmark = pytest.mark.integration


def test_a_healthy_backend_has_no_problems(remotefs):
    assert remotefs().problems() == []


def test_missing_qemu_img_is_reported(remotefs, tmp_path, monkeypatch):
    driver = remotefs()
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("test", "mountpoint"):  # what problems() needs besides qemu-img
        os.symlink(shutil.which(tool), tools / tool)
    monkeypatch.setenv("PATH", str(tools))
    [problem] = driver.problems()
    assert "qemu-img is not installed" in problem and "apt-get install qemu-utils" in problem


def test_an_unmounted_share_and_a_missing_directory_are_reported(tmp_path):
    base = tmp_path / "mnt"
    config = RemoteFsBackendConfig(driver="remotefs", mount_point_base=str(base), shares=[
        NasShareConfig(address="nas.invalid:/export"),  # cannot be resolved: the mount fails at once
        NasShareConfig(address="127.0.0.1:/gone", path=str(tmp_path / "gone")),
    ])
    driver = RemoteFsVolumeDriver("files", config, LocalHost(), str(tmp_path / "state"))
    driver.start()  # does not raise: the backend reports what is wrong instead
    where = mount_point(str(base), "nas.invalid:/export")
    problems = driver.problems()
    assert len(problems) == 2
    assert f"share nas.invalid:/export is not mounted at {where}" in problems[0]
    assert f"mount -t nfs nas.invalid:/export {where}" in problems[0]
    assert f"share directory {tmp_path / 'gone'} (127.0.0.1:/gone) is missing; fix: mkdir -p" in problems[1]
    assert os.listdir(where) == []  # nothing (no indicator file) was written under the unmounted share
    assert [pool.name for pool in driver.pools()] == []  # neither is a pool
