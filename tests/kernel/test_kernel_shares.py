"""Shares on kernel OpenZFS, exported by the kernel NFS server through the
`exportfs` helper and through the `sharenfs` helper (every test runs with
both), driven over SSH and checked from the host with libnfs (NFSv4).

The guest sees the host's connections as coming from 10.0.2.2 (qemu's
user-mode networking), so rules for the host name that address; a rule for
any other address must shut the host out.
"""

from __future__ import annotations

import hashlib

import pytest

from shoal.drivers.base import AccessRule, ShareRef, SnapshotRef

from .lane_tools import Nfs, delete_share, export_path, new_id, output, pattern

pytestmark = pytest.mark.kernel

OTHER_CLIENT = "10.0.2.99"
SMALL = 1000  # bytes: libnfs 4.0's NFSv4 write fails from 4 KiB on (see lane_tools.Nfs.put)


def rule(rule_id: str, address: str, level: str) -> AccessRule:
    return AccessRule(rule_id, "ip", address, level)


def exported(host, path: str) -> dict[str, str]:
    """{client: options} of `path` in the guest's kernel export table."""
    table: dict[str, dict[str, str]] = {}
    current = None
    for line in host.run("exportfs", "-v").stdout.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            current, _, rest = line.partition(" ")
            table.setdefault(current, {})
            rest = rest.strip()
        else:
            rest = line.strip()
        if rest and current:
            client, _, options = rest.partition("(")
            table[current][client] = options.rstrip(")")
    return table.get(path, {})


def guest_datasets(host, root: str) -> list[str]:
    return host.run("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", root).stdout.split()


@pytest.fixture
def nfs(kernel_host):
    return Nfs(kernel_host.address, kernel_host.nfs_port)


def test_backend_is_healthy_over_ssh(lane_backend):
    """The share driver finds kernel ZFS, the pool and the kernel NFS server."""
    assert lane_backend.shares.problems() == []
    (stats,) = lane_backend.shares.pools()
    assert stats.name == lane_backend.pool and stats.total_gb > 1


def test_rw_ro_and_denied(lane_backend, kernel_host, nfs):
    shares, host, seen = lane_backend.shares, kernel_host, kernel_host.host_as_seen
    share = ShareRef(new_id(lane_backend.root, "share"), lane_backend.pool, 1)
    result = shares.create_share(share)
    dataset = f"{lane_backend.root}/share-{share.id}"
    assert result.provider_location == dataset
    location = result.export_locations[0].path
    assert location == f"{host.guest_address}:/{dataset}"
    path = export_path(location)
    assert host.run("zfs", "get", "-H", "-o", "value", "refquota", dataset).stdout.strip() == "1G"

    # No rules: nobody gets in.
    assert nfs.ls(path).returncode != 0

    # rw for the host: write, then read back, from the host and in the guest.
    assert shares.update_access(share, [rule("r1", seen, "rw")]) == {}
    data = pattern(share.id, SMALL)
    put = nfs.put(f"{path}/hello.bin", data)
    assert put.returncode == 0, output(put)
    assert nfs.names(path) == ["hello.bin"]
    assert host.run("sha256sum", f"{path}/hello.bin").stdout.split()[0] == hashlib.sha256(data).hexdigest()
    assert nfs.cat(f"{path}/hello.bin") == data
    assert "rw" in exported(host, path)[seen].split(",")

    # ro for the host: reads work, writes are refused.
    assert shares.update_access(share, [rule("r1", seen, "ro")]) == {}
    assert "ro" in exported(host, path)[seen].split(",")
    denied = nfs.put(f"{path}/second.bin", b"nope")
    assert denied.returncode != 0, f"a write through an ro rule succeeded: {output(denied)}"
    assert nfs.names(path) == ["hello.bin"]
    assert host.run("test", "-e", f"{path}/second.bin", check=False).returncode == 1

    # Only another client: the host is shut out, and the table says exactly that.
    assert shares.update_access(share, [rule("r2", OTHER_CLIENT, "rw")]) == {}
    assert set(exported(host, path)) == {OTHER_CLIENT}
    assert nfs.ls(path).returncode != 0

    # A network rule that covers the host lets it write again.
    assert shares.update_access(share, [rule("r3", "10.0.2.0/24", "rw")]) == {}
    put = nfs.put(f"{path}/third.bin", b"third")
    assert put.returncode == 0, output(put)
    assert nfs.names(path) == ["hello.bin", "third.bin"]

    # Bad rules are reported per rule; the good one stays in force.
    failed = shares.update_access(share, [rule("r3", "10.0.2.0/24", "rw"), rule("bad", "300.1.1.1", "rw")])
    assert set(failed) == {"bad"}
    assert nfs.ls(path).returncode == 0

    delete_share(shares, share)
    assert guest_datasets(host, lane_backend.root) == [lane_backend.root]
    assert exported(host, path) == {}


def test_share_from_snapshot_and_revert(lane_backend, kernel_host, nfs):
    shares, host, seen = lane_backend.shares, kernel_host, kernel_host.host_as_seen
    rules = [rule("r1", seen, "rw")]
    parent = ShareRef(new_id(lane_backend.root, "parent"), lane_backend.pool, 1)
    path = export_path(shares.create_share(parent).export_locations[0].path)
    assert shares.update_access(parent, rules) == {}
    first = pattern("first", SMALL)
    assert nfs.put(f"{path}/a.bin", first).returncode == 0

    snap = SnapshotRef(new_id(lane_backend.root, "snap"), parent)
    assert shares.create_snapshot(snap).provider_location == f"{lane_backend.root}/share-{parent.id}@snap-{snap.id}"
    assert nfs.put(f"{path}/b.bin", b"after the snapshot").returncode == 0
    assert nfs.names(path) == ["a.bin", "b.bin"]

    # A share from the snapshot: its own data, no rules until it gets some.
    child = ShareRef(new_id(lane_backend.root, "child"), lane_backend.pool, 1)
    child_path = export_path(shares.create_share_from_snapshot(child, snap).export_locations[0].path)
    assert nfs.ls(child_path).returncode != 0
    assert shares.update_access(child, rules) == {}
    assert nfs.names(child_path) == ["a.bin"]
    assert nfs.cat(f"{child_path}/a.bin") == first
    # Independent of the parent: a full stream, not a clone.
    assert host.run("zfs", "get", "-H", "-o", "value", "origin", f"{lane_backend.root}/share-{child.id}").stdout.strip() == "-"

    # Revert the parent: b.bin goes, the rules are back in force.
    shares.revert_to_snapshot(snap, rules)
    assert nfs.names(path) == ["a.bin"]
    assert nfs.put(f"{path}/c.bin", b"after the revert").returncode == 0

    shares.delete_snapshot(snap)
    delete_share(shares, child)
    delete_share(shares, parent)
    assert guest_datasets(host, lane_backend.root) == [lane_backend.root]
    assert exported(host, path) == {} and exported(host, child_path) == {}


def test_ensure_puts_lost_exports_back(lane_backend, kernel_host, nfs):
    """Exports lost from the kernel's table (as after a restart of the NFS
    server: exportfs-made exports are not in /etc/exports) come back with
    ensure_share, with exactly the share's rules. The lane does not restart
    nfsd itself: see the README's kernel lane notes."""
    shares, host, seen = lane_backend.shares, kernel_host, kernel_host.host_as_seen
    share = ShareRef(new_id(lane_backend.root, "share"), lane_backend.pool, 1)
    result = shares.create_share(share)
    path = export_path(result.export_locations[0].path)
    rules = [rule("r1", seen, "rw"), rule("r2", OTHER_CLIENT, "ro")]
    assert shares.update_access(share, rules) == {}
    assert nfs.ls(path).returncode == 0
    for client in (seen, OTHER_CLIENT):
        host.run("exportfs", "-u", f"{client}:{path}")
    assert exported(host, path) == {}
    locations = shares.ensure_share(share, rules)
    assert [loc.path for loc in locations] == [loc.path for loc in result.export_locations]
    table = exported(host, path)
    assert set(table) == {seen, OTHER_CLIENT}
    assert "rw" in table[seen].split(",") and "ro" in table[OTHER_CLIENT].split(",")
    assert nfs.ls(path).returncode == 0
    delete_share(shares, share)
    assert exported(host, path) == {}


@pytest.mark.parametrize("resync", ["reload nfs-server", "sharenfs on another dataset", "destroy of another dataset"])
def test_exports_survive_an_exportfs_resync(lane_backend, kernel_host, nfs, resync):
    """Anything on the host that runs `exportfs -r` must not drop Shoal's exports:
    `systemctl reload nfs-server`, and kernel OpenZFS 2.1 itself on every
    `sharenfs` change and every unmount (`zfs destroy` of any mounted
    filesystem, e.g. another share's delete). The lane found the exportfs
    helper's exports (kernel table only) lost to each; they are now also in
    /etc/exports.d."""
    shares, host, seen = lane_backend.shares, kernel_host, kernel_host.host_as_seen
    share = ShareRef(new_id(lane_backend.root, "share"), lane_backend.pool, 1)
    path = export_path(shares.create_share(share).export_locations[0].path)
    assert shares.update_access(share, [rule("r1", seen, "rw")]) == {}
    assert nfs.ls(path).returncode == 0
    other = f"{lane_backend.root}/not-shoal"
    if resync == "reload nfs-server":
        host.run("systemctl", "reload", "nfs-server")
    elif resync == "sharenfs on another dataset":  # e.g. an operator's dataset, or a second backend
        host.run("zfs", "create", "-o", f"sharenfs=rw={OTHER_CLIENT}", other)
    else:
        host.run("zfs", "create", other)
        host.run("zfs", "destroy", other)
    try:
        assert set(exported(host, path)) == {seen}
        assert nfs.ls(path).returncode == 0
    finally:
        if resync == "sharenfs on another dataset":
            host.run("zfs", "destroy", other)
    delete_share(shares, share)
    assert exported(host, path) == {}
    assert [f for f in host.run("ls", "/etc/exports.d").stdout.split() if share.id in f] == []
