"""GET /volumes/{volume_id}/progress during a ZFS to ZFS volume migration
(os-migrate_volume between the two pools of the pair server: `zfs send | zfs
receive`): from the request on, while migration_status is starting, migrating
or completing, the volume's progress names `migration` with a percentage that
never goes back; once the migration succeeded nothing runs (operation and
percent null). The volume holds 512 MiB of random data, so the send takes a
while."""

from __future__ import annotations

import subprocess

import pytest

from .migration_helpers import MIGRATION_TIMEOUT, Migrations
from .progress_helpers import percents, watch
from .zfs_migration_helpers import PairServer, pair, pair_server, second_zpool, volume_file  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration
DATA_MIB = 512
MOVING = ("starting", "migrating", "completing")


def test_a_migration_shows_its_progress_until_it_ends(pair: Migrations, pair_server: PairServer):
    api = pair
    vid = api.create_volume(1)["id"]
    subprocess.run(["dd", "if=/dev/urandom", f"of={volume_file(pair_server.roots[0], vid)}", "bs=1M",
                    f"count={DATA_MIB}", "conv=notrunc", "status=none"], check=True, timeout=900)

    resp = api.migrate(vid, pair_server.host(1))
    assert resp.status_code == 202, resp.text
    seen = watch(api.client, vid, lambda a: a["migration_status"] in ("success", "error"), MIGRATION_TIMEOUT)

    assert seen[-1]["migration_status"] == "success", seen[-1]
    moving = [a for a in seen if a["migration_status"] in MOVING]
    assert moving and all(a["operation"] == "migration" for a in moving), seen
    assert percents(seen, "migration")
    assert (seen[-1]["status"], seen[-1]["operation"], seen[-1]["percent"]) == ("available", None, None)
    assert api.volume(vid)["os-vol-host-attr:host"] == pair_server.host(1)
    api.delete_volume(vid)
