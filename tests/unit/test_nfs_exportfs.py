"""The `exportfs` helper (kernel NFS server).

These cannot run for real on this machine: it has no kernel NFS server (see
/work/shared/host-daemons.md); the kernel lane (tests/kernel) runs the helper
for real. These check the argv the helper would run, the exports.d file it
keeps, and its parsing of recorded `exportfs -v` and /proc/net/rpc output,
with a fake host.
"""

from __future__ import annotations

import pytest

from shoal.exports.nfs import NfsClientRule, NfsExport
from shoal.exports.nfs import exportfs as exportfs_module
from shoal.exports.nfs.exportfs import (
    ExportfsHelper,
    cached_paths,
    exports_file_line,
    parse_exportfs,
    release,
    usable_rules,
)
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
FILE = "/etc/exports.d/shoal-share-1.exports"
RPC_CAT = ["cat", "/proc/net/rpc/nfsd.export/content", "/proc/net/rpc/nfsd.fh/content",
           "/proc/net/rpc/nfsd.export/flush", "/proc/net/rpc/nfsd.fh/flush"]

# Recorded from Debian 12's 6.1 kernel after a share was unexported: expired
# entries ('# ') still hold the path, and with it the mount.
EXPORT_CACHE = """#path domain(flags)
# /lane/k1/share-x	10.0.2.0/24(rw,no_root_squash,sync,wdelay,no_subtree_check,uuid=a210016f:00e03b9b:00000000:00000000,sec=1)
# /lane	10.0.2.0/24(ro,insecure,no_root_squash,sync,no_wdelay,no_subtree_check,v4root,uuid=83839d64:33bf542f:8a1ffc17:6b7552b2,sec=390003:390004:390005:1)
"""
FH_CACHE = """#domain fsidtype fsid [path]
# 10.0.2.0/24 1 0x00000000 /
# 10.0.2.0/24 6 0x6f0110a29b3be0000000000000000000 /lane/k1/share-x
"""


class RecordingHost:
    def __init__(self, exportfs_v: str = "", fail: set[str] = frozenset(), nfsd: bool = True):
        self.name = "fake"
        self.calls: list[list[str]] = []
        self.exportfs_v = exportfs_v
        self.fail = fail  # argv targets ("CLIENT:PATH") whose command fails
        self.nfsd = nfsd
        self.files: dict[str, str] = {}

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        out, rc, err = "", 0, ""
        if argv == ["exportfs", "-v"]:
            out = self.exportfs_v
        elif argv == RPC_CAT:
            out = "#path domain(flags)\n#domain fsidtype fsid [path]\n1795406725\n1795406725\n"
        elif argv[:2] == ["rm", "-f"]:
            self.files.pop(argv[2], None)
        elif argv[-1] in self.fail:
            rc, err = 1, "exportfs: bad things"
        elif argv[:2] == ["test", "-e"]:
            rc = 0 if self.nfsd else 1
        result = CommandResult(tuple(argv), rc, out, err, 0.0)
        if rc and check:
            from shoal.hosts import CommandError

            raise CommandError(result)
        return result

    def read_file(self, path: str) -> str | None:
        self.calls.append(["read", path])
        return self.files.get(path)

    def write_file(self, path: str, content: str, mode: int = 0o644) -> None:
        self.calls.append(["write", path, content])
        self.files[path] = content

    def remove_file(self, path: str) -> None:
        self.run(["rm", "-f", path])  # recorded as the command an SSH host runs

    def changes(self) -> list[list[str]]:
        return [c for c in self.calls if c != ["exportfs", "-v"] and c != RPC_CAT and c[0] != "read"]


def line(*clients: tuple[str, str], path: str = PATH) -> str:
    return f"{path} " + " ".join(f"{c}({level},{OPTS})" for c, level in clients) + "\n"


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
        # first the exports.d file, with every wanted client (an `exportfs -r` keeps them)
        ["write", FILE, line(("10.0.0.5", "rw"), ("10.1.0.0/24", "rw"), ("192.168.7.0/24", "ro"), ("192.168.8.1", "rw"))],
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
    # what the kernel refused is not left in the file for the next resync
    assert host.files == {FILE: line(("10.0.0.6", "rw"))}


def test_an_unchanged_export_is_not_written_again():
    host = RecordingHost(EXPORTFS_V)
    host.files[FILE] = line(("10.0.0.5", "rw"), ("10.1.0.0/24", "ro"), ("10.2.2.2", "rw"))
    helper = ExportfsHelper(host)
    helper.apply(export(NfsClientRule("same", "10.0.0.5", "rw"), NfsClientRule("other", "10.1.0.0/24", "ro"),
                        NfsClientRule("third", "10.2.2.2", "rw")))
    assert host.changes() == []


def test_exports_file_line_escapes_odd_paths():
    assert exports_file_line("/srv/with space#x", [("10.0.0.1", "ro")]) == \
        f"/srv/with\\040space\\043x 10.0.0.1(ro,{OPTS})\n"
    assert ExportfsHelper(RecordingHost(), exports_dir="/etc/x.d/").exports_file(
        NfsExport("a/b c", "/p", "p")) == "/etc/x.d/shoal-a_b_c.exports"


def test_apply_with_no_rules_unexports_every_client_of_the_path():
    host = RecordingHost(EXPORTFS_V)
    host.files[FILE] = line(("10.0.0.5", "rw"))
    ExportfsHelper(host).apply(export())
    assert host.changes() == [["rm", "-f", FILE]] + [
        ["exportfs", "-u", f"{c}:{PATH}"] for c in ("10.0.0.5", "10.1.0.0/24", "10.2.2.2")]
    assert host.files == {}


def test_remove_unexports_only_this_path_and_is_idempotent():
    host = RecordingHost(EXPORTFS_V)
    host.files[FILE] = line(("10.0.0.5", "rw"))
    ExportfsHelper(host).remove(export())
    assert host.changes()[0] == ["rm", "-f", FILE]  # first, so that no resync brings it back
    assert all(c[-1].endswith(f":{PATH}") for c in host.changes()[1:]) and len(host.changes()) == 4
    assert host.calls[-1] == RPC_CAT  # and the kernel's caches are checked to have let go of it
    empty = RecordingHost("")
    ExportfsHelper(empty).remove(export())
    assert empty.changes() == [["rm", "-f", FILE]]


def test_ensure_applies_every_export():
    host = RecordingHost("")
    ExportfsHelper(host).ensure([
        export(NfsClientRule("a", "10.0.0.1", "rw"), path="/tank/a"),
        export(NfsClientRule("b", "10.0.0.2", "ro"), path="/tank/b"),
    ])
    assert [c for c in host.changes() if c[0] == "exportfs"] == [
        ["exportfs", "-o", f"rw,{OPTS}", "10.0.0.1:/tank/a"],
        ["exportfs", "-o", f"ro,{OPTS}", "10.0.0.2:/tank/b"],
    ]


def test_usable_rules_refuses_duplicates_and_host_bits():
    good, errors = usable_rules((
        NfsClientRule("a", "10.0.0.0/24", "rw"),
        NfsClientRule("b", "10.0.0.0/24", "ro"),
        NfsClientRule("c", "10.0.0.1/24", "rw"),  # host bits set
        NfsClientRule("d", "fd00::1/64", "rw"),  # host bits set
        NfsClientRule("e", "fd00::1", "rw"),
        NfsClientRule("f", "FD00:0::1/128", "ro"),  # the same address as e
    ))
    assert [r.rule_id for r, _ in good] == ["a", "e"]
    assert set(errors) == {"b", "c", "d", "f"}


@pytest.mark.parametrize("nfsd,expected", [(True, 0), (False, 1)])
def test_problems_name_the_fix(nfsd, expected):
    found = ExportfsHelper(RecordingHost(nfsd=nfsd)).problems()
    assert len(found) == expected
    assert all("apt-get install nfs-kernel-server" in p for p in found)


class KernelCaches:
    """The sunrpc export caches of Linux 6.1 as far as release() sees them: a
    flush written while flush_time >= now only advances flush_time by one second
    (and cleans nothing); otherwise it cleans every entry. Time is fake."""

    def __init__(self, ahead: int, cached: bool = True):
        self.now = 1_000_000
        self.flush_time = self.now + ahead
        self.cached = cached
        self.calls: list[list[str]] = []
        self.inputs: list[str | None] = []
        self.slept: list[float] = []
        self.name = "fake"

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += int(seconds)

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        self.inputs.append(input)
        out = ""
        if argv == RPC_CAT:
            out = (EXPORT_CACHE + FH_CACHE if self.cached else "") + f"{self.flush_time}\n" * 2
        elif argv == ["date", "+%s"]:
            out = f"{self.now}\n"
        elif argv[0] == "tee":
            if self.flush_time >= self.now:
                self.flush_time += 1
            else:
                self.flush_time, self.cached = self.now, False
        return CommandResult(tuple(argv), 0, out, "", 0.0)


def test_cached_paths_reads_both_caches_including_expired_entries():
    assert cached_paths(EXPORT_CACHE + FH_CACHE) == {"/lane/k1/share-x", "/lane", "/"}
    assert cached_paths("# /srv/with\\040space\t*(ro)\n") == {"/srv/with space"}


def test_release_of_a_path_the_kernel_does_not_hold_is_one_read():
    kernel = KernelCaches(ahead=0, cached=False)
    assert release(kernel, "/lane/k1/share-x")
    assert kernel.calls == [RPC_CAT]


def test_release_waits_for_the_clock_to_pass_the_flush_time_then_flushes_once(monkeypatch):
    """Flushing at once would only push the flush time further ahead (the kernel bug)."""
    kernel = KernelCaches(ahead=5)
    monkeypatch.setattr(exportfs_module, "_sleep", kernel.sleep)
    assert release(kernel, "/lane/k1/share-x")
    assert kernel.slept == [6]
    assert [c[0] for c in kernel.calls] == ["cat", "date", "tee", "cat"]
    assert kernel.calls[2][1:] == ["/proc/net/rpc/nfsd.export/flush", "/proc/net/rpc/nfsd.fh/flush"]
    assert kernel.inputs[2] == "1000006\n"  # the clock when flushing, as exportfs writes it


def test_release_gives_up_when_the_flush_time_is_too_far_ahead(monkeypatch):
    kernel = KernelCaches(ahead=500)
    monkeypatch.setattr(exportfs_module, "_sleep", kernel.sleep)
    assert not release(kernel, "/lane/k1/share-x", wait=60)
    assert kernel.slept == [] and "tee" not in [c[0] for c in kernel.calls]


def test_exported_paths_are_the_kernels_table():
    """Shoal's paths and the system's: the caller decides which are its own."""
    assert ExportfsHelper(RecordingHost(EXPORTFS_V)).exported_paths() == {"/srv/other", PATH, "/srv/with space"}
    assert ExportfsHelper(RecordingHost("")).exported_paths() == set()
