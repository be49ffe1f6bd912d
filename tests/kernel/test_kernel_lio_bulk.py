"""Many attached volumes' LIO targets lost at once (LIO cleared or restarted)
come back in one recovery pass: ONE targetcli session for all of them
(issue 20: bulk, not per resource), checked with a real iSCSI login and read
of every LUN from the host.

The targets are deleted behind Shoal's back, only this test's (other lane
users may hold targets of their own: `targetctl clear` would take theirs too),
in one targetcli session, as LIO's restart or a reboot would lose them.
"""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from shoal.drivers.volume import VolumeRef
from shoal.drivers.zfs import volume_export
from shoal.exports.iscsi.lio_batch import SESSION_HOME
from shoal.hosts import STATS

from .lane_tools import Lun, assert_refused, new_id, pattern, wait_until
from .test_kernel_volumes import CONFIGFS, A, B, chap_of, lio_backstores, lio_iqns, spec

pytestmark = pytest.mark.kernel

N = 30
SIZE = 64 * 1024


def commands(verb: str = "targetcli") -> float:
    """Processes of `verb` Shoal started so far (the /metrics series of that verb)."""
    return REGISTRY.get_sample_value("shoal_commands_total", {"verb": verb}) or 0.0


def lose_targets(host, root: str) -> None:
    """What LIO's restart does to targets nobody saved: gone, with their backstores."""
    leaf = root.rsplit("/", 1)[-1]
    iqns = [iqn for iqn in lio_iqns(host) if leaf in iqn]
    stores = [store.split("/")[-2:] for store in lio_backstores(host, leaf)]
    lines = [f"/iscsi delete {iqn}" for iqn in iqns]
    lines += [f"/backstores/{'block' if hba.startswith('iblock_') else 'fileio'} delete {name}" for hba, name in stores]
    host.run("targetcli", input="\n".join(lines) + "\n", timeout=1800)
    assert [iqn for iqn in lio_iqns(host) if leaf in iqn] == []


def test_lost_targets_come_back_in_one_targetcli_session(lane_backend_exportfs, kernel_host):
    b, host = lane_backend_exportfs, kernel_host
    volumes = b.volumes
    config = volumes.config
    vols = [VolumeRef(new_id(b.root, f"v{i}"), b.pool, 1) for i in range(N)]
    for vol in vols:
        volumes.create_volume(vol)
    devices = " ".join(f"/dev/zvol/{b.root}/volume-{vol.id}" for vol in vols)
    wait_until(lambda: host.run("sh", "-c", f"for d in {devices}; do test -b $d || exit 1; done",
                                check=False).returncode == 0, timeout=120, what="the zvols' devices")
    specs = {vol.id: spec(A) for vol in vols}  # each with CHAP credentials of its own
    pairs = [(vol, specs[vol.id]) for vol in vols]

    def lun(vol: VolumeRef) -> Lun:
        user, secret = chap_of(specs[vol.id])
        return Lun(host.reach(f"{host.guest_address}:3260"), volume_export.iqn(config, vol.id),
                   config.iscsi.lun, user, secret)

    # The first export of all of them: one session too, from nothing.
    made = commands()
    assert volumes.ensure_exports(pairs) == {}
    assert commands() - made == 1
    for vol in vols:
        lun(vol).write(A, pattern(vol.id, SIZE))

    lose_targets(host, b.root)
    assert volumes.exported_volume_ids() & {vol.id for vol in vols} == set()

    # The recovery pass: one state read, one targetcli session, one read to check.
    made, reads, started = commands(), commands("find"), STATS.count
    assert volumes.ensure_exports(pairs) == {}
    assert commands() - made == 1
    assert commands("find") - reads == 2
    assert STATS.count - started < 10  # a fixed few for the whole pass, none per target
    assert {vol.id for vol in vols} <= volumes.exported_volume_ids()

    # Every target is back as the per-target path makes it: the LUN on the zvol,
    # only the configured portal, the one ACL with the volume's CHAP.
    for vol in vols:
        tpg = f"{CONFIGFS}/iscsi/{volume_export.iqn(config, vol.id)}/tpgt_1"
        assert host.run("ls", "-1", f"{tpg}/np", f"{tpg}/acls").stdout.split() == \
            [f"{tpg}/acls:", A, f"{tpg}/np:", f"{host.guest_address}:3260"]
        assert lun(vol).read(A, SIZE) == pattern(vol.id, SIZE), vol.id
    assert_refused(lun(vols[0]), B)
    assert_refused(lun(vols[1]), A, secret="wrong" + chap_of(specs[vols[1].id])[1])

    # The session saved nothing (a stale saveconfig.json would bring targets back
    # at LIO's next restore) and logged no secret.
    leaf = b.root.rsplit("/", 1)[-1]
    saved = host.run("cat", "/etc/rtslib-fb-target/saveconfig.json", check=False).stdout
    assert leaf not in saved
    secrets = [chap_of(s)[1] for s in specs.values()]
    logged = host.run("sh", "-c", f"cat {SESSION_HOME}/.targetcli/* 2>/dev/null || true").stdout
    assert not [s for s in secrets if s in logged]

    # A change (new CHAP on one, a second initiator on another) and a target that
    # cannot be made (its zvol does not exist): that one alone is reported.
    specs[vols[0].id] = spec(A)
    specs[vols[1].id] = spec(A, B)
    ghost = VolumeRef(new_id(b.root, "ghost"), b.pool, 1)
    failed = volumes.ensure_exports([(vol, specs[vol.id]) for vol in vols] + [(ghost, spec(A))])
    assert list(failed) == [ghost.id]
    assert lun(vols[0]).read(A, SIZE) == pattern(vols[0].id, SIZE)
    assert lun(vols[1]).read(B, SIZE) == pattern(vols[1].id, SIZE)
    assert lun(vols[2]).read(A, SIZE) == pattern(vols[2].id, SIZE)

    # fresh (after a remount): every target deleted and made again, still one session.
    helper = volumes._helper()
    targets = [volume_export.iscsi_target(config, vol.id, f"/dev/zvol/{b.root}/volume-{vol.id}", specs[vol.id])
               for vol in vols[:3]]
    made = commands()
    helper.ensure(targets, fresh=True)
    assert commands() - made == 1
    for vol in vols[:3]:
        assert lun(vol).read(A, SIZE) == pattern(vol.id, SIZE)

    lose_targets(host, b.root)  # in one session: the fixture's clean-up goes one targetcli per target
