"""NFS exports on the kernel NFS server, driven with `exportfs`.

Each rule becomes `exportfs -o rw|ro,... CLIENT:PATH`; clients that are
exported for the path but no longer wanted get `exportfs -u CLIENT:PATH`.
What is currently exported is read back from `exportfs -v`, so the helper
keeps no state of its own. Exports made this way live in the kernel's table
only: after a restart of the NFS server `ensure()` puts them back.
"""

from __future__ import annotations

import ipaddress
import logging
import re

from shoal.hosts import CommandError, Host

from .base import InvalidNfsRule, NfsClientRule, NfsExport, NfsHelper, check_rule, normalize_address

log = logging.getLogger("shoal.exports.nfs")

EXPORT_OPTIONS = "no_root_squash,sync,no_subtree_check"
KERNEL_NFS_FIX = "apt-get install nfs-kernel-server && systemctl start nfs-server"


def usable_rules(
    rules: tuple[NfsClientRule, ...],
) -> tuple[list[tuple[NfsClientRule, ipaddress.IPv4Network]], dict[str, str]]:
    """Split rules into those a helper can apply and {rule_id: why not} for the rest.

    A second rule for an address already granted is refused: which of the
    two would win differs between NFS servers.
    """
    good: list[tuple[NfsClientRule, ipaddress.IPv4Network]] = []
    errors: dict[str, str] = {}
    seen: dict[ipaddress.IPv4Network, str] = {}
    for rule in rules:
        try:
            check_rule(rule)
            net = normalize_address(rule.address)
        except InvalidNfsRule as exc:
            errors[rule.rule_id] = str(exc)
            continue
        if net in seen:
            errors[rule.rule_id] = f"{rule.address} is already granted by rule {seen[net]}"
            continue
        seen[net] = rule.rule_id
        good.append((rule, net))
    return good, errors


def client_spec(net: ipaddress.IPv4Network) -> str:
    """`10.0.0.1` for a single host, `10.0.0.0/24` for a network (exportfs accepts both)."""
    return str(net.network_address) if net.prefixlen == 32 else str(net)


def _unescape(path: str) -> str:
    # exportfs prints spaces and other odd bytes as \ooo octal escapes.
    raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), path.encode())
    return raw.decode(errors="surrogateescape")


def parse_exportfs(text: str) -> dict[str, dict[str, str]]:
    """`exportfs -v` output -> {path: {client: options}}.

    A path longer than the column puts its client on the next, indented line.
    """
    table: dict[str, dict[str, str]] = {}
    path: str | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0].isspace():
            rest = line.strip()
        else:
            first, *tail = line.split(None, 1)
            path = _unescape(first)
            table.setdefault(path, {})
            rest = tail[0].strip() if tail else ""
        if rest and path is not None:
            client, _, options = rest.partition("(")
            client = "*" if client == "<world>" else client
            table[path][client] = options.rstrip(")")
    return table


def _same_client(text: str) -> ipaddress.IPv4Network | str:
    """A comparable key for a client as exportfs prints it (CIDR or netmask form)."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return text


def kernel_nfs_problems(host: Host) -> list[str]:
    found = []
    if host.run(["which", "exportfs"], check=False).returncode:
        found.append(f"exportfs is not installed: {KERNEL_NFS_FIX}")
    if host.run(["test", "-e", "/proc/fs/nfsd/exports"], check=False).returncode:
        found.append(f"the kernel NFS server is not running: {KERNEL_NFS_FIX}")
    return found


class ExportfsHelper(NfsHelper):
    """Kernel NFS server; the system owns the daemon, Shoal only adds and removes exports."""

    name = "exportfs"

    def __init__(self, host: Host):
        self.host = host

    def problems(self) -> list[str]:
        return kernel_nfs_problems(self.host)

    def start(self) -> None:
        """Nothing to start: the kernel NFS server is the system's (see problems())."""

    def exported(self) -> dict[str, dict[str, str]]:
        return parse_exportfs(self.host.run(["exportfs", "-v"]).stdout)

    def apply(self, export: NfsExport) -> dict[str, str]:
        rules, errors = usable_rules(export.rules)
        current = self.exported().get(export.path, {})
        wanted = set()
        for rule, net in rules:
            client = client_spec(net)
            wanted.add(net)
            options = set(current.get(client, "").split(","))
            if rule.access_level in options and "no_root_squash" in options:
                continue  # already exported like this; ensure() stays cheap
            try:
                self.host.run(["exportfs", "-o", f"{rule.access_level},{EXPORT_OPTIONS}", f"{client}:{export.path}"])
            except CommandError as exc:
                errors[rule.rule_id] = str(exc)
        # Unexport after exporting, so a client whose level changes never loses access.
        for client in current:
            if _same_client(client) not in wanted:
                self.host.run(["exportfs", "-u", f"{client}:{export.path}"])
        return errors

    def remove(self, export: NfsExport) -> None:
        for client in self.exported().get(export.path, {}):
            self.host.run(["exportfs", "-u", f"{client}:{export.path}"])

    def ensure(self, exports: list[NfsExport]) -> None:
        """Re-export every export given. Paths not in the list are left alone: the
        kernel's table also holds exports that are not Shoal's (/etc/exports)."""
        for export in exports:
            errors = self.apply(export)
            if errors:
                log.warning("export %s: rules not applied: %s", export.key, errors)
