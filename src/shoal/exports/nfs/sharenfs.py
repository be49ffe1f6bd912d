"""NFS exports through kernel OpenZFS's `sharenfs` property.

The rules are set on the dataset as
`sharenfs=rw=IP:NET/MASK:[IPV6]:[IPV6NET]/LEN,no_root_squash,ro=IP,no_root_squash`
(or `off`), and ZFS calls `exportfs` itself. ':' separates hosts, so an IPv6
address goes in brackets, as OpenZFS's libshare reads it (lib/libshare/os/linux/nfs.c).
Older ZFS-on-Linux releases only add clients when
the property changes and never drop removed ones, so removed clients are also
unexported explicitly (harmless where ZFS already did it). zfs-fuse cannot do
any of this (it has no kernel NFS server to call), hence the ganesha helper.
"""

from __future__ import annotations

import ipaddress
import logging
import re

from shoal.hosts import CommandError, Host

from .base import ClientNet, NfsExport, NfsHelper
from .exportfs import kernel_nfs_problems, parse_exportfs, release, usable_rules

log = logging.getLogger("shoal.exports.nfs")
_HOST = re.compile(r"\[[^\]]*\](?:/\d+)?|[^:]+")  # one host of a list: [v6]/len, or up to the next ':'


def host_spec(net: ClientNet) -> str:
    """`10.0.0.1`, `10.0.0.0/255.255.255.0`, `[fd00::1]` or `[fd00::]/64`: ':'
    separates hosts, so no `/24` style for IPv4 and brackets around IPv6. Each is
    also what `exportfs -u CLIENT:/path` takes."""
    if isinstance(net, ipaddress.IPv6Network):
        if net.prefixlen == net.max_prefixlen:
            return f"[{net.network_address}]"
        return f"[{net.network_address}]/{net.prefixlen}"
    if net.prefixlen == 32:
        return str(net.network_address)
    return f"{net.network_address}/{net.netmask}"


def render_sharenfs(levels: dict[str, list[str]]) -> str:
    """{'rw': [hosts], 'ro': [hosts]} -> the property value."""
    parts = [f"{level}={':'.join(hosts)},no_root_squash" for level, hosts in levels.items() if hosts]
    return ",".join(parts) or "off"


def parse_sharenfs(value: str) -> set[str]:
    """The clients named in a `sharenfs` value written in the format above."""
    clients: set[str] = set()
    for part in value.split(","):
        key, sep, hosts = part.partition("=")
        if sep and key in ("rw", "ro"):
            clients.update(_HOST.findall(hosts))
    return clients


class SharenfsHelper(NfsHelper):
    """Kernel OpenZFS + kernel NFS server; the export follows the dataset."""

    name = "sharenfs"

    def __init__(self, host: Host):
        self.host = host

    def problems(self) -> list[str]:
        found = kernel_nfs_problems(self.host)
        if self.host.run(["which", "zfs"], check=False).returncode:
            found.append("zfs is not installed: apt-get install zfsutils-linux")
        return found

    def start(self) -> None:
        """Nothing to start: the kernel NFS server is the system's (see problems())."""

    def exported_paths(self) -> set[str]:
        """The kernel's table: ZFS exports a dataset's `sharenfs` through it."""
        return set(parse_exportfs(self.host.run(["exportfs", "-v"]).stdout))

    def _current(self, export: NfsExport, missing_ok: bool = False) -> set[str] | None:
        """Clients in the dataset's property now; None when the dataset is gone (if `missing_ok`)."""
        result = self.host.run(["zfs", "get", "-H", "-o", "value", "sharenfs", export.dataset], check=False)
        if result.returncode and missing_ok and "does not exist" in result.stderr:
            return None
        if result.returncode:
            raise CommandError(result)
        return parse_sharenfs(result.stdout.strip())

    def _set(self, export: NfsExport, value: str, before: set[str]) -> None:
        self.host.run(["zfs", "set", f"sharenfs={value}", export.dataset])
        for client in sorted(before - parse_sharenfs(value)):
            # check=False: newer ZFS already unexported it, and exportfs then complains.
            self.host.run(["exportfs", "-u", f"{client}:{export.path}"], check=False)

    def apply(self, export: NfsExport) -> dict[str, str]:
        rules, errors = usable_rules(export.rules)
        levels: dict[str, list[str]] = {"rw": [], "ro": []}
        for rule, net in rules:
            levels[rule.access_level].append(host_spec(net))
        self._set(export, render_sharenfs(levels), self._current(export) or set())
        return errors

    def remove(self, export: NfsExport) -> None:
        """`sharenfs=off`, then wait until the kernel lets go of the path (see
        exportfs.release: ZFS's own `exportfs -ra` flushes can keep it held)."""
        before = self._current(export, missing_ok=True)
        if before is not None:  # a destroyed dataset is not shared any more
            self._set(export, "off", before)
            if export.path:
                release(self.host, export.path)

    def ensure(self, exports: list[NfsExport], fresh: bool = False) -> None:
        """Set the property again on every dataset given (others are left alone)."""
        self._ensure_each(exports, fresh)
