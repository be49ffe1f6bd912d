"""Volumes exported as files over NFS (`volume_export = "nfs"`), on real ZFS
and a real ganesha, checked with libnfs: an attachment's connection info says
`driver_volume_type: nfs` with the export and the file name, the attached
host's address can read the volume file, and after the detach it cannot."""

from __future__ import annotations

import subprocess
import time

import pytest

from shoal.config import Settings
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
