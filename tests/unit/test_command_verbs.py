"""The verb label of an external command in /metrics: program plus subcommand,
never a name, id, address or secret; and every command run through a host
moves its verb's series."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest

from shoal.drivers.remotefs import qemu_img
from shoal.drivers.zfs import commands as zfs
from shoal.hosts import LocalHost, Secret
from shoal.hosts.metrics import verb

UUID = "3f2c7a3e-51b4-4c53-9b8e-0c1d2e3f4a5b"


@pytest.mark.parametrize("argv, expected", [
    (zfs.create(f"tank/shoal/share-{UUID}", {"quota": "1G"}), "zfs create"),
    (zfs.snapshot(f"tank/shoal/share-{UUID}@snapshot-{UUID}"), "zfs snapshot"),
    (zfs.destroy(f"tank/shoal/share-{UUID}", recursive=True), "zfs destroy"),
    (zfs.send(f"tank/a@{UUID}") + ["|"] + zfs.receive(f"tank/b-{UUID}", force=True), "zfs send | zfs receive"),
    (["zpool", "get", "-H", "-p", "size,free", "tank"], "zpool get"),
    (qemu_img.create(f"/srv/volume-{UUID}", "qcow2", 1 << 30, backing=f"volume-{UUID}.base", backing_fmt="raw"),
     "qemu-img create"),
    (["qemu-img", "--version"], "qemu-img"),
    (["/usr/sbin/tgtadm", "-C", "1234", "--lld", "iscsi", "--op", "new", "--mode", "target", "--tid", "7",
      "-T", f"iqn.2026-11.org.shoal:volume-{UUID}"], "tgtadm"),
    (["tgtadm", "--op", "new", "--mode", "account", "--user", "u", "--password", Secret("hunter2")], "tgtadm"),
    (["ganesha.nfsd", "-f", "/etc/ganesha/ganesha.conf", "-L", "/var/log/g.log", "-p", "/run/g.pid"],
     "ganesha.nfsd"),
    (["targetcli", f"/backstores/fileio/volume-{UUID}", "create"], "targetcli"),
    (["sudo", "-n", "-u", "alice", "zfs", "list", "-H"], "zfs list"),
    (["env", "HOME=/var/lib/x", "TARGETCLI_HOME=/var/lib/x/.t", "targetcli"], "targetcli"),
    (["sudo", "-n", "env", "A=1", "zfs", "list"], "zfs list"),
    (["zfs", f"share-{UUID}"], "zfs"),  # an unknown second word is never taken
    ([f"/var/lib/shoal/volume-{UUID}/run"], "run"),  # the base name only
    ([f"/var/lib/shoal/volume-{UUID}"], "other"),  # a program named after an id
    (["/opt/bin/helper-20260101"], "other"),
    ([Secret("s3cret-program")], "other"),
    (["zfs", Secret("create")], "zfs"),
    ([], "other"),
])
def test_verb(argv, expected):
    assert verb(argv) == expected


def _sample(name: str, label: str) -> float:
    return REGISTRY.get_sample_value(name, {"verb": label}) or 0.0


def test_commands_feed_their_verb_series():
    host = LocalHost()
    before = {n: _sample(n, "true") for n in ("shoal_commands_total", "shoal_command_duration_seconds_count")}
    failed = _sample("shoal_command_errors_total", "false")
    host.run(["true", f"volume-{UUID}"])
    host.run(["false", "--password", Secret("hunter2")], check=False)
    assert _sample("shoal_commands_total", "true") == before["shoal_commands_total"] + 1
    assert _sample("shoal_command_duration_seconds_count", "true") == before["shoal_command_duration_seconds_count"] + 1
    assert _sample("shoal_command_errors_total", "false") == failed + 1
    assert _sample("shoal_commands_running", "true") == 0
    text = generate_latest(REGISTRY).decode()
    assert UUID not in text and "hunter2" not in text
