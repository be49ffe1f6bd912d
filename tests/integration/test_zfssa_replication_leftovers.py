"""A LUN's move between two ZFS Storage Appliances by replication (reference
§3.8) when it is cut short, against two ZFSSA emulators (tests/emulators/
zfssa: the appliance's REST API over real ZFS; replication is a real `zfs send
| zfs receive` between the emulators' pools), with the drivers alone.

- A cancel of the flow (what a force-delete does: hosts.transfer.stop of the
  flow's owner) while the appliance's update runs: the receive stops at once,
  cancels the update on the appliance (`cancelupdate`) and reverts, instead of
  waiting for the update to end (when the appliance refuses the cancel, it
  waits as the original did, then reverts). The emulator holds the update
  (`sending`) until released, as a large LUN's would run, so a receive that
  waits for it never ends while the test looks.
- What a move leaves when its flow's record is lost (a replication action, its
  package, a staging project, a running update): a driver's `recover` sweeps
  it, and leaves alone administrators' actions (of a LUN Shoal did not name,
  or towards a pool no backend of this Shoal has) and a move running in this
  process.
"""

from __future__ import annotations

import contextlib
import threading
import uuid

import pytest

from shoal.drivers.base import DriverError
from shoal.drivers.volume import VolumeRef
from shoal.drivers.zfssa import lun_migration_flow as flow
from shoal.drivers.zfssa import replication_api as repl
from shoal.drivers.zfssa.config import ZfssaIscsiBackendConfig
from shoal.drivers.zfssa.iscsi import ZfssaIscsiVolumeDriver
from shoal.drivers.zfssa.rest import ApplianceNotFound
from shoal.hosts import transfer

from .test_zfssa_replication_migration import (
    cancel_calls,
    held_updates,
    replicating,
    sending,
)
from .volume_helpers import wait_until
from .zfssa_helpers import token

pytestmark = pytest.mark.integration
TIMEOUT = 300.0


@pytest.fixture(scope="module")
def ends(zfssa_appliance_factory):
    """emulator: two emulated appliances, the first replicating to the second,
    and a zfssa_iscsi driver on each (the second names its replication_ip)."""
    with replicating(zfssa_appliance_factory, "lo-src", "lo-dst") as ends:
        src_api, dst_api = ends.src.api, ends.dst.api
        ends.src_driver = ZfssaIscsiVolumeDriver("lo-src", ZfssaIscsiBackendConfig.model_validate(ends.src.backend))
        ends.dst_driver = ZfssaIscsiVolumeDriver("lo-dst", ZfssaIscsiBackendConfig.model_validate(ends.dst.backend))
        try:
            ends.src_driver.start()
            ends.dst_driver.start()
            yield ends
        finally:
            ends.src.appliance.emulator.release_updates()
            for action in repl.actions(src_api):
                if action.get("target") == ends.label:
                    flow.drop_action(src_api, action["id"], TIMEOUT)
            for source in repl.sources(dst_api):
                for package in source.get("packages") or []:
                    with contextlib.suppress(ApplianceNotFound):
                        repl.delete_package(dst_api, source["name"], package["id"])
            for side in (ends.src, ends.dst):
                for lun in side.api.luns(side.pool, side.project):
                    side.api.delete_lun(side.pool, side.project, lun["name"])


def new_lun(driver: ZfssaIscsiVolumeDriver) -> VolumeRef:
    ref = VolumeRef(str(uuid.uuid4()), driver.config.pool, 1)
    return VolumeRef(ref.id, ref.pool, 1, driver.create_volume(ref).provider_location)


class Receive(threading.Thread):
    """`dst.receive_volume` on a thread of its own, as a flow's step runs it (owned by `owner`)."""

    def __init__(self, ends, origin: VolumeRef, owner: str):
        super().__init__(daemon=True)
        self.ends, self.origin, self.owner = ends, origin, owner
        self.target = VolumeRef(str(uuid.uuid4()), ends.dst_driver.config.pool, 1)
        self.error: Exception | None = None
        self.made = None

    def run(self) -> None:
        with transfer.owned_by(self.owner):
            try:
                self.made = self.ends.dst_driver.receive_volume(self.target, self.ends.src_driver, self.origin, [])
            except Exception as exc:  # noqa: BLE001 - the test looks at it
                self.error = exc


class HeldMove:
    """A receive of a new LUN of the first appliance whose update the emulator
    holds (`sending`): `start()` within held_updates, then cancel it with
    `transfer.stop(owner)`; `reverted()` checks that nothing of it is left."""

    def __init__(self, ends):
        self.ends = ends
        self.origin = new_lun(ends.src_driver)
        self.lun = self.origin.provider_location
        self.before, self.packages = ends.src.state_of(self.lun), ends.dst.packages()
        self.owner = f"test-held-{token()}"
        self.receive = Receive(ends, self.origin, self.owner)

    def start(self) -> int:
        """Returns how many cancelupdate calls the first emulator had had once the update runs."""
        self.receive.start()
        wait_until(lambda: sending(self.ends.src, self.lun) or not self.receive.is_alive(), timeout=TIMEOUT,
                   what="the replication update to run", poll=0.05)
        assert self.receive.is_alive(), self.receive.error
        return len(cancel_calls(self.ends.src))

    def reverted(self) -> None:
        self.receive.join(TIMEOUT)
        transfer.release(self.owner)
        error, ends = self.receive.error, self.ends
        assert isinstance(error, DriverError) and "was cancelled" in str(error), error
        assert ends.src.state_of(self.lun) == self.before
        assert ends.src.actions() == [] and ends.dst.staging() == [] and ends.dst.packages() == self.packages
        assert ends.dst.luns(self.receive.target.id) == []
        ends.src_driver.delete_volume(self.origin)


def test_a_cancel_during_the_update_cancels_it_on_the_appliance_and_reverts(ends):
    """emulator: while the first emulator holds the update (`sending`), the
    receive's flow is cancelled: the receive ends without the update ending,
    with an error that says it was cancelled, having asked the appliance to
    cancel the update; the source LUN is as it was (flag, snapshots), and
    neither appliance keeps an action, package, staging project or LUN of it."""
    move = HeldMove(ends)
    with held_updates(ends.src):
        calls = move.start()
        transfer.stop(move.owner)
        move.receive.join(TIMEOUT)
        held = not move.receive.is_alive()  # looked at while the emulator still holds the update
    assert held, "the receive waited for the appliance's update instead of cancelling it"
    assert len(cancel_calls(ends.src)) > calls
    move.reverted()


def test_a_refused_cancelupdate_waits_for_the_update_and_still_reverts(ends):
    """emulator: the appliance refuses the cancelupdate (500, injected once):
    the cancelled receive waits for the update as the original did, and once
    the update ends (released) reverts all the same, with an error that says
    it was cancelled (not the refusal); nothing of it is left on either side."""
    move = HeldMove(ends)
    with held_updates(ends.src):
        calls = move.start()
        ends.src.appliance.fail_next("PUT", r"/cancelupdate$", 500)
        transfer.stop(move.owner)
        wait_until(lambda: len(cancel_calls(ends.src)) > calls, timeout=TIMEOUT, what="the cancelupdate asked")
    move.reverted()


def leave_action(ends, origin: VolumeRef, update: bool = True, sever_into: str | None = None) -> str:
    """What a move's first steps make, as a crash that lost its flow leaves them:
    the LUN's own action (inherited false) and, with `update`, an update started
    (waited for unless updates are held), then, with `sever_into`, its package
    severed into that project. Returns the action's id."""
    src, lun = ends.src_driver, origin.provider_location
    repl.set_inherited(src.api, src.config.pool, src.config.project, lun, False)
    made = repl.create_action(src.api, src.config.pool, src.config.project, lun, ends.label,
                              ends.dst_driver.config.pool)
    if update:
        repl.send_update(src.api, made["id"])
        if sever_into is not None:
            assert flow.settled(src.api, made["id"], TIMEOUT, wanted=True)["last_result"] == "success"
            name = flow.source_name(ends.dst_driver.api, repl.asn(src.api))
            repl.sever(ends.dst_driver.api, name, made["id"], sever_into)
    return str(made["id"])


def test_recover_sweeps_what_lost_moves_left_and_nothing_else(ends):
    """emulator: left on the appliances as by moves whose flows were lost: an
    action with its package received, an action whose package was severed into
    a staging project `shoal-migrating-<id>`, an action whose update still runs;
    beside them an administrator's action of a LUN not named by Shoal (with its
    package), one of a LUN named by Shoal towards a pool no backend of this
    Shoal has, and a move running in this process (its update held). Drivers
    made anew (a restart) recover: the lost moves' actions, packages, staging
    project and running update go (cancelled on the appliance), their LUNs
    inherit replication again; the administrator's actions (and the flag of
    theirs) and package and the running move's action stay, and that move
    then ends with its LUN here."""
    src, dst = ends.src_driver, ends.dst_driver
    with_package, severed, running, admin, moving, elsewhere = (new_lun(src) for _ in range(6))
    staging = f"shoal-migrating-{uuid.uuid4()}"
    lost = {leave_action(ends, with_package), leave_action(ends, severed, sever_into=staging)}
    admin_lun = f"admin-{token()}"
    src.api.modify_lun(src.config.pool, src.config.project, admin.provider_location, {"name": admin_lun})
    admin_action = leave_action(ends, VolumeRef(admin.id, admin.pool, 1, admin_lun))
    # an administrator's action of a Shoal-named LUN, to a pool no backend of this Shoal has
    repl.set_inherited(src.api, src.config.pool, src.config.project, elsewhere.provider_location, False)
    elsewhere_action = repl.create_action(src.api, src.config.pool, src.config.project, elsewhere.provider_location,
                                          ends.label, f"not-{dst.config.pool}")["id"]
    wait_until(lambda: not any(a.get("state") == "sending" for a in ends.src.actions()), timeout=TIMEOUT,
               what="the updates to end")
    assert admin_action in ends.dst.packages() and staging in ends.dst.staging()

    owner = f"test-moving-{token()}"
    with held_updates(ends.src):
        lost.add(leave_action(ends, running))
        receive = Receive(ends, moving, owner)
        receive.start()
        wait_until(lambda: sending(ends.src, running.provider_location) and sending(ends.src, moving.provider_location),
                   timeout=TIMEOUT, what="both updates to run", poll=0.05)
        calls = len(cancel_calls(ends.src))

        # a restart: drivers made anew recover
        src_again = ZfssaIscsiVolumeDriver("lo-src", src.config)
        dst_again = ZfssaIscsiVolumeDriver("lo-dst", dst.config)
        assert dst_again.recover([]) == {} and src_again.recover([]) == {}

        left = {a["id"] for a in ends.src.actions()}
        assert not left & lost, f"actions of lost moves left: {left & lost}"
        assert {admin_action, elsewhere_action} <= left
        assert any(a.get("share") == moving.provider_location for a in ends.src.actions())
        assert repl.inherited(src.api, src.config.pool, src.config.project, elsewhere.provider_location) is False
        assert len(cancel_calls(ends.src)) > calls  # the lost move's running update was cancelled
        assert not set(ends.dst.packages()) & lost and admin_action in ends.dst.packages()
        assert staging not in ends.dst.staging()
        for gone in (with_package, severed, running):
            assert repl.inherited(src.api, src.config.pool, src.config.project, gone.provider_location) is True
        assert receive.is_alive()
    receive.join(TIMEOUT)
    assert receive.error is None and receive.made is not None, receive.error
    assert ends.dst.luns(receive.target.id) == [receive.made.provider_location]
    assert not [a for a in ends.src.actions() if a["id"] not in (admin_action, elsewhere_action)]
    flow.drop_action(src.api, admin_action, TIMEOUT)
    flow.drop_action(src.api, elsewhere_action, TIMEOUT)
    flow.drop_package(dst.api, repl.asn(src.api), admin_action)
    dst.delete_volume(VolumeRef(receive.target.id, dst.config.pool, 1, receive.made.provider_location))
    for ref in (with_package, severed, running, moving, elsewhere):
        src.delete_volume(ref)
    src.api.delete_lun(src.config.pool, src.config.project, admin_lun)
