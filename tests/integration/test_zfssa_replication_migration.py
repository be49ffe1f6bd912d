"""Volume migration between two ZFS Storage Appliances by the appliances' own
replication (reference §3.8), against two ZFSSA emulators (tests/emulators/
zfssa: the appliance's REST API over real ZFS and tgtd; their replication is a
real `zfs send | zfs receive` from one emulator's pool into the other's).

A Shoal of the module's own has a `zfssa_iscsi` backend on each emulator
(`zsrc` on the first, `zdst` on the second, which names its replication_ip);
the first emulator has the second as its replication target, as an
administrator sets it up, so a migration zsrc -> zdst goes by replication and
zdst -> zsrc (no target that way) by the generic copy. Data is written and read
over iSCSI as a compute host would (qemu-img, the connection info of an
attachment). Every step of the move is made to fail in turn with the
emulator's fail_next: the source LUN is left exactly as it was (properties,
replication flag, ZFS snapshots, data) and the destination holds nothing of
it. Shoal killed with SIGKILL in the middle ends steady, leaking nothing. A
force-delete while the update runs (held by the emulator) cancels it on the
appliance. (The drivers alone, cut short: test_zfssa_replication_leftovers.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from types import SimpleNamespace

import pytest

from shoal.drivers.volume import VolumeRef
from shoal.drivers.zfssa import replication_api as repl
from shoal.drivers.zfssa.appliance import Appliance
from shoal.drivers.zfssa.config import ApplianceAccess, ZfssaIscsiBackendConfig
from shoal.drivers.zfssa.iscsi import ZfssaIscsiVolumeDriver
from shoal.drivers.zfssa.rest import ApplianceNotFound, RestClient
from tests.fixtures.shoal import backend_table, running_shoal, start_server

from .migration_helpers import Migrations, hidden_volumes
from .volume_helpers import (
    HOST1,
    _remove_leftovers,
    cinder,
    messages_for,
    read_through_iscsi,
    wait_gone,
    wait_until,
    write_through_iscsi,
)
from .zfssa_helpers import MiB, appliance_table, iscsi_table, token

pytestmark = pytest.mark.integration
SRC, DST = "zsrc", "zdst"
DATA = 4 * MiB
TIMEOUT = 300.0


def rest_of(appliance) -> Appliance:
    return Appliance(RestClient(ApplianceAccess.model_validate(appliance_table(appliance))))


def table(appliance, zone: str, **extra) -> dict:
    """A zfssa_iscsi backend on `appliance` in its own availability zone (so a
    volume is placed on it by zone), HOST1 in an initiator group of its own."""
    return iscsi_table(appliance, availability_zone=zone,
                       initiator_config={f"shoal-ig-h1-{token()}": [{"iqn": HOST1}]}, **extra)


@contextlib.contextmanager
def replicating(zfssa_appliance_factory, src_name: str = SRC, dst_name: str = DST):
    """emulator: two emulated appliances, the first with the second as its
    replication target (`label`), and a zfssa_iscsi backend's table on each
    (the second names its replication_ip); the target and both projects go at the end."""
    src_app, dst_app = zfssa_appliance_factory("zfssa1"), zfssa_appliance_factory("zfssa2")
    src_api, dst_api = rest_of(src_app), rest_of(dst_app)
    label = f"shoal-it-{token()}"
    peer = src_api.rest.call("POST", "/storage/v1/replication/targets",
                             {"hostname": dst_app.replication_ip, "root_password": dst_app.password, "label": label},
                             ok=(201,)).data["target"]
    src_table, dst_table = table(src_app, "zfssa-a"), table(dst_app, "zfssa-b", replication_ip=dst_app.replication_ip)
    try:
        yield SimpleNamespace(src=Side(src_name, src_app, src_api, src_table),
                              dst=Side(dst_name, dst_app, dst_api, dst_table), label=label)
    finally:
        src_api.rest.call("DELETE", f"/storage/v1/replication/targets/{peer['id']}", ok=(204,))
        for side_table, api in ((src_table, src_api), (dst_table, dst_api)):
            with contextlib.suppress(ApplianceNotFound):
                repl.delete_project(api, side_table["pool"], side_table["project"])


@pytest.fixture(scope="module")
def pair(zfssa_appliance_factory, zpool, tmp_path_factory):
    """emulator: two emulated appliances, the first replicating to the second,
    and a Shoal with a backend on each."""
    with replicating(zfssa_appliance_factory) as ends:
        extra = backend_table(SRC, ends.src.backend) + backend_table(DST, ends.dst.backend)
        with running_shoal(zpool, tmp_path_factory, "zfssa-repl", extra_config=extra) as server:
            server.src, server.dst = ends.src, ends.dst
            yield server


class Side:
    """One emulated appliance as the tests look at it from behind Shoal."""

    def __init__(self, name: str, appliance, api: Appliance, backend: dict):
        self.appliance, self.api, self.backend = appliance, api, backend
        self.pool, self.project = backend["pool"], backend["project"]
        self.host = f"shoal@{name}#{self.pool}"  # Cinder's host@backend#pool

    def luns(self, *ids: str) -> list[str]:
        return sorted(n["name"] for n in self.api.luns(self.pool, self.project) if any(i in n["name"] for i in ids))

    def state_of(self, lun: str) -> dict:
        """What must not change on a source LUN: its properties, replication flag and ZFS snapshots."""
        view = self.api.lun(self.pool, self.project, lun)
        dataset = self.appliance.zfs_dataset(self.project, lun)
        snaps = subprocess.run(["zfs", "list", "-H", "-o", "name", "-t", "snapshot", "-r", dataset],
                               capture_output=True, text=True, check=True).stdout.split()
        keep = ("name", "volsize", "targetgroup", "initiatorgroup", "nodestroy", "lunguid", "volblocksize",
                "sparse", "compression", "logbias")
        return {**{k: view.get(k) for k in keep}, "snapshots": snaps,
                "inherited": repl.inherited(self.api, self.pool, self.project, lun)}

    def actions(self) -> list[dict]:
        return [a for a in repl.actions(self.api) if a.get("project") == self.project]

    def packages(self) -> list[str]:
        return sorted(p["id"] for s in repl.sources(self.api) for p in s.get("packages") or [])

    def staging(self) -> list[str]:
        projects = self.api.rest.call("GET", f"/storage/v1/pools/{self.pool}/projects").data["projects"]
        return [p["name"] for p in projects if p["name"].startswith("shoal-migrating-")]


@pytest.fixture
def api(pair):
    with cinder(pair) as client:
        migrations = Migrations(pair, client)
        before = migrations.state()
        yield migrations
    pair.src.appliance.clear_failures()
    pair.dst.appliance.clear_failures()
    with cinder(pair) as client:  # the test may have restarted the server
        problems = _remove_leftovers(Migrations(pair, client), before)
    assert not problems, f"clean-up left things behind: {problems}"


def written(api: Migrations, zone: str = "zfssa-a") -> tuple[str, bytes]:
    """A 1 GiB volume on the first appliance with DATA random bytes written over iSCSI."""
    vid = api.create_volume(1, availability_zone=zone)["id"]
    data = os.urandom(DATA)
    write_through_iscsi(api, vid, data)
    return vid, data


def read_back(api: Migrations, vid: str) -> tuple[bytes, int]:
    """The volume's first DATA bytes and its size, read over iSCSI through a new attachment."""
    return read_through_iscsi(api, vid, DATA)


def sent_updates(side: Side) -> int:
    return sum(1 for method, path, _ in side.appliance.emulator.calls if path.endswith("/sendupdate"))


def cancel_calls(side: Side) -> list[str]:
    return [path for method, path, _ in side.appliance.emulator.calls if path.endswith("/cancelupdate")]


def sending(side: Side, lun: str) -> bool:
    return any(a.get("share") == lun and a.get("state") == "sending" for a in side.actions())


@contextlib.contextmanager
def held_updates(side: Side):
    side.appliance.emulator.hold_updates()
    try:
        yield
    finally:
        side.appliance.emulator.release_updates()


def test_driver_receives_a_lun_by_replication_and_reports_progress(pair):
    """emulator: the destination driver alone (no services): the LUN arrives in
    its project under the new volume's name, progress climbs, the source is as
    it was; the rename after the copy gives the data the volume's name."""
    src = ZfssaIscsiVolumeDriver("it-src", ZfssaIscsiBackendConfig.model_validate(pair.src.backend))
    dst = ZfssaIscsiVolumeDriver("it-dst", ZfssaIscsiBackendConfig.model_validate(pair.dst.backend))
    assert dst.can_receive_volume(src) and not src.can_receive_volume(dst)  # no target that way
    origin = VolumeRef(str(uuid.uuid4()), src.config.pool, 1)
    origin = VolumeRef(origin.id, origin.pool, 1, src.create_volume(origin).provider_location)
    before = pair.src.state_of(origin.provider_location)
    target = VolumeRef(str(uuid.uuid4()), dst.config.pool, 1)
    seen: list[int] = []
    made = dst.receive_volume(target, src, origin, [], seen.append)
    assert made.provider_location == f"volume-{target.id}" and pair.dst.luns(target.id) == [made.provider_location]
    assert seen == sorted(seen) and seen[0] < 10 and seen[-1] == 99, seen
    assert pair.src.state_of(origin.provider_location) == before
    assert pair.src.actions() == [] and pair.dst.staging() == []
    moved = VolumeRef(target.id, target.pool, 1, made.provider_location)
    assert dst.update_migrated_volume(origin, moved) is None
    assert dst.update_migrated_volume(origin, moved) is None  # repeated: done already
    assert pair.dst.luns(origin.id, target.id) == [f"volume-{origin.id}"]
    dst.delete_volume(VolumeRef(origin.id, target.pool, 1, dst.migrated_location(origin, moved)))
    src.delete_volume(origin)
    assert pair.dst.luns(origin.id, target.id) == [] and pair.src.luns(origin.id) == []


def test_migrate_moves_the_lun_by_replication_and_back_by_copy(pair, api):
    """emulator: os-migrate_volume zsrc -> zdst goes by the appliances'
    replication (a sendupdate on the first emulator), the volume keeps its id,
    its LUN on the second appliance is named by it and holds the data written
    before, read over iSCSI from the second appliance; nothing is left of the
    move on either side. Back zdst -> zsrc (no replication target that way) is
    the generic copy, data intact again."""
    vid, data = written(api)
    updates = sent_updates(pair.src)
    resp = api.migrate(vid, pair.dst.host)
    assert resp.status_code == 202, resp.text
    done = api.wait_migrated(vid, TIMEOUT)
    assert done["migration_status"] == "success" and done["status"] == "available", done
    assert done["os-vol-host-attr:host"] == pair.dst.host and done["id"] == vid
    assert sent_updates(pair.src) > updates  # by replication, not a copy
    assert pair.dst.luns(vid) == [f"volume-{vid}"] and pair.src.luns(vid) == []
    assert not hidden_volumes(api.client, vid)
    assert pair.src.actions() == [] and pair.dst.staging() == [] and pair.dst.packages() == []
    assert read_back(api, vid) == (data, 1024 * MiB)

    updates = sent_updates(pair.src) + sent_updates(pair.dst)
    resp = api.migrate(vid, pair.src.host)
    assert resp.status_code == 202, resp.text
    done = api.wait_migrated(vid, TIMEOUT)
    assert done["migration_status"] == "success" and done["os-vol-host-attr:host"] == pair.src.host, done
    assert sent_updates(pair.src) + sent_updates(pair.dst) == updates  # the generic copy
    assert pair.src.luns(vid) == [f"volume-{vid}"] and pair.dst.luns(vid) == []
    assert read_back(api, vid) == (data, 1024 * MiB)


def test_with_the_replication_service_offline_the_move_is_the_generic_copy(pair, api):
    """emulator: the second emulator's replication service disabled (a
    precondition of §3.8 unmet): os-migrate_volume zsrc -> zdst falls back to
    the generic copy (no sendupdate), the volume arrives with its data, and
    neither appliance keeps anything of a replication."""
    vid, data = written(api)
    updates, packages = sent_updates(pair.src), pair.dst.packages()
    pair.dst.api.rest.call("PUT", "/service/v1/services/replication/disable", ok=(202,))
    try:
        resp = api.migrate(vid, pair.dst.host)
        assert resp.status_code == 202, resp.text
        done = api.wait_migrated(vid, TIMEOUT)
    finally:
        pair.dst.api.enable_service("replication")
    assert done["migration_status"] == "success" and done["os-vol-host-attr:host"] == pair.dst.host, done
    assert sent_updates(pair.src) == updates
    assert pair.dst.luns(vid) == [f"volume-{vid}"] and pair.src.luns(vid) == []
    assert pair.src.actions() == [] and pair.dst.staging() == [] and pair.dst.packages() == packages
    assert read_back(api, vid) == (data, 1024 * MiB)


def test_retype_on_demand_moves_by_replication(pair, api):
    """emulator: os-retype to a type of zdst with migration_policy on-demand
    moves the LUN by replication, with the new type's compression."""
    vid, data = written(api)
    vtype = api.create_type(f"zdst-{token()}", {"volume_backend_name": DST, "zfssa:compression": "gzip"})
    updates = sent_updates(pair.src)
    resp = api.action(vid, "os-retype", {"new_type": vtype["id"], "migration_policy": "on-demand"})
    assert resp.status_code == 202, resp.text
    done = api.wait_migrated(vid, TIMEOUT)
    assert done["migration_status"] == "success" and done["volume_type"] == vtype["name"], done
    assert sent_updates(pair.src) > updates
    assert pair.dst.api.lun(pair.dst.pool, pair.dst.project, f"volume-{vid}")["compression"] == "gzip"
    assert read_back(api, vid) == (data, 1024 * MiB)


def test_a_retype_that_changes_the_block_size_is_the_generic_copy(pair, api):
    """emulator: a LUN's block size is fixed when it is made, so a retype onto
    zdst with another zfssa:volblocksize cannot go by replication (§3.8's
    preconditions): it is copied the generic way (no sendupdate), and arrives
    with its data and the new block size."""
    vid, data = written(api)
    before = pair.src.api.lun(pair.src.pool, pair.src.project, f"volume-{vid}")["volblocksize"]
    wanted = "32k" if str(before).lower() not in ("32k", "32768") else "64k"
    vtype = api.create_type(f"zdst-{token()}", {"volume_backend_name": DST, "zfssa:volblocksize": wanted})
    updates = sent_updates(pair.src)
    resp = api.action(vid, "os-retype", {"new_type": vtype["id"], "migration_policy": "on-demand"})
    assert resp.status_code == 202, resp.text
    done = api.wait_migrated(vid, TIMEOUT)
    assert done["migration_status"] == "success" and done["volume_type"] == vtype["name"], done
    assert sent_updates(pair.src) == updates
    made = pair.dst.api.lun(pair.dst.pool, pair.dst.project, f"volume-{vid}")["volblocksize"]
    assert str(made).lower() in (wanted, str(int(wanted[:-1]) * 1024)), made
    assert read_back(api, vid) == (data, 1024 * MiB)


def test_snapshots_come_along_by_replication(pair, api):
    """emulator: a volume with a snapshot moves with it: after the move the
    destination LUN holds exactly the volume's snapshot (none of the
    replication's own), and a volume made from the snapshot on the second
    appliance reads the data of the moment it was taken, over iSCSI."""
    vid, first = written(api)
    snap = api.create_snapshot(vid)
    second = os.urandom(DATA)
    write_through_iscsi(api, vid, second)
    resp = api.migrate(vid, pair.dst.host)
    assert resp.status_code == 202, resp.text
    done = api.wait_migrated(vid, TIMEOUT)
    assert done["migration_status"] == "success" and done["os-vol-host-attr:host"] == pair.dst.host, done
    assert [s["name"] for s in pair.dst.api.lun_snapshots(pair.dst.pool, pair.dst.project, f"volume-{vid}")] == \
        [f"snapshot-{snap['id']}"]
    assert read_back(api, vid) == (second, 1024 * MiB)
    copy = api.create_volume(1, snapshot_id=snap["id"])
    assert copy["os-vol-host-attr:host"] == pair.dst.host
    assert read_back(api, copy["id"]) == (first, 1024 * MiB)
    api.delete_volume(copy["id"])
    api.delete_snapshot(snap["id"])


# Each step of the move, and the rename after it, made to fail once: (side, method, path).
STEPS = {
    "stop-inheriting": ("src", "PUT", r"/filesystems/volume-[^/]+/replication$"),
    "create-action": ("src", "POST", r"/storage/v1/replication/actions$"),
    "send-update": ("src", "PUT", r"/sendupdate$"),
    "sever": ("dst", "PUT", r"/sever$"),
    "keep-snapshots": ("dst", "DELETE", r"/projects/shoal-migrating-[^/]+/luns/[^/]+/snapshots/"),
    "rename": ("dst", "PUT", r"/projects/shoal-migrating-[^/]+/luns/"),
    "move-in": ("dst", "PUT", r"/projects/shoal-migrating-[^/]+/filesystems/"),
    "drop-project": ("dst", "DELETE", r"/projects/shoal-migrating-[^/]+$"),
    "finish": ("src", "DELETE", r"/storage/v1/replication/actions/[^/]+$"),
    "rename-after-copy": ("dst", "PUT", r"/projects/{dst_project}/luns/volume-"),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_failed_step_leaves_the_source_as_it_was_and_nothing_on_the_destination(pair, api, step):
    """emulator: the step's call answers 500 once; the migration ends `error`,
    the volume where it was with its data, its LUN exactly as before (its
    snapshot included, no replication snapshot left), and the
    second appliance holds nothing of it (LUN, staging project, package)."""
    vid, data = written(api)
    api.create_snapshot(vid)
    lun = f"volume-{vid}"
    before, packages = pair.src.state_of(lun), pair.dst.packages()
    side, method, path = STEPS[step]
    getattr(pair, side).appliance.fail_next(method, path.format(dst_project=pair.dst.project), 500)
    resp = api.migrate(vid, pair.dst.host)
    assert resp.status_code == 202, resp.text
    done = api.wait_migrated(vid, TIMEOUT)
    assert done["migration_status"] == "error" and done["status"] == "available", done
    assert done["os-vol-host-attr:host"] == pair.src.host
    assert any("injected by the ZFSSA emulator" in m["user_message"] for m in messages_for(api.client, vid)), \
        messages_for(api.client, vid)
    assert pair.src.state_of(lun) == before
    assert pair.src.actions() == []
    assert pair.dst.luns("volume-") == []  # neither the volume's LUN nor its hidden target's
    assert pair.dst.staging() == [] and pair.dst.packages() == packages
    assert not hidden_volumes(api.client, vid)
    assert read_back(api, vid) == (data, 1024 * MiB)


def emulator_state(pair, lun: str, where: str) -> bool:
    """The move has reached `where`: an action of the LUN on the first emulator,
    or a package received on the second (read from the emulators' memory)."""
    if where == "action":
        return any(a.share == lun for a in list(pair.src.appliance.emulator.app.replication.actions.values()))
    return bool(pair.dst.appliance.emulator.app.replication.packages)


@pytest.mark.parametrize("where", ["action", "package"])
def test_kill_9_mid_migration_ends_steady_with_nothing_leaked(pair, api, where):
    """emulator: Shoal killed with SIGKILL once the move has an action on the
    source (or a package on the destination); the restarted Shoal resumes the
    flow (the move starts again, what the first attempt left removed first) or
    reverts it: the volume ends available with its data on exactly one side,
    no replication action, package or staging project left, no hidden target."""
    vid, data = written(api)
    lun = f"volume-{vid}"
    packages = pair.dst.packages()
    resp = api.migrate(vid, pair.dst.host)
    assert resp.status_code == 202, resp.text

    def reached():
        shown = api.volume(vid)
        assert shown["migration_status"] in ("starting", "migrating"), f"ended before {where}: {shown}"
        return emulator_state(pair, lun, where)
    wait_until(reached, timeout=TIMEOUT, what=f"the migration to have its {where}", poll=0.02)
    os.kill(pair.process.pid, signal.SIGKILL)
    pair.process.wait()

    pair.process = start_server(pair.config, pair.state_dir, pair.url)
    with cinder(pair) as client:
        api.client = client
        done = api.wait_migrated(vid, TIMEOUT)
        assert done["status"] == "available" and done["migration_status"] in ("success", "error"), done
        assert not hidden_volumes(client, vid)
        if done["migration_status"] == "success":
            assert done["os-vol-host-attr:host"] == pair.dst.host
            assert pair.dst.luns(vid) == [lun] and pair.src.luns(vid) == []
        else:
            assert done["os-vol-host-attr:host"] == pair.src.host
            assert pair.src.luns(vid) == [lun] and pair.dst.luns(vid) == []
            assert pair.src.state_of(lun)["inherited"] is True
        assert not [n for n in pair.dst.luns("volume-") if n != lun]  # no target's LUN left
        assert pair.src.actions() == [] and pair.dst.staging() == []
        wait_until(lambda: pair.dst.packages() == packages, timeout=TIMEOUT, what="no package left")
        assert read_back(api, vid) == (data, 1024 * MiB)


def migrating_while_held(pair, api: Migrations, vid: str) -> int:
    """Migrate `vid` to zdst (within held_updates) until its update runs, held;
    returns how many cancelupdate calls the first emulator had had by then."""
    resp = api.migrate(vid, pair.dst.host)
    assert resp.status_code == 202, resp.text
    wait_until(lambda: sending(pair.src, f"volume-{vid}"), timeout=TIMEOUT, what="the replication update to run",
               poll=0.05)
    return len(cancel_calls(pair.src))


def test_a_restart_during_the_update_cancels_it_rather_than_waiting_for_it(pair, api):
    """emulator: Shoal killed with SIGKILL while the appliance's update runs
    (the first emulator holds it, `sending`, and keeps holding it after): the
    restarted Shoal cancels that update on the appliance (cancelupdate: by the
    resumed move, which starts again, or by the backend's recovery sweep)
    instead of waiting for it to end; once updates flow again the volume ends
    migrated with its data, nothing of the first attempt left on either side."""
    vid, data = written(api)
    lun = f"volume-{vid}"
    packages = pair.dst.packages()
    with held_updates(pair.src):
        calls = migrating_while_held(pair, api, vid)
        os.kill(pair.process.pid, signal.SIGKILL)
        pair.process.wait()
        pair.process = start_server(pair.config, pair.state_dir, pair.url)
        wait_until(lambda: len(cancel_calls(pair.src)) > calls, timeout=TIMEOUT,
                   what="the first attempt's update to be cancelled on the appliance")
    with cinder(pair) as client:
        api.client = client
        done = api.wait_migrated(vid, TIMEOUT)
        assert done["migration_status"] == "success" and done["os-vol-host-attr:host"] == pair.dst.host, done
        assert pair.dst.luns(vid) == [lun] and pair.src.luns(vid) == []
        assert not [n for n in pair.dst.luns("volume-") if n != lun]  # no target's LUN left
        assert pair.src.actions() == [] and pair.dst.staging() == [] and pair.dst.packages() == packages
        assert read_back(api, vid) == (data, 1024 * MiB)


def test_a_force_delete_mid_migration_leaves_nothing_on_either_appliance(pair, api):
    """emulator: a force-delete while the appliance's replication update runs
    (the first emulator holds it, `sending`, as a large LUN's would run): the
    migration cancels the update on the appliance (cancelupdate) instead of
    waiting for it to end, is undone and the volume deleted while the update
    is still held; neither appliance keeps a LUN, action, package or staging
    project of it."""
    vid, _ = written(api)
    packages = pair.dst.packages()
    with held_updates(pair.src):
        calls = migrating_while_held(pair, api, vid)
        assert api.action(vid, "os-force_delete", None).status_code == 202
        wait_gone(api.client, f"/volumes/{vid}", timeout=TIMEOUT)
        assert len(cancel_calls(pair.src)) > calls
    assert not hidden_volumes(api.client, vid)
    assert pair.src.luns(vid) == [] and pair.dst.luns("volume-") == []
    assert pair.src.actions() == [] and pair.dst.staging() == [] and pair.dst.packages() == packages
