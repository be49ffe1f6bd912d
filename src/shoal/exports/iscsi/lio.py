"""iSCSI targets on LIO, the Linux kernel target, configured with targetcli.

The development host has no kernel target (no /sys/kernel/config/target):
here this helper is checked by unit tests of the exact commands it runs
(tests/unit/test_iscsi_lio.py), and for real against a Debian 12 kernel in
the kernel lane (scripts/kernel-lane, tests/kernel).

State is read from configfs, the kernel's own interface (stable across
targetcli versions). apply() and ensure(), the bulk pass of recovery, send
their changes as lines of ONE targetcli session (lio_batch); what a session
left undone is made with one `targetcli PATH COMMAND ARGS` argv per change:

    /sys/kernel/config/target/iscsi/IQN/tpgt_1/acls/INITIATOR/auth/{userid,password}
    /sys/kernel/config/target/iscsi/IQN/tpgt_1/lun/lun_N/<link to the backstore>
    /sys/kernel/config/target/iscsi/IQN/tpgt_1/np/ADDR:PORT
    /sys/kernel/config/target/core/{fileio,iblock}_K/NAME/{udev_path,control}

One target = one TPG (tpg1) with one LUN on a backstore named after the key
(`block` for /dev/... paths such as zvols, `fileio` otherwise, write-through),
`authentication=1 generate_node_acls=0`: only initiators with a node ACL get in,
so no initiators means nobody. LIO keeps CHAP per ACL, so every ACL carries
the target's credentials. targetcli joins its argv with spaces and re-parses
it (a session's lines alike), which is why check_target() forbids spaces in
names, paths and secrets.
"""

from __future__ import annotations

import logging
import re
import threading

from shoal.hosts import CommandError, CommandResult, Host, Secret
from shoal.hosts.runner import redact

from . import InvalidTarget, check_target, iqn_for_key, lio_batch
from .base import IQN_RE, IscsiHelper, IscsiTarget, Portal

log = logging.getLogger("shoal.exports.iscsi")

CONFIGFS = "/sys/kernel/config/target"
INSTALL_FIX = "apt-get install targetcli-fb"
MODULE_FIX = "modprobe iscsi_target_mod (and mount -t configfs none /sys/kernel/config if it is not mounted)"
MODULE = "/sys/module/iscsi_target_mod"
TPG = "tpg1"  # targetcli's name for configfs tpgt_1
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
# What targetcli's command-line grammar (configshell's `var`) takes as one value: it stops a
# value silently at any other character (the kernel lane saw password=ab^cd set as "ab").
_TARGETCLI_VALUE = re.compile(r"[A-Za-z0-9?;&*$!#=_+/.<>()~@:%\[\]-]+")

_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


class LioError(RuntimeError):
    """LIO could not be changed as asked. `failed` is {key: reasons} from ensure()."""

    def __init__(self, message: str, failed: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.failed = failed or {}


def backstore_name(key: str) -> str:
    return "shoal-" + _UNSAFE_NAME.sub("_", key)[:100]


def backstore_plugin(backing: str) -> str:
    """targetcli's backstore type: `block` for a device (zvol), `fileio` for a file."""
    return "block" if backing.startswith("/dev/") else "fileio"


class LioHelper(IscsiHelper):
    """Targets in the kernel's LIO on one host."""

    name = "lio"

    def __init__(
        self,
        host: Host,
        *,
        portals: list[str] | tuple[str, ...] = ("127.0.0.1:3260",),
        lun: int = 1,
        timeout: float = 60.0,
    ):
        self.host = host
        self.portal_specs = list(portals)
        self.lun = lun
        self.timeout = timeout
        self._keys: dict[str, str] = {}  # key -> iqn, as applied by this object
        with _LOCKS_GUARD:
            self._lock = _LOCKS.setdefault(host.name, threading.RLock())

    # -- commands ---------------------------------------------------------------------

    def _cli(self, path: str, *args: str, check: bool = True) -> CommandResult:
        return self.host.run(["targetcli", path, *args], check=check, timeout=self.timeout)

    def _ls(self, path: str) -> list[str] | None:
        """Entries of a configfs directory; None when it does not exist."""
        result = self.host.run(["ls", "-1", path], check=False, timeout=self.timeout)
        return None if result.returncode else [e for e in result.stdout.splitlines() if e]

    def _read(self, path: str) -> str:
        return (self.host.read_file(path) or "").strip()

    @staticmethod
    def _tpgt(iqn: str) -> str:
        return f"{CONFIGFS}/iscsi/{iqn}/tpgt_1"

    # -- daemon (the kernel) ------------------------------------------------------------

    def problems(self) -> list[str]:
        found = []
        if self.host.run(["which", "targetcli"], check=False).returncode:
            found.append(f"targetcli is not installed: {INSTALL_FIX}")
        # A loaded iscsi_target_mod is enough: the kernel makes the fabric's configfs
        # directory only when something creates it (start(), targetcli, rtslib), so a
        # freshly booted host has the module but no CONFIGFS/iscsi yet.
        if self.host.run(["test", "-d", f"{CONFIGFS}/iscsi", "-o", "-d", MODULE], check=False).returncode:
            found.append(
                f"the kernel iSCSI target is not loaded ({MODULE} and {CONFIGFS}/iscsi are missing): {MODULE_FIX}"
            )
        return found

    def start(self) -> None:
        """Load the kernel target and make its iSCSI fabric directory in configfs
        (what targetcli and rtslib do on first use; the kernel loads the module
        itself on that mkdir when it can)."""
        if self.host.run(["test", "-d", f"{CONFIGFS}/iscsi"], check=False).returncode == 0:
            return
        self.host.run(["modprobe", "iscsi_target_mod"], check=False, timeout=self.timeout)
        self.host.run(["mkdir", f"{CONFIGFS}/iscsi"], check=False, timeout=self.timeout)
        if self.host.run(["test", "-d", f"{CONFIGFS}/iscsi"], check=False).returncode:
            raise LioError(f"the kernel iSCSI target is not available: {MODULE_FIX}")

    def alive(self) -> bool:
        """False when LIO holds none of the targets this object made (and has not
        removed): the kernel target was restarted or cleared (`targetctl clear`),
        which no process exit shows. One directory listing, asked every second or
        so; a single target gone is the periodic check's to find."""
        with self._lock:
            made = set(self._keys.values())
            return not made or bool(made & set(self.iqns()))

    def portals(self) -> list[Portal]:
        found = []
        for spec in self.portal_specs:
            address, _, port = spec.rpartition(":")
            found.append(Portal(address, int(port)))
        return found

    # -- targets ------------------------------------------------------------------------

    def apply(self, target: IscsiTarget) -> None:
        """As ensure() does it for many: one configfs read, the changes in one
        targetcli session (the CHAP secret on its stdin, not in an argv), one read
        to check; what the session did not finish is done per command, which
        names the error."""
        _check(target)
        with self._lock:
            for unfinished in self._ensure_batch([target], fresh=False):
                self._apply(unfinished)

    def ensure(self, targets: list[IscsiTarget], fresh: bool = False) -> None:
        """Apply every target given (after a reboot LIO is empty; after a Shoal
        restart it still holds them) in one pass: LIO's state read once, every
        change in ONE targetcli session, the state read again (lio_batch). A
        target the session did not complete is applied on its own, which names
        its error. Unlisted targets are left alone, as with tgt. All failures
        are raised together at the end. `fresh`: each target is deleted and
        made again, since a backstore keeps its file open."""
        failed: dict[str, list[str]] = {}
        valid = []
        for target in targets:
            try:
                valid.append(_check(target))
            except InvalidTarget as exc:
                failed[target.key] = [str(exc)]
        with self._lock:
            for target in self._ensure_batch(valid, fresh):
                try:
                    self._apply(target)
                    self._keys[target.key] = target.iqn
                except (LioError, CommandError) as exc:
                    failed[target.key] = [str(exc)]
                    self._keys.pop(target.key, None)  # not there: alive() must not wait for it
        if failed:
            raise LioError(f"LIO could not export: {failed}", failed)

    def _ensure_batch(self, targets: list[IscsiTarget], fresh: bool) -> list[IscsiTarget]:
        """The targets that the one session left unfinished."""
        if not targets:
            return []
        state = self._state()
        lines, created = list(lio_batch.SESSION_PREFS), set()
        for target in targets:
            store = (backstore_plugin(target.backing), backstore_name(target.key))
            planned = lio_batch.plan(target, state, self.portal_specs, store, fresh)
            created.update([target.key] if f"/iscsi create {target.iqn}" in planned else [])
            lines += planned
        if len(lines) > len(lio_batch.SESSION_PREFS):
            log.info("LIO: %d targets, %d targetcli commands in one session", len(targets),
                     len(lines) - len(lio_batch.SESSION_PREFS))
            result = self.host.run(lio_batch.session_argv(), input="\n".join(lines) + "\n", check=False,
                                   timeout=max(self.timeout, 2.0 * len(lines)))
            if result.returncode:
                secrets = [Secret(t.chap.secret) for t in targets]
                log.warning("targetcli session exited %d: %s", result.returncode,
                            redact(result.stdout + result.stderr, secrets)[-400:])
            state = self._state()
        unfinished = []
        for target in targets:
            lacks = lio_batch.missing(target, state, self.portal_specs, target.key in created)
            if lacks:
                log.warning("LIO target %s after the batch: %s; applied on its own", target.iqn, ", ".join(lacks))
                unfinished.append(target)
            else:
                self._keys[target.key] = target.iqn
        return unfinished

    def _state(self) -> lio_batch.LioState:
        result = self.host.run(lio_batch.state_argv(), check=False, timeout=self.timeout)
        return lio_batch.LioState.parse(result.stdout)

    def remove(self, key: str) -> None:
        """Delete the target (its sessions end) and its backstore; `key` is the
        target's key or its IQN. Succeeds when there is nothing to delete."""
        with self._lock:
            iqn = self._resolve(key)
            stores = self._backstores(iqn) if iqn else []
            if iqn and self._ls(self._tpgt(iqn)) is not None:
                log.info("deleting LIO target %s", iqn)
                self._cli("/iscsi", "delete", iqn)
            if not stores and not IQN_RE.match(key):  # a backstore left by a half-done apply
                stores = [(plugin, backstore_name(key), "") for plugin in ("fileio", "block")]
            for plugin, name, _ in stores:
                self._cli(f"/backstores/{plugin}", "delete", name, check=False)
            for stale in [k for k, known in self._keys.items() if k == key or known == iqn]:
                del self._keys[stale]

    def iqns(self) -> list[str]:
        return [e for e in self._ls(f"{CONFIGFS}/iscsi") or [] if IQN_RE.match(e)]

    def resize(self, key: str) -> None:
        """A block backstore (zvol) follows its device's size by itself. A fileio
        backstore keeps the size it was created with: write the file's new size
        to its configfs `control` (fd_dev_size), which the kernel reads live."""
        with self._lock:
            iqn = self._resolve(key)
            stores = self._backstores(iqn) if iqn else []
            if not stores:
                raise LioError(f"no LIO target for {key}")
            for plugin, _, store in stores:
                if plugin != "fileio":
                    continue
                path = self._read(f"{store}/udev_path")
                size = self.host.file_size(path)
                self.host.run(["tee", f"{store}/control"], input=f"fd_dev_size={size}\n", timeout=self.timeout)

    # -- internals ----------------------------------------------------------------------

    def _resolve(self, key: str) -> str | None:
        try:
            return iqn_for_key(key, self._keys, self.iqns())
        except ValueError as exc:
            raise LioError(str(exc)) from None

    def _backstores(self, iqn: str) -> list[tuple[str, str, str]]:
        """(targetcli plugin, name, configfs dir) of each backstore the target's
        LUNs use: each lun_N holds a symlink to core/{fileio,iblock}_K/NAME."""
        result = self.host.run(
            ["find", f"{self._tpgt(iqn)}/lun", "-mindepth", "2", "-maxdepth", "2", "-type", "l",
             "-exec", "readlink", "-f", "{}", "+"],
            check=False, timeout=self.timeout,
        )  # fmt: skip
        found = []
        for line in result.stdout.splitlines() if result.returncode == 0 else []:
            hba, _, name = line.rstrip("/").rpartition("/")
            hba = hba.rpartition("/")[2]
            plugin = "block" if hba.startswith("iblock_") else "fileio" if hba.startswith("fileio_") else ""
            if plugin and name:
                found.append((plugin, name, line.rstrip("/")))
        return found

    def _apply(self, target: IscsiTarget) -> None:
        iqn, tpg, tpgt = target.iqn, f"/iscsi/{target.iqn}/{TPG}", self._tpgt(target.iqn)
        acls = self._ls(f"{tpgt}/acls")
        if acls is None:
            log.info("creating LIO target %s", iqn)
            self._cli("/iscsi", "create", iqn)
            # only listed initiators, each with CHAP; nobody until an ACL exists
            self._cli(tpg, "set", "attribute", "authentication=1", "generate_node_acls=0", "demo_mode_write_protect=1")
            acls = []
        self._sync_lun(target, tpg, tpgt)
        self._sync_portals(tpg, tpgt)
        self._sync_acls(target, tpg, tpgt, acls)
        self._keys[target.key] = iqn

    def _sync_lun(self, target: IscsiTarget, tpg: str, tpgt: str) -> None:
        luns = self._ls(f"{tpgt}/lun") or []
        for entry in luns:
            if entry != f"lun_{target.lun}":
                self._cli(f"{tpg}/luns", "delete", f"lun={entry.removeprefix('lun_')}")
        if f"lun_{target.lun}" in luns:
            return
        plugin, name = backstore_plugin(target.backing), backstore_name(target.key)
        self._cli(f"/backstores/{plugin}", "delete", name, check=False)  # a leftover of a half-done apply
        if plugin == "block":
            self._cli("/backstores/block", "create", f"name={name}", f"dev={target.backing}")
        else:
            self._cli(
                "/backstores/fileio", "create", f"name={name}", f"file_or_dev={target.backing}", "write_back=false"
            )
        self._cli(f"{tpg}/luns", "create", f"/backstores/{plugin}/{name}", f"lun={target.lun}", "add_mapped_luns=true")

    def _sync_portals(self, tpg: str, tpgt: str) -> None:
        """Exactly the configured portals (targetcli adds 0.0.0.0:3260 by default,
        which would also clash with a specific address on port 3260)."""
        have = self._ls(f"{tpgt}/np") or []
        for entry in have:
            if entry not in self.portal_specs:
                address, _, port = entry.rpartition(":")
                self._cli(f"{tpg}/portals", "delete", address.strip("[]"), port)
        for spec in self.portal_specs:
            if spec not in have:
                address, _, port = spec.rpartition(":")
                self._cli(f"{tpg}/portals", "create", address.strip("[]"), port)

    def _sync_acls(self, target: IscsiTarget, tpg: str, tpgt: str, acls: list[str]) -> None:
        wanted = list(dict.fromkeys(target.initiators))
        user, secret = target.chap.user, target.chap.secret
        for name in wanted:
            auth = f"{tpgt}/acls/{name}/auth"
            if name not in acls:
                # a new ACL has no credentials yet, and with authentication=1 that lets nobody in
                self._cli(f"{tpg}/acls", "create", name, "add_mapped_luns=true")
            elif self._read(f"{auth}/userid") == user and self._read(f"{auth}/password") == secret:
                continue
            self._cli(f"{tpg}/acls/{name}", "set", "auth", f"userid={user}", Secret(f"password={secret}"))
        for name in acls:
            if name not in wanted:
                self._cli(f"{tpg}/acls", "delete", name)


def _check(target: IscsiTarget) -> IscsiTarget:
    """check_target(), and CHAP credentials that targetcli takes whole."""
    check_target(target)
    for what, value in (("user", target.chap.user), ("secret", target.chap.secret)):
        if not _TARGETCLI_VALUE.fullmatch(value):
            raise InvalidTarget(f"CHAP {what} has a character targetcli cuts a value at "
                                "(allowed: letters, digits and ?;&*$!#=_+/.<>()~@:%[]-)")
    return target
