"""Volumes exported as files over NFS (`volume_export = "nfs"`), on real ZFS
and a real ganesha, checked with libnfs: an attachment's connection info says
`driver_volume_type: nfs` with the export and the file name, the attached
host's address can read the volume file, and after the detach it cannot --
also when the detach was cut short between its record and its unexport."""

from __future__ import annotations

import subprocess
import time

import pytest

from shoal.config import Settings
from shoal.db import models
from shoal.db.migrate import upgrade
from shoal.services import Services
from shoal.services.common.context import RequestContext
from tests.fixtures.shoal import free_port, kill_ganesha
from tests.fixtures.zfs import destroy_dataset

pytestmark = pytest.mark.integration

CTX = RequestContext(user_id="u", project_id="nfs-volumes", roles=("admin", "member"))
CONNECTOR = {"ip": "127.0.0.1", "host": "nfs-client"}


@pytest.fixture
def services(zpool, tmp_path):
    root = f"{zpool}/nfs-volumes"
    subprocess.run(["zfs", "create", root], check=True)
    nfs_port, mount_port = free_port(), free_port()
    settings = Settings.model_validate({
        "database": {"url": f"sqlite:///{tmp_path}/shoal.db"},
        "backends": {"files": {
            "pools": [root], "volume_export": "nfs",
            "ganesha": {"config_dir": str(tmp_path / "ganesha"), "nfs_port": nfs_port, "mount_port": mount_port},
        }},
    })
    upgrade(settings.database.url)
    svc = Services(settings)
    svc.start(periodic=False)
    yield svc, nfs_port, mount_port
    svc.stop()
    kill_ganesha(tmp_path / "ganesha")
    destroy_dataset(root)


def wait_status(svc: Services, volume_id: str, status: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while (volume := svc.volumes.get(CTX, volume_id)).status != status:
        assert "error" not in volume.status, volume.status_reason
        assert time.monotonic() < deadline, volume.status
        time.sleep(0.05)
    return volume


def nfs_ls(url: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nfs-ls", url], capture_output=True, text=True, timeout=60)


def test_attach_over_nfs_grants_exactly_the_attached_host(services):
    svc, nfs_port, mount_port = services
    volume = wait_status(svc, svc.volumes.create(CTX, size=1).id, "available")

    attachment, info = svc.attachments.create(CTX, volume.id, None, CONNECTOR)
    assert info.driver_volume_type == "nfs"
    assert info.data["name"] == "volume.raw" and info.data["format"] == "raw"
    address, _, path = info.data["export"].partition(":")
    assert address == "127.0.0.1" and path == f"/{volume.provider_location}"
    url = f"nfs://127.0.0.1{path}?nfsport={nfs_port}&mountport={mount_port}"
    listing = nfs_ls(url)
    assert listing.returncode == 0, listing.stderr
    assert "volume.raw" in listing.stdout and str(1024**3) in listing.stdout

    svc.attachments.complete(CTX, attachment.id)
    assert svc.volumes.get(CTX, volume.id).status == "in-use"
    svc.attachments.delete(CTX, attachment.id)
    assert svc.volumes.get(CTX, volume.id).status == "available"
    assert nfs_ls(url).returncode != 0  # no attachment, no export

    svc.volumes.delete(CTX, volume.id)
    deadline = time.monotonic() + 30
    while svc.volumes.list(CTX):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_connector_without_an_address_is_refused(services):
    svc, _, _ = services
    volume = wait_status(svc, svc.volumes.create(CTX, size=1).id, "available")
    from shoal.services.common.errors import Invalid

    with pytest.raises(Invalid):
        svc.attachments.create(CTX, volume.id, None, {"host": "no-ip"})
    assert svc.volumes.get(CTX, volume.id).status == "available"
    assert svc.attachments.list(CTX) == []
    svc.volumes.delete(CTX, volume.id)


def test_a_detach_cut_short_leaves_no_export(services):
    """The attachment's row went (what a detach records first) but the export
    stayed, as when Shoal dies before its unexport: the recovery a start runs
    removes that export; another attached volume's export stays."""
    svc, nfs_port, mount_port = services
    left, kept = (wait_status(svc, svc.volumes.create(CTX, size=1).id, "available") for _ in range(2))
    urls = {}
    for volume in (left, kept):
        attachment, info = svc.attachments.create(CTX, volume.id, None, CONNECTOR)
        svc.attachments.complete(CTX, attachment.id)
        path = info.data["export"].partition(":")[2]
        urls[volume.id] = (attachment.id, f"nfs://127.0.0.1{path}?nfsport={nfs_port}&mountport={mount_port}")
        assert nfs_ls(urls[volume.id][1]).returncode == 0

    with svc.core.db.session() as session:
        session.delete(session.get(models.VolumeAttachment, urls[left.id][0]))
        row = session.get(models.Volume, left.id)
        row.status, row.attach_status = "available", "detached"
    assert nfs_ls(urls[left.id][1]).returncode == 0, "the export outlived its attachment, as after a crash"
    svc.volume_recovery.ensure_exports()

    assert nfs_ls(urls[left.id][1]).returncode != 0
    assert nfs_ls(urls[kept.id][1]).returncode == 0
    svc.attachments.delete(CTX, urls[kept.id][0])
    for volume in (left, kept):
        svc.volumes.delete(CTX, volume.id)
