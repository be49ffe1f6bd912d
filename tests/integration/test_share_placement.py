"""Placement across backends, on real ZFS: a new share goes to the pool with the
most free space that fits, honours the share type's backend and the requested
availability zone, and ends `error` with a reason when nothing fits.

Two backends on datasets of the test pool, each limited by a `quota` so their
free space differs (a nested dataset reports the space its quota leaves). Both
share one Shoal-run ganesha, as two backends on one storage host would.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from shoal.config import Settings
from shoal.services import Services
from shoal.services.common.context import RequestContext
from tests.fixtures.shoal import control_port, free_port, kill_ganesha, stop_tgtd
from tests.fixtures.zfs import destroy_dataset

pytestmark = pytest.mark.integration

CTX = RequestContext(user_id="u", project_id="placement", roles=("admin", "member"))


@pytest.fixture
def services(zpool, tmp_path):
    roots = {"small": f"{zpool}/place-small", "big": f"{zpool}/place-big"}
    subprocess.run(["zfs", "create", "-o", "quota=2G", roots["small"]], check=True)
    subprocess.run(["zfs", "create", "-o", "quota=3G", roots["big"]], check=True)
    ganesha = {"config_dir": str(tmp_path / "ganesha"), "nfs_port": free_port(), "mount_port": free_port()}
    iscsi_port = free_port()  # the volume side of the backends gets a tgtd of its own
    iscsi = {"portals": [f"127.0.0.1:{iscsi_port}"], "control_port": control_port(iscsi_port)}
    settings = Settings.model_validate({
        "database": {"url": f"sqlite:///{tmp_path}/shoal.db"},
        "backends": {
            "small": {"pools": [roots["small"]], "availability_zone": "zone-a", "ganesha": ganesha, "iscsi": iscsi},
            "big": {"pools": [roots["big"]], "availability_zone": "zone-b", "ganesha": ganesha, "iscsi": iscsi},
        },
    })
    from shoal.db.migrate import upgrade

    upgrade(settings.database.url)
    svc = Services(settings)
    svc.start(periodic=False)
    yield svc
    svc.stop()
    kill_ganesha(tmp_path / "ganesha")
    stop_tgtd(iscsi_port)
    for root in roots.values():
        destroy_dataset(root)


def wait_steady(svc: Services, share_id: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        share = svc.shares.get(CTX, share_id)
        if share.status in ("available", "error"):
            return share
        assert time.monotonic() < deadline, f"share {share_id} still {share.status}"
        time.sleep(0.05)


def make_type(svc: Services, name: str, **specs: str) -> str:
    return svc.share_types.create(CTX, name, {"driver_handles_share_servers": "False", **specs}).id


def test_most_free_pool_wins_and_type_and_zone_are_honoured(services, zpool):
    first = wait_steady(services, services.shares.create(CTX, size=1, share_proto="NFS").id)
    assert (first.status, first.backend) == ("available", "big")
    assert first.provider_location.startswith(f"{zpool}/place-big/")

    # The big backend now has 2 GiB of quota left, like the small one; ask for
    # the small one explicitly, by type and by zone.
    by_type = make_type(services, "only-small", share_backend_name="small")
    typed = wait_steady(services, services.shares.create(CTX, size=1, share_proto="NFS", share_type="only-small").id)
    assert (typed.status, typed.backend, typed.share_type_id) == ("available", "small", by_type)
    zoned = wait_steady(services, services.shares.create(CTX, size=1, share_proto="NFS", availability_zone="zone-a").id)
    assert (zoned.status, zoned.backend, zoned.availability_zone) == ("available", "small", "zone-a")

    pools = {p.name: p for _, _, stats in services.pools() for p in stats}
    assert set(pools) == {zpool}  # both backends report the zpool as their pool name
    for share in (first, typed, zoned):
        services.shares.delete(CTX, share.id)


def test_nothing_fits_ends_in_error_with_a_reason(services):
    share = wait_steady(services, services.shares.create(CTX, size=50, share_proto="NFS").id)
    assert share.status == "error"
    assert "no pool can hold this share" in share.status_reason
    assert "50 GiB needed" in share.status_reason
    messages = services.messages.list(CTX, resource_id=share.id)
    assert messages and "50 GiB needed" in messages[0].user_message
    assert share.provider_location is None
    services.shares.delete(CTX, share.id)
    deadline = time.monotonic() + 30
    while services.shares.list(CTX):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_unknown_backend_in_type_and_unknown_zone(services):
    make_type(services, "nowhere", share_backend_name="no-such-backend")
    share = wait_steady(services, services.shares.create(CTX, size=1, share_proto="NFS", share_type="nowhere").id)
    assert share.status == "error" and "no-such-backend" in share.status_reason
    from shoal.services.common.errors import NotFound

    with pytest.raises(NotFound):
        services.shares.create(CTX, size=1, share_proto="NFS", availability_zone="zone-z")
    services.shares.delete(CTX, share.id)
