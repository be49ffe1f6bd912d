"""iSCSI targets on tgt (tgtd, the userspace SCSI target), driven with tgtadm.

tgtd keeps its state in memory only: no config file is written. Each call
reads the daemon's state (`tgtadm --op show --mode target`, parsed below) and
changes only what differs, so apply() is idempotent and ensure() after a tgtd
restart is the same call. Targets are found by IQN; the key -> IQN map of this
process is a cache, never the truth.

Facts about tgt 1.0.85 (Debian 12) this helper relies on, checked with
libiscsi from outside (see tests/integration/test_tgt_targets.py):
- A target with no ACL entry refuses every initiator ("Target not found", and
  it is not listed in discovery): no initiators means nobody. An initiator
  is let in when its name (-Q) OR its address (-I, including "ALL") is bound,
  so address entries are removed: Shoal's ACLs are names only.
- A target with no incoming account bound needs no CHAP at all, and deleting
  an account unbinds it from every target. Replacing a secret therefore
  binds a throw-away guard account first, so the target is never open.
- tgtd never shows secrets: this process remembers a digest of each secret
  it set; a secret it does not know (e.g. after Shoal restarted) is re-set.
- Resize: `--op update --mode logicalunit --params online=0,path=P` closes and
  re-opens the backing in one request and re-reads its size (a "path" update
  is refused while the LUN is online); sessions and data stay.
- LUN 0 of every target is tgt's controller LUN; volumes use LUN >= 1.
- `tgtd --control-port N` serves tgtadm on /var/run/tgtd/socket.N (lock file
  socket.N.lock), so several daemons share a host (`tgtadm -C N`). tgtd
  daemonizes before it fails (exit 0 even when the control port is taken),
  and when it cannot bind any portal given it silently listens on 0.0.0.0:3260
  and [::]:3260 instead: start() checks the portals it got.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

from shoal.hosts import CommandError, CommandResult, Host, NoSocketAccess, Retry, Secret

from . import InvalidTarget, check_target, iqn_for_key, tgt_bulk
from .base import IscsiHelper, IscsiTarget, Portal
from .tgt_ipc import TgtSocket

log = logging.getLogger("shoal.exports.iscsi")

INSTALL_FIX = "apt-get install tgt (scripts/host-setup installs it)"
CONTROLLER_LUN = 0
# tgtd refuses to delete a target while a LUN still has commands in flight (an
# initiator's I/O at that very moment): that passes within milliseconds. ~5 s in all.
LUN_BUSY = Retry(transient=("this logical unit is still active",), attempts=25, first_delay=0.01, max_delay=0.25)
GUARD_PREFIX = "shoal-guard-"  # throw-away accounts that keep a target closed while its secret changes
_NAME_PREFIXES = ("iqn.", "eui.", "naa.")  # ACL entries that are initiator names, not addresses


class TgtError(RuntimeError):
    """tgtd could not be changed as asked. `failed` is {key: reasons} from ensure()."""

    def __init__(self, message: str, failed: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.failed = failed or {}


# -- `tgtadm --op show` output ---------------------------------------------------------


@dataclass
class TgtLun:
    lun: int
    type: str = ""
    size_mb: int = 0  # tgt prints decimal MB, rounded: for display, not for checks
    block_size: int = 0
    online: bool = True
    backing_type: str = ""
    backing_path: str | None = None


@dataclass
class TgtSession:
    """One I_T nexus: a logged-in initiator."""

    nexus: int
    initiator: str = ""
    addresses: list[str] = field(default_factory=list)


@dataclass
class TgtTarget:
    tid: int
    iqn: str
    state: str = ""
    luns: list[TgtLun] = field(default_factory=list)
    sessions: list[TgtSession] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)  # incoming (CHAP) users
    outgoing: list[str] = field(default_factory=list)  # mutual-CHAP users
    acl: list[str] = field(default_factory=list)  # initiator names and addresses, as bound

    def lun(self, number: int) -> TgtLun | None:
        return next((lun for lun in self.luns if lun.lun == number), None)

    @property
    def initiator_acl(self) -> list[str]:
        return [e for e in self.acl if e.lower().startswith(_NAME_PREFIXES)]

    @property
    def address_acl(self) -> list[str]:
        return [e for e in self.acl if not e.lower().startswith(_NAME_PREFIXES)]


_TARGET_LINE = re.compile(r"Target (\d+): (\S+)")


def parse_targets(text: str) -> list[TgtTarget]:
    """`tgtadm --op show --mode target`: sections by indentation (0 target, 4
    section, 8 item, 12+ item details). Raises ValueError on a shape it does
    not know, rather than guess what a line means."""
    targets: list[TgtTarget] = []
    section = ""
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0:
            match = _TARGET_LINE.fullmatch(line)
            if not match:
                raise ValueError(f"tgtadm show, line {number}: unexpected {raw!r}")
            targets.append(TgtTarget(int(match[1]), match[2]))
            section = ""
            continue
        if not targets:
            raise ValueError(f"tgtadm show, line {number}: {raw!r} before any target")
        target = targets[-1]
        if indent == 4:
            section = line.rstrip(":")
        elif section == "System information":
            key, _, value = line.partition(":")
            if key == "State":
                target.state = value.strip()
        elif section == "I_T nexus information":
            _session_line(target, indent, line)
        elif section == "LUN information":
            _lun_line(target, indent, line, number)
        elif section == "Account information":
            if line.endswith(" (outgoing)"):
                target.outgoing.append(line[: -len(" (outgoing)")])
            else:
                target.accounts.append(line)
        elif section == "ACL information":
            target.acl.append(line)
    return targets


def _session_line(target: TgtTarget, indent: int, line: str) -> None:
    key, _, value = line.partition(":")
    if indent == 8 and key == "I_T nexus":
        target.sessions.append(TgtSession(int(value)))
    elif target.sessions and key == "Initiator":  # "Initiator: NAME alias: ALIAS"
        target.sessions[-1].initiator = value.split()[0]
    elif target.sessions and key == "IP Address":
        target.sessions[-1].addresses.append(value.strip())


def _lun_line(target: TgtTarget, indent: int, line: str, number: int) -> None:
    key, _, value = line.partition(":")
    value = value.strip()
    if indent == 8:
        if key != "LUN":
            raise ValueError(f"tgtadm show, line {number}: expected 'LUN: N', got {line!r}")
        target.luns.append(TgtLun(int(value)))
        return
    if not target.luns:
        raise ValueError(f"tgtadm show, line {number}: {line!r} outside a LUN")
    lun = target.luns[-1]
    if key == "Type":
        lun.type = value
    elif key == "Size":  # "67 MB, Block size: 512"
        lun.size_mb = int(value.split()[0])
        lun.block_size = int(value.rsplit(":", 1)[1])
    elif key == "Online":
        lun.online = value == "Yes"
    elif key == "Backing store type":
        lun.backing_type = value
    elif key == "Backing store path":
        lun.backing_path = None if value == "None" else value


def parse_accounts(text: str) -> list[str]:
    """`tgtadm --op show --mode account`: "Account list:" then one user a line."""
    return [line.strip() for line in text.splitlines()[1:] if line.strip()]


def parse_portals(text: str) -> list[str]:
    """`tgtadm --op show --mode portal`: "Portal: ADDR:PORT,TPGT" -> ["ADDR:PORT"]."""
    found = []
    for line in text.splitlines():
        if line.startswith("Portal: "):
            found.append(line[len("Portal: ") :].rsplit(",", 1)[0])
    return found


# -- per-daemon state in this process -------------------------------------------------


@dataclass
class _DaemonState:
    """Shared by every helper object for one tgtd (host, control port)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    secrets: dict[str, str] = field(default_factory=dict)  # CHAP user -> digest of the secret set
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (iqn, CHAP user)
    # The daemon's state as last read, kept current by every change made through it
    # (only for a tgtd Shoal owns); dropped on any failure, start and ensure.
    known: _Snapshot | None = None


_STATES: dict[tuple[str, int], _DaemonState] = {}
_STATES_GUARD = threading.Lock()


def _digest(user: str, secret: str) -> str:
    return hashlib.sha256(f"{user}\0{secret}".encode()).hexdigest()


@dataclass
class _Snapshot:
    """The daemon's state read once, kept current by the changes made through it."""

    targets: list[TgtTarget]
    accounts: set[str]

    def by_iqn(self, iqn: str) -> TgtTarget | None:
        return next((t for t in self.targets if t.iqn == iqn), None)

    def bound_elsewhere(self, user: str, tid: int) -> list[TgtTarget]:
        return [t for t in self.targets if t.tid != tid and (user in t.accounts or user in t.outgoing)]


# -- the helper -------------------------------------------------------------------------


class TgtHelper(IscsiHelper):
    """Targets in one tgtd, reached with `tgtadm -C control_port`."""

    name = "tgt"

    def __init__(
        self,
        host: Host,
        *,
        portals: list[str] | tuple[str, ...] = ("127.0.0.1:3260",),
        lun: int = 1,
        manage_daemon: bool = True,
        control_port: int = 0,
        start_timeout: float = 15.0,
        timeout: float = 30.0,
    ):
        self.host = host
        self.portal_specs = list(portals)
        self.lun = lun
        self.manage_daemon = manage_daemon
        self.control_port = control_port
        self.start_timeout = start_timeout
        self.timeout = timeout
        with _STATES_GUARD:
            self._state = _STATES.setdefault((host.name, control_port), _DaemonState())
        # Requests go straight to tgtd's socket where the host gives a stream to it
        # (this machine; an SSH host whose sshd forwards to unix sockets): no tgtadm
        # process per request. Through sudo, or where sshd refuses, tgtadm carries them.
        connect = getattr(host, "connect_unix", None)
        direct = connect is not None and not getattr(host, "sudo", False)
        self._socket = TgtSocket(control_port, connect, host.name) if direct else None
        self._socket_answered = False  # once it has, a failure to reach it is tgtd's, never sshd's

    # -- commands ---------------------------------------------------------------------

    def _adm(self, *args: str) -> list[str]:
        return ["tgtadm", "-C", str(self.control_port), "--lld", "iscsi", *args]

    def _run(self, *args: str, check: bool = True, retry: Retry | None = None) -> CommandResult:
        if self._socket is not None:
            try:
                result = self._socket.run(("--lld", "iscsi", *args), check=check, timeout=self.timeout, retry=retry)
            except NoSocketAccess as exc:
                self._give_up_socket(str(exc))
            except CommandError as err:
                if not self._stream_refused(err.result):
                    raise
            else:
                if not self._stream_refused(result):
                    return result
        return self.host.run(self._adm(*args), check=check, timeout=self.timeout, retry=retry)

    def _stream_refused(self, result: CommandResult) -> bool:
        """Whether the socket could not be reached while tgtadm on the host reaches
        tgtd: sshd does not forward to unix sockets for this login, and answers
        that as it answers a socket nobody listens at. The socket is then given up.
        Asked only until the socket has answered once (tgtadm is not started on
        every look at a tgtd that is down)."""
        if result.returncode not in (errno.ECONNREFUSED, errno.ENOENT):
            self._socket_answered = True
            return False
        if self._socket_answered:
            return False
        probe = self.host.run(self._adm("--op", "show", "--mode", "sys"), check=False, timeout=self.timeout)
        if probe.returncode != 0:
            return False  # tgtd is not answering at all: the socket's failure stands
        self._give_up_socket("tgtadm reaches tgtd, a stream to its socket does not "
                             "(sshd does not forward to unix sockets for this login?)")
        return True

    def _give_up_socket(self, why: str) -> None:
        log.info("tgtd on %s: %s; tgtadm carries the requests from now on", self.host.name, why)
        self._socket = None

    def _tgtd_argv(self) -> list[str]:
        portals = ",".join(f"portal={p}" for p in self.portal_specs)
        return ["tgtd", "--iscsi", portals, "--control-port", str(self.control_port)]

    def answering(self) -> bool:
        return self._run("--op", "show", "--mode", "sys", check=False).returncode == 0

    def alive(self) -> bool:
        return not self.manage_daemon or self.answering()

    def targets(self) -> list[TgtTarget]:
        """Every target in the daemon (Shoal's and others'), as tgtd shows them."""
        text = self._run("--op", "show", "--mode", "target").stdout
        try:
            return parse_targets(text)
        except ValueError as exc:
            raise TgtError(f"cannot read tgtd's targets: {exc}") from None

    def iqns(self) -> list[str]:
        """Read from tgtd; a target the remembered state lacks (made behind Shoal's
        back, or kept from before a crash) makes the memory stale: forgotten, so
        the next command reads tgtd again."""
        return [t.iqn for t in self._read_targets()]

    def target_states(self) -> dict[str, bool]:
        return {t.iqn: any(lun.lun != CONTROLLER_LUN for lun in t.luns)
                and all(lun.lun == CONTROLLER_LUN or lun.backing_path for lun in t.luns)
                for t in self._read_targets()}

    def _read_targets(self) -> list[TgtTarget]:
        with self._state.lock:
            found = self.targets()
            remembered = self._remembered()
            if remembered is not None and any(remembered.by_iqn(t.iqn) is None for t in found):
                self._state.known = None
        return found

    def _accounts(self) -> set[str]:
        return set(parse_accounts(self._run("--op", "show", "--mode", "account").stdout))

    def _daemon_portals(self) -> list[str]:
        return parse_portals(self._run("--op", "show", "--mode", "portal").stdout)

    def _snapshot(self) -> _Snapshot:
        """tgtd's state, read now (and remembered when Shoal owns the daemon)."""
        snapshot = _Snapshot(self.targets(), self._accounts())
        self._state.known = snapshot if self.manage_daemon else None
        return snapshot

    def _remembered(self) -> _Snapshot | None:
        return self._state.known if self.manage_daemon else None

    # -- daemon -----------------------------------------------------------------------

    def problems(self) -> list[str]:
        found = []
        binaries = ["tgtadm", "tgtd"] if self.manage_daemon else ["tgtadm"]
        for binary in binaries:
            if self.host.run(["which", binary], check=False).returncode:
                found.append(f"{binary} is not installed: {INSTALL_FIX}")
        if self.lun == CONTROLLER_LUN:
            found.append("tgt reserves LUN 0 for its controller: set iscsi.lun = 1 (Cinder's tgtadm default)")
        if found:
            return found
        if not self.answering():
            how = " ".join(self._tgtd_argv())
            who = "Shoal starts it (start), or run" if self.manage_daemon else "start it"
            return [f"tgtd does not answer on control port {self.control_port}: {who}: {how}"]
        listed = self._daemon_portals()
        for portal in self.portal_specs:
            if portal not in listed:
                fix = " ".join(self._adm("--op", "new", "--mode", "portal", "--param", f"portal={portal}"))
                found.append(f"tgtd (control port {self.control_port}) does not listen on {portal}: {fix}")
        if self.manage_daemon:  # e.g. the 3260 wildcard tgtd falls back to
            for portal in listed:
                if portal not in self.portal_specs:
                    fix = " ".join(self._adm("--op", "delete", "--mode", "portal", "--param", f"portal={portal}"))
                    found.append(f"tgtd also listens on {portal}, which is not configured: {fix}")
        return found

    def start(self) -> None:
        """Start a tgtd for this control port unless one answers, then make sure
        it listens on every configured portal."""
        with self._state.lock:
            self._state.known = None
            if self.answering():
                self._add_portals(self._daemon_portals())
                return
            if not self.manage_daemon:
                raise TgtError(
                    f"tgtd does not answer on control port {self.control_port}: start it: {' '.join(self._tgtd_argv())}"
                )
            log.info("starting tgtd: %s", " ".join(self._tgtd_argv()))
            self.host.run(self._tgtd_argv(), timeout=self.timeout)  # daemonizes
            self._wait_answering()
            listed = self._daemon_portals()
            if all(p in listed for p in self.portal_specs):
                return
            # tgtd could not bind some portal, and if it bound none it fell back to
            # the 3260 wildcard: close what was not asked for before anything else.
            for portal in listed:
                if portal not in self.portal_specs:
                    self._run("--op", "delete", "--mode", "portal", "--param", f"portal={portal}", check=False)
            try:
                self._add_portals(self._daemon_portals())
            except TgtError:
                # A daemon we just started, with no targets: stop it rather than leave it half-usable.
                stop = ["tgtadm", "-C", str(self.control_port), "--op", "delete", "--mode", "system"]
                self.host.run(stop, check=False)
                raise

    def _wait_answering(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        delay = 0.02
        while not self.answering():
            if time.monotonic() > deadline:
                raise TgtError(
                    f"tgtd did not answer on control port {self.control_port} within {self.start_timeout:.0f}s "
                    f"(another tgtd holding /var/run/tgtd/socket.{self.control_port}.lock?)"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _add_portals(self, listed: list[str]) -> None:
        for portal in self.portal_specs:
            if portal in listed:
                continue
            result = self._run("--op", "new", "--mode", "portal", "--param", f"portal={portal}", check=False)
            if result.returncode:
                raise TgtError(
                    f"tgtd (control port {self.control_port}) cannot listen on {portal} (port in use? "
                    f"ss -ltnp 'sport = :{portal.rsplit(':', 1)[1]}'): {result.stderr.strip()}"
                )

    def portals(self) -> list[Portal]:
        found = []
        for spec in self.portal_specs:
            address, _, port = spec.rpartition(":")
            found.append(Portal(address, int(port)))
        return found

    # -- targets ------------------------------------------------------------------------

    def apply(self, target: IscsiTarget) -> None:
        """A target that the remembered state does not have yet is made from that
        state (two `show` commands saved on every first attach); a command that
        fails then means the memory was stale: read tgtd and apply again. A
        target that exists is always checked against tgtd itself."""
        self._check(target)
        with self._state.lock:
            remembered = self._remembered()
            if remembered is not None and remembered.by_iqn(target.iqn) is None:
                try:
                    self._apply(target, remembered)
                    return
                except (TgtError, CommandError) as exc:
                    log.info("tgt target %s: applying from memory failed (%s); reading tgtd again", target.iqn, exc)
            try:
                self._apply(target, self._snapshot())
            except BaseException:
                self._state.known = None
                raise

    def ensure(self, targets: list[IscsiTarget], fresh: bool = False) -> None:
        """Apply every target given, reading tgtd's state once. Targets not in the
        list are left alone, even Shoal's: the caller passes volumes in steady
        states only, and one being attached or deleted meanwhile must not lose
        its target (remove() is what deletes; targets() lists what exists, for
        an audit). Starts tgtd first when Shoal owns it and it is down. One target
        that fails does not stop the others; all failures are raised at the end.
        `fresh`: every LUN's backing file is opened again (sessions stay)."""
        failed: dict[str, list[str]] = {}
        with self._state.lock:
            if self.manage_daemon and not self.answering():
                self.start()
            snapshot = self._snapshot()  # read afresh: this is the check that repairs
            made = self._make_in_bulk(targets, snapshot) if self._socket is None else set()
            if made:
                snapshot = self._snapshot()
            for target in targets:
                try:
                    self._check(target)
                    self._apply(target, snapshot, reopen=fresh and target.iqn not in made, trust_accounts=True)
                except (TgtError, InvalidTarget, CommandError) as exc:
                    failed[target.key] = [str(exc)]
        if failed:
            self._state.known = None
            raise TgtError(f"tgtd could not export: {failed}", failed)

    def _make_in_bulk(self, targets: list[IscsiTarget], snapshot: _Snapshot) -> set[str]:
        """Where every request is a tgtadm process on the host (SSH, sudo): the
        targets tgtd lacks entirely (after its restart, all of them), with CHAP
        users it has no account for, made by ONE command there (see tgt_bulk).
        Returns their IQNs; ensure() checks each of them afterwards all the same."""
        taken = {t.tid for t in snapshot.targets}
        free_tids = (n for n in itertools.count(1) if n not in taken)
        users = set(snapshot.accounts)
        chosen: list[tuple[int, IscsiTarget]] = []
        for target in targets:
            if snapshot.by_iqn(target.iqn) or target.chap.user in users or not tgt_bulk.plain(target):
                continue
            try:
                self._check(target)
            except InvalidTarget:
                continue  # reported by the per-target path
            users.add(target.chap.user)
            chosen.append((next(free_tids), target))
        if len(chosen) < 2:
            return set()
        lines = tgt_bulk.request_lines(chosen)
        path = f"/run/shoal-tgt-{self.control_port}-{secrets.token_hex(6)}.args"
        made = {target.iqn for _, target in chosen}
        try:
            self.host.write_file(path, "\n".join(lines) + "\n", mode=0o600)
        except CommandError as exc:  # the batch is only a shortcut: the per-target path makes them
            log.warning("tgtd on %s: no batch for %d targets (%s); each is made on its own",
                        self.host.name, len(chosen), exc)
            return set()
        try:
            result = self.host.run(["xargs", "-a", path, "-L", "1", *self._adm()], check=False,
                                   timeout=self.timeout + 0.05 * len(lines))
        except CommandError as exc:  # a timeout: what it made is found by the read that follows
            log.warning("tgtd on %s: the batch for %d targets failed (%s); each is checked on its own",
                        self.host.name, len(chosen), exc)
            return made
        finally:
            try:
                self.host.remove_file(path)
            except CommandError as exc:
                log.error("tgtd on %s: could not remove %s, which holds CHAP secrets: %s", self.host.name, path, exc)
        if result.returncode:
            log.warning("tgtd on %s: some of %d requests for %d targets failed (each target is checked and "
                        "made again on its own): %s", self.host.name, len(lines), len(chosen),
                        result.stderr.strip()[-400:])
        log.info("made %d tgt targets in one pass on %s", len(chosen), self.host.name)
        return made

    def remove(self, key: str) -> None:
        """Delete the target (sessions are cut: --force) and its accounts; `key` is
        the target's key or its IQN. The backing file stays open in tgtd until
        this returns, so a dataset holding it can be destroyed only after. A key
        that the remembered state has no target for (a volume never attached
        since tgtd was last read) needs no command at all."""
        with self._state.lock:
            remembered = self._remembered()
            if remembered is not None and key not in self._state.keys:
                iqn = self._resolve(key, remembered)
                if iqn is None or remembered.by_iqn(iqn) is None:
                    return
            try:
                self._remove(key, self._snapshot())
            except BaseException:
                self._state.known = None
                raise

    def _remove(self, key: str, snapshot: _Snapshot) -> None:
        known = self._state.keys.get(key)
        iqn = self._resolve(key, snapshot)
        current = snapshot.by_iqn(iqn) if iqn else None
        users = set(current.accounts + current.outgoing) if current else set()
        if known:
            users.add(known[1])
        if current:
            log.info("deleting tgt target %s (tid %d)", current.iqn, current.tid)
            tid = str(current.tid)
            try:
                self._run("--op", "delete", "--mode", "target", "--tid", tid, "--force", retry=LUN_BUSY)
            except CommandError as err:
                if "can't find the target" not in err.stderr:
                    raise TgtError(f"cannot delete target {current.iqn}: {err.stderr.strip()}") from None
            snapshot.targets.remove(current)
        for user in sorted(users):
            if user in snapshot.accounts and not snapshot.bound_elsewhere(user, -1):
                self._run("--op", "delete", "--mode", "account", "--user", user, check=False)
                snapshot.accounts.discard(user)
                self._state.secrets.pop(user, None)
        for stale in [k for k, (known_iqn, _) in self._state.keys.items() if k == key or known_iqn == iqn]:
            del self._state.keys[stale]

    def resize(self, key: str) -> None:
        """Re-open the backing of every LUN of the target so tgtd reads the new
        size; initiators see it at their next READ CAPACITY (a rescan)."""
        with self._state.lock:
            snapshot = _Snapshot(self.targets(), set())
            iqn = self._resolve(key, snapshot)
            current = snapshot.by_iqn(iqn) if iqn else None
            if current is None:
                raise TgtError(f"no tgt target for {key}")
            for lun in current.luns:
                if lun.lun != CONTROLLER_LUN and lun.backing_path:
                    self._reopen(current.tid, lun.lun, lun.backing_path)

    # -- internals ----------------------------------------------------------------------

    def _check(self, target: IscsiTarget) -> None:
        check_target(target)
        if target.lun == CONTROLLER_LUN:
            raise InvalidTarget("tgt reserves LUN 0 for its controller: use LUN 1 or higher")

    def _resolve(self, key: str, snapshot: _Snapshot) -> str | None:
        known = {k: iqn for k, (iqn, _) in self._state.keys.items()}
        try:
            return iqn_for_key(key, known, [t.iqn for t in snapshot.targets])
        except ValueError as exc:
            raise TgtError(str(exc)) from None

    def _apply(self, target: IscsiTarget, snapshot: _Snapshot, reopen: bool = False,
               trust_accounts: bool = False) -> None:
        current = snapshot.by_iqn(target.iqn)
        created = current is None
        if current is None:
            current = self._create_target(target.iqn, snapshot)
        try:
            self._sync_lun(current, target, reopen)
            self._sync_account(current, target, snapshot, trust_accounts)
            self._sync_acl(current, target)
        except BaseException:
            if created:  # a half-made target must not keep the backing file open
                self._run("--op", "delete", "--mode", "target", "--tid", str(current.tid), "--force", check=False)
                snapshot.targets.remove(current)
            raise
        self._state.keys[target.key] = (target.iqn, target.chap.user)

    def _create_target(self, iqn: str, snapshot: _Snapshot) -> TgtTarget:
        """A new target on the smallest free tid. Another process may take that tid
        (or create the same IQN) in between: then read again and retry."""
        for _ in range(8):
            used = {t.tid for t in snapshot.targets}
            tid = next(n for n in range(1, len(used) + 2) if n not in used)
            result = self._run("--op", "new", "--mode", "target", "--tid", str(tid), "-T", iqn, check=False)
            if result.returncode == 0:
                log.info("created tgt target %s (tid %d)", iqn, tid)
                created = TgtTarget(tid, iqn)
                snapshot.targets.append(created)
                return created
            if "already exists" not in result.stderr:
                raise TgtError(f"cannot create target {iqn}: {result.stderr.strip()}")
            snapshot.targets[:] = self.targets()
            if (other := snapshot.by_iqn(iqn)) is not None:
                return other
        raise TgtError(f"cannot create target {iqn}: no free tid after 8 tries")

    def _sync_lun(self, current: TgtTarget, target: IscsiTarget, reopen: bool = False) -> None:
        tid = str(current.tid)
        for lun in list(current.luns):
            if lun.lun not in (CONTROLLER_LUN, target.lun):
                self._run("--op", "delete", "--mode", "logicalunit", "--tid", tid, "--lun", str(lun.lun))
                current.luns.remove(lun)
        have = current.lun(target.lun)
        if have is None:
            result = self._run(
                "--op", "new", "--mode", "logicalunit", "--tid", tid, "--lun", str(target.lun),
                "--bstype", "rdwr", "-b", target.backing, check=False,
            )  # fmt: skip
            if result.returncode:
                raise TgtError(f"tgtd cannot open {target.backing} as LUN {target.lun}: {result.stderr.strip()}")
            current.luns.append(TgtLun(target.lun, "disk", backing_type="rdwr", backing_path=target.backing))
        elif reopen or have.backing_path != target.backing or not have.online:
            self._reopen(current.tid, target.lun, target.backing)
            have.backing_path, have.online = target.backing, True

    def _reopen(self, tid: int, lun: int, path: str) -> None:
        args = ("--op", "update", "--mode", "logicalunit", "--tid", str(tid), "--lun", str(lun))
        result = self._run(*args, "--params", f"online=0,path={path}", check=False)
        if result.returncode:
            self._run(*args, "--params", "online=1", check=False)  # do not leave the LUN offline
            raise TgtError(f"tgtd cannot re-open {path} (tid {tid} LUN {lun}): {result.stderr.strip()}")

    def _sync_account(self, current: TgtTarget, target: IscsiTarget, snapshot: _Snapshot,
                      trust: bool = False) -> None:
        """The target's one CHAP account, with the secret given. tgtd never shows a
        secret: one this process did not set is replaced -- unless `trust` (ensure()
        after a restart of Shoal): the targets there are attached volumes, whose
        secret is set before their target is made and never changed while it exists,
        so an account of that user already in tgtd holds it (and re-making hundreds
        of accounts would only cost time and open a window for failed logins)."""
        user, secret = target.chap.user, target.chap.secret
        tid = str(current.tid)
        if others := snapshot.bound_elsewhere(user, current.tid):
            raise TgtError(f"CHAP user {user} is already bound to target {others[0].iqn}")
        digest = _digest(user, secret)
        if trust and user in snapshot.accounts and user not in self._state.secrets:
            self._state.secrets[user] = digest
        if user not in snapshot.accounts or self._state.secrets.get(user) != digest:
            # Deleting the only account bound to a target with an ACL would open it
            # to those initiators without CHAP: bind a guard account meanwhile.
            guard = None
            if current.accounts == [user] and current.acl:
                guard = self._bind_guard(current.tid, snapshot)
            if user in snapshot.accounts:
                self._run("--op", "delete", "--mode", "account", "--user", user)
                if user in current.accounts:
                    current.accounts.remove(user)
            self._run("--op", "new", "--mode", "account", "--user", user, "--password", Secret(secret))
            snapshot.accounts.add(user)
            self._state.secrets[user] = digest
            self._run("--op", "bind", "--mode", "account", "--tid", tid, "--user", user)
            current.accounts.append(user)
            if guard:
                self._drop_account(current, guard, snapshot)
        elif user not in current.accounts:
            self._run("--op", "bind", "--mode", "account", "--tid", tid, "--user", user)
            current.accounts.append(user)
        for stale in [a for a in current.accounts if a != user]:
            self._drop_account(current, stale, snapshot)
        for stale in list(current.outgoing):
            self._run("--op", "unbind", "--mode", "account", "--tid", tid, "--user", stale, "--outgoing", check=False)
            current.outgoing.remove(stale)

    def _bind_guard(self, tid: int, snapshot: _Snapshot) -> str:
        guard = f"{GUARD_PREFIX}{tid}"
        if guard in snapshot.accounts:  # left by an apply that died half-way
            self._run("--op", "delete", "--mode", "account", "--user", guard, check=False)
        self._run("--op", "new", "--mode", "account", "--user", guard, "--password", Secret(secrets.token_hex(16)))
        snapshot.accounts.add(guard)
        self._run("--op", "bind", "--mode", "account", "--tid", str(tid), "--user", guard)
        return guard

    def _drop_account(self, current: TgtTarget, user: str, snapshot: _Snapshot) -> None:
        """Unbind `user` from the target; delete it too when no other target uses it."""
        self._run("--op", "unbind", "--mode", "account", "--tid", str(current.tid), "--user", user, check=False)
        if user in current.accounts:
            current.accounts.remove(user)
        if not snapshot.bound_elsewhere(user, current.tid):
            self._run("--op", "delete", "--mode", "account", "--user", user, check=False)
            snapshot.accounts.discard(user)
            self._state.secrets.pop(user, None)

    def _sync_acl(self, current: TgtTarget, target: IscsiTarget) -> None:
        tid = str(current.tid)
        wanted = list(dict.fromkeys(target.initiators))
        for name in wanted:  # grant first, then revoke: a kept initiator never drops out
            if name not in current.acl:
                self._run("--op", "bind", "--mode", "target", "--tid", tid, "-Q", name)
                current.acl.append(name)
        for name in current.initiator_acl:
            if name not in wanted:
                self._run("--op", "unbind", "--mode", "target", "--tid", tid, "-Q", name)
                current.acl.remove(name)
        for address in current.address_acl:  # "ALL" or an IP would let others in
            self._run("--op", "unbind", "--mode", "target", "--tid", tid, "-I", address)
            current.acl.remove(address)
