"""Volumes as zvols on kernel OpenZFS, exported by LIO (targetcli), driven
over SSH and checked from the host with libiscsi and qemu-img's iSCSI driver
through the forwarded port 3260.

The connection info carries the guest's portal (10.0.2.15:3260), as a real
storage host's would; the host reaches it through 127.0.0.1:<forward>
(`kernel_host.reach`).
"""

from __future__ import annotations

import hashlib
import secrets

import pytest

from shoal.drivers.volume import Connector, ExportSpec, VolumeRef, VolumeSnapshotRef

from .lane_tools import GiB, MiB, Lun, assert_refused, initiator, new_id, pattern, wait_until

pytestmark = pytest.mark.kernel

A = initiator("a")
B = initiator("b")
CONFIGFS = "/sys/kernel/config/target"


def spec(*initiators: str, user: str = "", secret: str = "") -> ExportSpec:
    return ExportSpec(f"CHAP {user or f'u{secrets.token_hex(4)}'} {secret or secrets.token_hex(12)}",
                      tuple(Connector(initiator=i, host=i.rsplit("-", 1)[-1]) for i in initiators))


def chap_of(spec: ExportSpec) -> tuple[str, str]:
    _, user, secret = spec.auth.split(" ")
    return user, secret


def zvol_sha256(host, dataset: str, size: int = MiB, offset: int = 0) -> str:
    """sha256 of `size` bytes of the zvol at `offset`, read in the guest."""
    out = host.run("sh", "-c", f"dd if=/dev/zvol/{dataset} bs={MiB} skip={offset // MiB} count={size // MiB} "
                   f"iflag=direct status=none | sha256sum").stdout
    return out.split()[0]


def guest_names(host, root: str) -> list[str]:
    return host.run("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", root).stdout.split()


def lio_iqns(host) -> list[str]:
    return host.run("ls", "-1", f"{CONFIGFS}/iscsi").stdout.split()


def lio_backstores(host, key: str) -> list[str]:
    out = host.run("sh", "-c", f"ls -1d {CONFIGFS}/core/*/shoal-* 2>/dev/null || true").stdout
    return [line for line in out.split() if key in line]


def test_lio_start_on_a_freshly_booted_host(lane_backend_exportfs, kernel_host):
    """After a boot, LIO is loaded (modules-load.d) but its iscsi fabric
    directory does not exist until someone creates it: the helper is healthy
    and start() creates it (the lane found problems() saying 'not loaded' and
    start() raising here)."""
    host = kernel_host
    if host.run("rmdir", f"{CONFIGFS}/iscsi", check=False).returncode and \
            host.run("test", "-d", f"{CONFIGFS}/iscsi", check=False).returncode == 0:
        pytest.skip("LIO holds targets: cannot get back to a freshly booted state")
    assert host.run("test", "-d", "/sys/module/iscsi_target_mod", check=False).returncode == 0
    volumes = lane_backend_exportfs.volumes
    assert host.run("test", "-d", f"{CONFIGFS}/iscsi", check=False).returncode == 1
    assert volumes.problems() == []
    volumes.start()
    assert host.run("test", "-d", f"{CONFIGFS}/iscsi", check=False).returncode == 0
    assert volumes.problems() == []


def test_backend_is_healthy_over_ssh(lane_backend_exportfs, kernel_host):
    volumes = lane_backend_exportfs.volumes
    volumes.start()
    assert volumes.problems() == []
    (stats,) = volumes.pools()
    assert stats.capabilities["volume_mode"] == "zvol"
    assert stats.capabilities["storage_protocol"] == "iSCSI"


def test_zvol_attach_with_chap_and_initiator_acl(lane_backend_exportfs, kernel_host):
    b, host = lane_backend_exportfs, kernel_host
    volumes = b.volumes
    vol = VolumeRef(new_id(b.root, "vol"), b.pool, 1)
    result = volumes.create_volume(vol)
    dataset = f"{b.root}/volume-{vol.id}"
    assert result.provider_location == dataset and result.size_gb == 1
    assert host.run("zfs", "get", "-H", "-p", "-o", "value", "type,volsize", dataset).stdout.split() == ["volume", str(GiB)]
    wait_until(lambda: host.run("test", "-b", f"/dev/zvol/{dataset}", check=False).returncode == 0,
               what=f"/dev/zvol/{dataset}")

    creds = spec(A)
    info = volumes.export(vol, creds)
    data = info.data
    assert data["target_portal"] == f"{host.guest_address}:3260"
    assert data["target_iqn"] == f"iqn.2026-11.org.shoal.lane:volume-{vol.id}"
    user, secret = chap_of(creds)
    assert data["auth_username"] == user and data["auth_password"] == secret
    lun = Lun.of(info, host.reach)

    # LIO: a block backstore on the zvol, CHAP on the ACL, only the portal configured.
    tpg = f"{CONFIGFS}/iscsi/{lun.iqn}/tpgt_1"
    assert host.run("ls", "-1", f"{tpg}/acls").stdout.split() == [A]
    assert host.run("ls", "-1", f"{tpg}/np").stdout.split() == [f"{host.guest_address}:3260"]
    (store,) = lio_backstores(host, vol.id)
    assert "/iblock_" in store
    assert host.run("cat", f"{store}/udev_path").stdout.strip() == f"/dev/zvol/{dataset}"

    inq = lun.inq(A)
    assert inq.returncode == 0, inq.stderr
    assert lun.capacity(A) == GiB
    payload = pattern(vol.id, 2 * MiB)
    lun.write(A, payload)
    assert lun.read(A, len(payload)) == payload
    # The bytes are on the zvol itself.
    assert zvol_sha256(host, dataset, 2 * MiB) == hashlib.sha256(payload).hexdigest()

    # Wrong CHAP secret, or an initiator not on the ACL: refused.
    assert_refused(lun, A, secret="wrong" + secret)
    assert_refused(lun, B)

    # Attach to a second host too (the spec lists every connector), then drop the first.
    volumes.export(vol, ExportSpec(creds.auth, (Connector(initiator=A), Connector(initiator=B))))
    assert lun.read(B, len(payload)) == payload
    volumes.export(vol, ExportSpec(creds.auth, (Connector(initiator=B),)))
    assert_refused(lun, A)
    assert lun.inq(B).returncode == 0

    # New CHAP credentials: the old secret stops working.
    fresh = spec(B)
    lun2 = Lun.of(volumes.export(vol, fresh), host.reach)
    assert lun2.inq(B).returncode == 0
    assert_refused(lun, B)

    volumes.unexport(vol)
    assert lun.iqn not in lio_iqns(host)
    assert lio_backstores(host, vol.id) == []
    assert_refused(lun2, B)

    volumes.delete_volume(vol)
    assert guest_names(host, b.root) == [b.root]


def test_snapshot_clone_revert_extend(lane_backend_exportfs, kernel_host):
    b, host = lane_backend_exportfs, kernel_host
    volumes = b.volumes
    vol = VolumeRef(new_id(b.root, "vol"), b.pool, 1)
    volumes.create_volume(vol)
    lun = Lun.of(volumes.export(vol, spec(A)), host.reach)
    first, second = pattern("first", MiB), pattern("second", MiB)
    lun.write(A, first)

    snap = VolumeSnapshotRef(new_id(b.root, "snap"), vol)
    assert volumes.create_snapshot(snap).provider_location == f"{b.root}/volume-{vol.id}@snap-{snap.id}"
    lun.write(A, second)
    assert lun.read(A, MiB) == second

    # Revert: the target goes away around the rollback and comes back as it was.
    volumes.revert_to_snapshot(snap)
    assert lun.read(A, MiB) == first
    lun.write(A, second)

    # A volume from the snapshot (a ZFS clone), attached to another initiator.
    clone = VolumeRef(new_id(b.root, "clone"), b.pool, 1)
    assert volumes.create_volume_from_snapshot(clone, snap).provider_location == f"{b.root}/volume-{clone.id}"
    assert host.run("zfs", "get", "-H", "-o", "value", "origin", f"{b.root}/volume-{clone.id}").stdout.strip() == \
        f"{b.root}/volume-{vol.id}@snap-{snap.id}"
    clone_lun = Lun.of(volumes.export(clone, spec(B)), host.reach)
    assert clone_lun.read(B, MiB) == first
    assert_refused(clone_lun, A)

    # A clone of the live volume, bigger than its source.
    copy = VolumeRef(new_id(b.root, "copy"), b.pool, 2)
    volumes.create_cloned_volume(copy, vol)
    copy_lun = Lun.of(volumes.export(copy, spec(B)), host.reach)
    assert copy_lun.capacity(B) == 2 * GiB
    assert copy_lun.read(B, MiB) == second

    # Extend while exported: the initiator sees the new size, data intact, the new end writable.
    volumes.extend_volume(vol, 3)
    assert host.run("zfs", "get", "-H", "-p", "-o", "value", "volsize", f"{b.root}/volume-{vol.id}").stdout.strip() == str(3 * GiB)
    assert lun.capacity(A) == 3 * GiB
    assert lun.read(A, MiB) == second
    tail = pattern("tail", MiB)
    lun.write(A, tail, offset=3 * GiB - MiB)
    assert lun.read(A, MiB, offset=3 * GiB - MiB) == tail

    # Revert to a snapshot taken before the extend keeps the new size.
    bigger = VolumeRef(vol.id, vol.pool, 3)
    volumes.revert_to_snapshot(VolumeSnapshotRef(snap.id, bigger))
    assert lun.capacity(A) == 3 * GiB
    assert lun.read(A, MiB) == first

    for v in (copy, clone):
        volumes.delete_volume(v)
    volumes.delete_snapshot(VolumeSnapshotRef(snap.id, bigger))
    volumes.delete_volume(bigger)
    assert guest_names(host, b.root) == [b.root]
    assert [i for i in lio_iqns(host) if b.root.rsplit("/", 1)[-1] in i] == []


def test_delete_with_clones_leaves_nothing(lane_backend_exportfs, kernel_host):
    """Deleting a volume and a snapshot that clones still need hides them; the
    last clone's delete collects the whole chain. Exported clones are
    unexported first (LIO holds the zvol open)."""
    b, host = lane_backend_exportfs, kernel_host
    volumes = b.volumes
    vol = VolumeRef(new_id(b.root, "vol"), b.pool, 1)
    volumes.create_volume(vol)
    snap = VolumeSnapshotRef(new_id(b.root, "snap"), vol)
    volumes.create_snapshot(snap)
    clone = VolumeRef(new_id(b.root, "clone"), b.pool, 1)
    volumes.create_volume_from_snapshot(clone, snap)
    copy = VolumeRef(new_id(b.root, "copy"), b.pool, 1)
    volumes.create_cloned_volume(copy, vol)
    clone_lun = Lun.of(volumes.export(clone, spec(A)), host.reach)
    assert clone_lun.inq(A).returncode == 0
    Lun.of(volumes.export(vol, spec(B)), host.reach)

    dataset = f"{b.root}/volume-{vol.id}"
    volumes.delete_snapshot(snap)
    volumes.delete_volume(vol)
    # Hidden, not destroyed: the clones still need them.
    assert host.run("zfs", "get", "-H", "-o", "value", "shoal:deleted", dataset).stdout.strip() == "yes"
    assert f"iqn.2026-11.org.shoal.lane:volume-{vol.id}" not in lio_iqns(host)
    assert lio_backstores(host, vol.id) == []

    volumes.delete_volume(clone)  # exported: unexported, then destroyed
    assert clone_lun.iqn not in lio_iqns(host)
    assert f"{dataset}@snap-{snap.id}" not in guest_names(host, b.root)
    assert dataset in guest_names(host, b.root)  # the copy's origin snapshot is still there

    volumes.delete_volume(copy)
    assert guest_names(host, b.root) == [b.root]
    key = b.root.rsplit("/", 1)[-1]
    assert [i for i in lio_iqns(host) if key in i] == []
    assert lio_backstores(host, key) == []
    assert volumes.collect_garbage() == []
