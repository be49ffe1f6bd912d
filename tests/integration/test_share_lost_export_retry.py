"""A share whose export was lost (a recovery pass failed for it: it is `error`
with "export lost: …") is tried again by the periodic check, not only at the
next daemon event: once its export can be made, it is `available` and served.
Real ZFS and a real ganesha, checked with libnfs."""

from __future__ import annotations

import subprocess
import time

import pytest

from shoal.config import Settings
from shoal.db import models
from shoal.db.migrate import upgrade
from shoal.exports.nfs.base import NfsExport
from shoal.services import Services
from shoal.services.common.context import RequestContext
from shoal.services.share.recovery import EXPORT_LOST
from tests.fixtures.shoal import control_port, free_port, kill_ganesha, stop_tgtd
from tests.fixtures.zfs import destroy_dataset

pytestmark = pytest.mark.integration

CTX = RequestContext(user_id="u", project_id="lost-export", roles=("admin", "member"))


@pytest.fixture
def services(zpool, tmp_path):
    root = f"{zpool}/lost-export"
    subprocess.run(["zfs", "create", root], check=True)
    ganesha = {"config_dir": str(tmp_path / "ganesha"), "nfs_port": free_port(), "mount_port": free_port()}
    iscsi_port = free_port()
    settings = Settings.model_validate({
        "database": {"url": f"sqlite:///{tmp_path}/shoal.db"},
        "backends": {"lost": {"pools": [root], "ganesha": ganesha,
                              "iscsi": {"portals": [f"127.0.0.1:{iscsi_port}"],
                                        "control_port": control_port(iscsi_port)}}},
    })
    upgrade(settings.database.url)
    svc = Services(settings)
    svc.start(periodic=False)
    yield svc, ganesha
    svc.stop()
    kill_ganesha(tmp_path / "ganesha")
    stop_tgtd(iscsi_port)
    destroy_dataset(root)


def wait_status(svc: Services, share_id: str, status: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while (share := svc.shares.get(CTX, share_id)).status != status:
        assert time.monotonic() < deadline, f"share {share_id} still {share.status}"
        time.sleep(0.05)
    return share


def nfs_ls(ganesha: dict, path: str) -> subprocess.CompletedProcess:
    url = f"nfs://127.0.0.1{path}?nfsport={ganesha['nfs_port']}&mountport={ganesha['mount_port']}"
    return subprocess.run(["nfs-ls", url], capture_output=True, text=True, timeout=60, check=False)


def test_the_periodic_check_exports_a_lost_share_again(services):
    svc, ganesha = services
    share = wait_status(svc, svc.shares.create(CTX, size=1, share_proto="NFS").id, "available")
    svc.access.allow(CTX, share.id, "ip", "127.0.0.1", "rw")
    path = next(loc.path for loc in svc.shares.get(CTX, share.id).export_locations).partition(":")[2]
    deadline = time.monotonic() + 30
    while nfs_ls(ganesha, path).returncode != 0:
        assert time.monotonic() < deadline, "the share was never served"
        time.sleep(0.2)

    # What a failed pass leaves: the share in error, its export gone from ganesha.
    svc.core.drivers["lost"].nfs.remove(NfsExport(share.id, path, share.provider_location))
    assert nfs_ls(ganesha, path).returncode != 0
    with svc.core.db.session() as session:
        row = session.get(models.Share, share.id)
        row.status, row.status_reason = "error", f"{EXPORT_LOST}: the file system was not mounted yet"

    svc.recovery.check_once()

    assert svc.shares.get(CTX, share.id).status == "available"
    assert svc.shares.get(CTX, share.id).status_reason is None
    assert nfs_ls(ganesha, path).returncode == 0
