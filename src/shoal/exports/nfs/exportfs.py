"""NFS exports on the kernel NFS server, driven with `exportfs`.

Each rule becomes `exportfs -o rw|ro,... CLIENT:PATH`; clients that are
exported for the path but no longer wanted get `exportfs -u CLIENT:PATH`.
What is currently exported is read back from `exportfs -v`.

Every export is also written, with exactly the same clients and options, to
its own file `/etc/exports.d/shoal-<key>.exports` (before the `exportfs -o`;
removed before the `exportfs -u`). Without it, any `exportfs -r` on the host
drops the export from the kernel's table, and kernel OpenZFS 2.1 runs
`exportfs -ra` on every `zfs unmount` and `zfs destroy` of a mounted
filesystem and on every `sharenfs` change, as does `systemctl reload
nfs-server` (found by the kernel lane). With it, a resync, a restart of the
NFS server and a reboot keep the export; `ensure()` still puts back anything
missing.

`release()` works around a kernel bug in the sunrpc caches (Debian 12's
6.1 has it; the upstream fix "sunrpc: clean cache_detail immediately when
flush is written frequently" was reverted before 6.15 came out): each write
to a cache's `flush` within the same second as the last one pushes the flush
time a second further ahead, and the cache is not cleaned until the clock
catches up. Every `exportfs` call
flushes, `zfs unmount` two or three times, so a burst of them (a delete
retried while busy, above all) leaves the export cache holding the mount of
an unexported dataset, and `zfs destroy` answers "dataset is busy" for as
long as the retries keep flushing.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time

from shoal.hosts import CommandError, Host

from .base import ClientNet, InvalidNfsRule, NfsClientRule, NfsExport, NfsHelper, check_rule

log = logging.getLogger("shoal.exports.nfs")

EXPORT_OPTIONS = "no_root_squash,sync,no_subtree_check"
KERNEL_NFS_FIX = "apt-get install nfs-kernel-server && systemctl start nfs-server"
EXPORTS_D = "/etc/exports.d"
RPC = "/proc/net/rpc"
PATH_CACHES = ("nfsd.export", "nfsd.fh")  # the kernel caches whose entries hold a path (and its mount)
RELEASE_WAIT = 60.0  # seconds release() waits for the caches to let go of a path
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_.-]")
_sleep = time.sleep  # (tests replace it)


def usable_rules(
    rules: tuple[NfsClientRule, ...],
) -> tuple[list[tuple[NfsClientRule, ClientNet]], dict[str, str]]:
    """Split rules into those a helper can apply and {rule_id: why not} for the rest.

    A second rule for an address already granted is refused: which of the
    two would win differs between NFS servers.
    """
    good: list[tuple[NfsClientRule, ClientNet]] = []
    errors: dict[str, str] = {}
    seen: dict[ClientNet, str] = {}
    for rule in rules:
        try:
            net = check_rule(rule)
        except InvalidNfsRule as exc:
            errors[rule.rule_id] = str(exc)
            continue
        if net in seen:
            errors[rule.rule_id] = f"{rule.address} is already granted by rule {seen[net]}"
            continue
        seen[net] = rule.rule_id
        good.append((rule, net))
    return good, errors


def client_spec(net: ClientNet) -> str:
    """`10.0.0.1` or `fd00::1` for a single host, `10.0.0.0/24` or `fd00::/64` for a
    network: how exports(5) lines name a client, and how `exportfs -v` prints it."""
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def argv_client(client: str) -> str:
    """A client as `exportfs CLIENT:/path` takes it: an IPv6 address in brackets
    (`[fd00::1]`, `[fd00::]/64`), since ':' also separates the client from the path."""
    if ":" not in client:
        return client
    address, slash, prefix = client.partition("/")
    return f"[{address}]{slash}{prefix}"


def _unescape(path: str) -> str:
    # exportfs prints spaces and other odd bytes as \ooo octal escapes.
    raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), path.encode())
    return raw.decode(errors="surrogateescape")


def _escape(path: str) -> str:
    """A path for an exports file: odd bytes (spaces, quotes, '#') as \\ooo octal escapes."""
    return "".join(
        chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "/_.-+:@") else f"\\{b:03o}"
        for b in path.encode(errors="surrogateescape")
    )


def exports_file_line(path: str, clients: list[tuple[str, str]]) -> str:
    """`/path client(level,OPTIONS) ...` -- one exports(5) line; [] would mean everyone, so never."""
    assert clients, "an exports line without clients exports to the world"
    return " ".join([_escape(path), *(f"{client}({level},{EXPORT_OPTIONS})" for client, level in clients)]) + "\n"


def cached_paths(text: str) -> set[str]:
    """The paths named in the `content` of the kernel's nfsd.export / nfsd.fh caches
    (a leading '# ' marks an expired or invalid entry, which still holds its path)."""
    found = set()
    for line in text.splitlines():
        for token in line.lstrip("#").split():
            if token.startswith("/"):
                found.add(_unescape(token))
    return found


def release(host: Host, path: str, wait: float = RELEASE_WAIT) -> bool:
    """Return once the kernel's export caches no longer hold `path` (whose
    exports are gone), so that its dataset can be unmounted; False if they
    still do after `wait` seconds (a client still using it, or flushes going
    on all the time). A flush written while a cache's flush time is ahead of
    the clock would only push it further (see the module's doc): wait until
    the clock has passed it, then flush once."""
    contents = [f"{RPC}/{cache}/content" for cache in PATH_CACHES]
    flushes = [f"{RPC}/{cache}/flush" for cache in PATH_CACHES]
    deadline = time.monotonic() + wait
    while True:
        result = host.run(["cat", *contents, *flushes], check=False)
        lines = result.stdout.splitlines()
        if result.returncode or len(lines) < len(flushes):
            return True  # no kernel NFS server (or no such caches) to hold anything
        if path not in cached_paths("\n".join(lines[: -len(flushes)])):
            return True
        flush_time = max(int(value) for value in lines[-len(flushes):])
        now = int(host.run(["date", "+%s"]).stdout.strip())
        ahead = flush_time - now
        if ahead >= 0:
            if time.monotonic() + ahead + 1 > deadline:
                log.warning("NFS: the kernel's export cache still holds %s (flush time %ss ahead)", path, ahead)
                return False
            _sleep(ahead + 1)
            now += ahead + 1
        elif time.monotonic() > deadline:
            log.warning("NFS: the kernel's export cache still holds %s after %ss", path, wait)
            return False
        # The time written is what exportfs writes; kernels since 4.x ignore it ("flush everything").
        host.run(["tee", *flushes], input=f"{now}\n")


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


def _same_client(text: str) -> ClientNet | str:
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

    def __init__(self, host: Host, exports_dir: str = EXPORTS_D):
        self.host = host
        self.exports_dir = exports_dir.rstrip("/")

    def problems(self) -> list[str]:
        return kernel_nfs_problems(self.host)

    def start(self) -> None:
        """Nothing to start: the kernel NFS server is the system's (see problems())."""

    def exported(self) -> dict[str, dict[str, str]]:
        return parse_exportfs(self.host.run(["exportfs", "-v"]).stdout)

    def exported_paths(self) -> set[str]:
        return set(self.exported())

    def exports_file(self, export: NfsExport) -> str:
        return f"{self.exports_dir}/shoal-{_UNSAFE_KEY.sub('_', export.key)[:200]}.exports"

    def _persist(self, export: NfsExport, clients: list[tuple[str, str]]) -> None:
        """The export's line in its exports.d file (no clients: no file), so that an
        `exportfs -r` keeps what `exportfs -o` made. Written only when it changes."""
        path = self.exports_file(export)
        if not clients:
            self.host.remove_file(path)
            return
        line = exports_file_line(export.path, clients)
        if self.host.read_file(path) != line:
            self.host.write_file(path, line)

    def apply(self, export: NfsExport) -> dict[str, str]:
        rules, errors = usable_rules(export.rules)
        current = self.exported().get(export.path, {})
        wanted = {net for _, net in rules}
        entries = [(client_spec(net), rule) for rule, net in rules]
        # The file first: a resync between it and the kernel table then loses nothing.
        self._persist(export, [(client, rule.access_level) for client, rule in entries])
        refused = set()
        for client, rule in entries:
            options = set(current.get(client, "").split(","))
            if rule.access_level in options and "no_root_squash" in options:
                continue  # already exported like this; ensure() stays cheap
            try:
                self.host.run(["exportfs", "-o", f"{rule.access_level},{EXPORT_OPTIONS}",
                               f"{argv_client(client)}:{export.path}"])
            except CommandError as exc:
                errors[rule.rule_id] = str(exc)
                refused.add(client)
        if refused:  # what the kernel refused stays out of the file too
            self._persist(export, [(client, rule.access_level) for client, rule in entries if client not in refused])
        # Unexport after exporting, so a client whose level changes never loses access.
        for client in current:
            if _same_client(client) not in wanted:
                self.host.run(["exportfs", "-u", f"{argv_client(client)}:{export.path}"])
        return errors

    def remove(self, export: NfsExport) -> None:
        """Unexport every client of the path (the file first, so no resync brings
        it back), then wait until the kernel lets go of the path (`release`)."""
        self.host.remove_file(self.exports_file(export))
        clients = self.exported().get(export.path, {})
        for client in clients:
            self.host.run(["exportfs", "-u", f"{argv_client(client)}:{export.path}"])
        if export.path:
            release(self.host, export.path)

    def ensure(self, exports: list[NfsExport], fresh: bool = False) -> None:
        """Re-export every export given. Paths not in the list are left alone: the
        kernel's table also holds exports that are not Shoal's (/etc/exports)."""
        self._ensure_each(exports, fresh)
