"""The `exportfs` helper (kernel NFS server).

These cannot run for real on this machine: it has no kernel NFS server (see
/work/shared/host-daemons.md). They check the argv the helper would run and
its parsing of recorded `exportfs -v` output, with a fake host.
"""

from __future__ import annotations

import pytest

from shoal.exports.nfs import NfsClientRule, NfsExport
from shoal.exports.nfs.exportfs import ExportfsHelper, parse_exportfs, usable_rules
from shoal.hosts import CommandResult

OPTS = "no_root_squash,sync,no_subtree_check"

# Recorded from a Debian 12 kernel NFS server (long paths wrap onto the next line).
EXPORTFS_V = """\
/srv/other      10.9.0.0/16(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash)
/tank/share-6a1f0c2e-0f4b-4a53-9d7e-0d0e3f3a7a10
\t\t10.0.0.5(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,no_root_squash,no_all_squash)
/tank/share-6a1f0c2e-0f4b-4a53-9d7e-0d0e3f3a7a10
\t\t10.1.0.0/24(sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,no_root_squash,no_all_squash)
/tank/share-6a1f0c2e-0f4b-4a53-9d7e-0d0e3f3a7a10
\t\t10.2.2.2(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,no_root_squash,no_all_squash)
/srv/with\\040space
\t\t<world>(sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,root_squash,no_all_squash)
"""
PATH = "/tank/share-6a1f0c2e-0f4b-4a53-9d7e-0d0e3f3a7a10"


class RecordingHost:
    def __init__(self, exportfs_v: str = "", fail: set[str] = frozenset(), nfsd: bool = True):
        self.name = "fake"
        self.calls: list[list[str]] = []
        self.exportfs_v = exportfs_v
        self.fail = fail  # argv targets ("CLIENT:PATH") whose command fails
        self.nfsd = nfsd

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        out, rc, err = "", 0, ""
        if argv == ["exportfs", "-v"]:
            out = self.exportfs_v
        elif argv[-1] in self.fail:
            rc, err = 1, "exportfs: bad things"
        elif argv[:2] == ["test", "-e"]:
            rc = 0 if self.nfsd else 1
        result = CommandResult(tuple(argv), rc, out, err, 0.0)
        if rc and check:
            from shoal.hosts import CommandError

            raise CommandError(result)
        return result

    def changes(self) -> list[list[str]]:
        return [c for c in self.calls if c != ["exportfs", "-v"]]


def export(*rules: NfsClientRule, path: str = PATH) -> NfsExport:
    return NfsExport("share-1", path, "tank/share-1", tuple(rules))


def test_parse_exportfs_handles_wrapped_lines_world_and_escapes():
    table = parse_exportfs(EXPORTFS_V)
    assert set(table[PATH]) == {"10.0.0.5", "10.1.0.0/24", "10.2.2.2"}
    assert ",ro," in table[PATH]["10.1.0.0/24"]
    assert list(table["/srv/other"]) == ["10.9.0.0/16"]
    assert table["/srv/other"]["10.9.0.0/16"].startswith("sync,wdelay,hide,no_subtree_check,sec=sys,rw,")
    assert set(table["/srv/with space"]) == {"*"}


def test_apply_exports_new_and_changed_rules_and_unexports_stale_ones():
    host = RecordingHost(EXPORTFS_V)
    errors = ExportfsHelper(host).apply(
        export(
            NfsClientRule("same", "10.0.0.5", "rw"),  # already exported rw: nothing to do
            NfsClientRule("changed", "10.1.0.0/24", "rw"),  # was ro
            NfsClientRule("new", "192.168.7.0/24", "ro"),
            NfsClientRule("host", "192.168.8.1/32", "rw"),
        )
    )
    assert errors == {}
    assert host.changes() == [
        ["exportfs", "-o", f"rw,{OPTS}", f"10.1.0.0/24:{PATH}"],
        ["exportfs", "-o", f"ro,{OPTS}", f"192.168.7.0/24:{PATH}"],
        ["exportfs", "-o", f"rw,{OPTS}", f"192.168.8.1:{PATH}"],
        ["exportfs", "-u", f"10.2.2.2:{PATH}"],  # stale, removed after the others are in place
    ]


def test_apply_reports_bad_rules_and_failed_commands_per_rule():
    host = RecordingHost("", fail={f"10.0.0.7:{PATH}"})
    errors = ExportfsHelper(host).apply(
        export(
            NfsClientRule("ok", "10.0.0.6", "rw"),
            NfsClientRule("mask", "10.0.0.1/33", "rw"),
            NfsClientRule("level", "10.0.0.8", "xx"),
            NfsClientRule("fails", "10.0.0.7", "ro"),
        )
    )
    assert set(errors) == {"mask", "level", "fails"}
    assert ["exportfs", "-o", f"rw,{OPTS}", f"10.0.0.6:{PATH}"] in host.calls


def test_apply_with_no_rules_unexports_every_client_of_the_path():
    host = RecordingHost(EXPORTFS_V)
    ExportfsHelper(host).apply(export())
    assert host.changes() == [["exportfs", "-u", f"{c}:{PATH}"] for c in ("10.0.0.5", "10.1.0.0/24", "10.2.2.2")]


def test_remove_unexports_only_this_path_and_is_idempotent():
    host = RecordingHost(EXPORTFS_V)
    ExportfsHelper(host).remove(export())
    assert all(c[-1].endswith(f":{PATH}") for c in host.changes()) and len(host.changes()) == 3
    empty = RecordingHost("")
    ExportfsHelper(empty).remove(export())
    assert empty.changes() == []


def test_ensure_applies_every_export():
    host = RecordingHost("")
    ExportfsHelper(host).ensure([
        export(NfsClientRule("a", "10.0.0.1", "rw"), path="/tank/a"),
        export(NfsClientRule("b", "10.0.0.2", "ro"), path="/tank/b"),
    ])
    assert host.changes() == [
        ["exportfs", "-o", f"rw,{OPTS}", "10.0.0.1:/tank/a"],
        ["exportfs", "-o", f"ro,{OPTS}", "10.0.0.2:/tank/b"],
    ]


def test_usable_rules_refuses_duplicates_and_host_bits():
    good, errors = usable_rules((
        NfsClientRule("a", "10.0.0.0/24", "rw"),
        NfsClientRule("b", "10.0.0.0/24", "ro"),
        NfsClientRule("c", "10.0.0.1/24", "rw"),  # host bits set
        NfsClientRule("d", "::1", "rw"),
    ))
    assert [r.rule_id for r, _ in good] == ["a"]
    assert set(errors) == {"b", "c", "d"}


@pytest.mark.parametrize("nfsd,expected", [(True, 0), (False, 1)])
def test_problems_name_the_fix(nfsd, expected):
    found = ExportfsHelper(RecordingHost(nfsd=nfsd)).problems()
    assert len(found) == expected
    assert all("apt-get install nfs-kernel-server" in p for p in found)
