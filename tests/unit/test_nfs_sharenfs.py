"""The `sharenfs` helper (kernel OpenZFS + kernel NFS server).

These cannot run for real on this machine: zfs-fuse has no working `sharenfs`
and there is no kernel NFS server (see /work/shared/host-daemons.md). They
check the argv the helper would run, with a fake host.
"""

from __future__ import annotations

import ipaddress

from shoal.exports.nfs import NfsClientRule, NfsExport
from shoal.exports.nfs.sharenfs import SharenfsHelper, host_spec, parse_sharenfs, render_sharenfs
from shoal.hosts import CommandError, CommandResult

EXPORT_PATH = "/tank/share-1"
DATASET = "tank/share-1"


class RecordingHost:
    def __init__(self, sharenfs: str | None = "off", has_zfs: bool = True):
        self.name = "fake"
        self.calls: list[list[str]] = []
        self.sharenfs = sharenfs  # None: the dataset does not exist
        self.has_zfs = has_zfs

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        out, rc, err = "", 0, ""
        if argv[:2] == ["zfs", "get"]:
            if self.sharenfs is None:
                rc, err = 1, f"cannot open '{DATASET}': dataset does not exist"
            else:
                out = self.sharenfs + "\n"
        elif argv[:2] == ["which", "zfs"]:
            rc = 0 if self.has_zfs else 1
        elif argv[:2] == ["exportfs", "-v"]:
            out = f"{EXPORT_PATH}\n\t\t10.0.0.5(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,no_root_squash)\n"
        result = CommandResult(tuple(argv), rc, out, err, 0.0)
        if rc and check:
            raise CommandError(result)
        return result

    def changes(self) -> list[list[str]]:
        return [c for c in self.calls if c[:2] != ["zfs", "get"]]


def export(*rules: NfsClientRule) -> NfsExport:
    return NfsExport("share-1", EXPORT_PATH, DATASET, tuple(rules))


def test_host_spec_uses_dotted_netmasks():
    assert host_spec(ipaddress.ip_network("10.0.0.0/24")) == "10.0.0.0/255.255.255.0"
    assert host_spec(ipaddress.ip_network("10.0.0.9/32")) == "10.0.0.9"
    assert host_spec(ipaddress.ip_network("0.0.0.0/0")) == "0.0.0.0/0.0.0.0"


def test_render_and_parse_round_trip():
    value = render_sharenfs({"rw": ["10.0.0.1", "10.1.0.0/255.255.0.0"], "ro": ["10.2.0.1"]})
    assert value == "rw=10.0.0.1:10.1.0.0/255.255.0.0,no_root_squash,ro=10.2.0.1,no_root_squash"
    assert parse_sharenfs(value) == {"10.0.0.1", "10.1.0.0/255.255.0.0", "10.2.0.1"}
    assert render_sharenfs({"rw": [], "ro": []}) == "off"
    assert parse_sharenfs("off") == set()


def test_apply_sets_the_property_and_unexports_removed_clients():
    host = RecordingHost("rw=10.0.0.1:10.9.9.9,no_root_squash,ro=10.3.0.0/255.255.0.0,no_root_squash")
    errors = SharenfsHelper(host).apply(
        export(
            NfsClientRule("a", "10.0.0.1", "rw"),
            NfsClientRule("b", "10.1.0.0/16", "rw"),
            NfsClientRule("c", "10.2.0.1", "ro"),
            NfsClientRule("bad", "10.2.0.1/33", "ro"),
        )
    )
    assert errors.keys() == {"bad"}
    assert host.calls[0] == ["zfs", "get", "-H", "-o", "value", "sharenfs", DATASET]
    assert host.changes() == [
        ["zfs", "set", "sharenfs=rw=10.0.0.1:10.1.0.0/255.255.0.0,no_root_squash,ro=10.2.0.1,no_root_squash", DATASET],
        ["exportfs", "-u", f"10.3.0.0/255.255.0.0:{EXPORT_PATH}"],
        ["exportfs", "-u", f"10.9.9.9:{EXPORT_PATH}"],
    ]


def test_apply_without_rules_turns_sharing_off():
    host = RecordingHost("rw=10.0.0.1,no_root_squash")
    SharenfsHelper(host).apply(export())
    assert host.changes() == [["zfs", "set", "sharenfs=off", DATASET], ["exportfs", "-u", f"10.0.0.1:{EXPORT_PATH}"]]


def test_remove_turns_sharing_off_and_tolerates_a_destroyed_dataset():
    host = RecordingHost("ro=10.0.0.2,no_root_squash")
    SharenfsHelper(host).remove(export())
    assert host.changes()[:2] == [["zfs", "set", "sharenfs=off", DATASET], ["exportfs", "-u", f"10.0.0.2:{EXPORT_PATH}"]]
    # then the kernel's export caches are checked to have let go of the path (exportfs.release)
    assert host.changes()[2][:2] == ["cat", "/proc/net/rpc/nfsd.export/content"] and len(host.changes()) == 3
    gone = RecordingHost(None)
    SharenfsHelper(gone).remove(export())
    assert gone.changes() == []


def test_apply_on_a_missing_dataset_raises():
    try:
        SharenfsHelper(RecordingHost(None)).apply(export(NfsClientRule("a", "10.0.0.1", "rw")))
    except CommandError as exc:
        assert "does not exist" in str(exc)
    else:
        raise AssertionError("expected CommandError")


def test_problems_name_the_fix():
    found = SharenfsHelper(RecordingHost(has_zfs=False)).problems()
    assert any("zfsutils-linux" in p for p in found)


def test_exported_paths_are_read_from_the_kernels_table():
    assert SharenfsHelper(RecordingHost()).exported_paths() == {EXPORT_PATH}
