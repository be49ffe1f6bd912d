"""NFS exports on nfs-ganesha (userspace server, FSAL VFS), through config files Shoal owns.

Everything in `config_dir` is Shoal's (hand edits are lost):

    ganesha.conf           core settings (ports, protocols, logging) + one `%include` per export
    exports.d/<key>.conf   one EXPORT block, with its Export_Id, one CLIENT block per rule
    ganesha.log  ganesha.pid  recovery/      the daemon's own files

Without D-Bus the only way to change exports at runtime is to rewrite the
files and send SIGHUP: ganesha (4.3) then re-reads the main file and every
included file, adds, updates and drops exports, and logs "Reread exports
complete" -- a few ms later -- and only then the errors it met in the EXPORT
and CLIENT blocks. apply() waits for that line and then for ganesha's signal
thread to be idle again (see ganesha_sigmgr), so a rule is in force when it
returns and an export ganesha refused is never taken as made. All commands go
through the Host, so the helper works the same on a storage host reached over SSH.
"""

from __future__ import annotations

import ipaddress
import logging
import posixpath
import re
import signal
import threading
import time

from shoal.hosts import FileWatch, Host

from .base import ClientNet, ExportIds, ExportsFailed, InvalidNfsRule, NfsClientRule, NfsExport, NfsHelper
from .exportfs import client_spec, usable_rules
from .ganesha_sigmgr import SignalThread

log = logging.getLogger("shoal.exports.nfs")

INSTALL_FIX = "apt-get install nfs-ganesha nfs-ganesha-vfs"
RELOAD_START = "initiating export list reload"
RELOAD_DONE = "Reread exports complete"
RELOAD_FAILED = "Error while parsing new configuration file"
ERRORS_SUMMARY = " errors found block "
FIRST_EXPORT_ID = 2  # 0 is the NFSv4 pseudo root; hand-written configs usually take 1
MAX_EXPORT_ID = 65535
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_UNSAFE_PATH = re.compile(r'["\\\x00-\x1f\x7f]')

# Per (host, config dir) in this process, shared by every helper object on it:
# a lock for the config files (Export_Id allocation, writes), a lock held by
# the one reload (or start) at a time, and the reload that will read the
# changes written now (see _Reload).
_LOCKS: dict[tuple[str, str], threading.RLock] = {}
_RELOAD_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_PENDING: dict[tuple[str, str], "_Reload"] = {}
_LOCKS_GUARD = threading.Lock()
# What exports.d holds, as last read or written by this process, under the same
# key and lock: saves a `grep` per change. Dropped by start() and ensure().
_KNOWN: dict[tuple[str, str], dict[str, tuple[int, str]]] = {}
_LOG_WATCHES: dict[tuple[str, str], FileWatch] = {}  # what wakes a reload's waiter, per daemon
_SIGNAL_THREADS: dict[tuple[str, str], SignalThread] = {}  # what tells a reload's log is complete

Rules = list[tuple[NfsClientRule, ClientNet]]
# ganesha's config lexer reads an IPv6 prefix length of one or two digits, 1-99
# (`CIDR \/[1-9][0-9]{0,1}` in src/config_parsing/conf_lex.l, 4.3 and still 6.2):
# `fd00::/64` parses, `fd00::/120` and `::/0` are syntax errors that fail the
# export. No other spelling says /100-/119 exactly (docs/tempest.md lists those
# tried: quoted strings are refused as clients, a netmask does not lex, globs
# also match reverse-DNS names). Longer prefixes are written as the addresses
# they hold, up to this many (/120); /100 to /119 are refused, never widened.
MAX_LISTED_V6 = 256
_HALVES_V6 = (ipaddress.ip_network("::/1"), ipaddress.ip_network("8000::/1"))


class _Reload:
    """One reload of the daemon, and the changes it is to read: those written
    before it starts. Changes written meanwhile by other threads wait for the
    same reload instead of each sending one: a thousand concurrent creates
    need far fewer reloads than a thousand (each reload reads every export)."""

    def __init__(self):
        self.check: list[NfsExport] = []  # exports whose log lines are looked for
        self.done = threading.Event()
        self.failed: dict[str, list[str]] = {}
        self.error: BaseException | None = None


class GaneshaError(ExportsFailed):
    """The export, or the daemon, could not be changed as asked.

    `failed` is {export key: reasons} when particular exports failed (from ensure()).
    """


def render_main(
    *, nfs_port: int, mount_port: int, config_dir: str, includes: list[str], graceless: bool = False
) -> str:
    lines = [
        "# nfs-ganesha configuration written by Shoal (shoal.exports.nfs.ganesha); edits are lost.",
        "NFS_CORE_PARAM {",
        f"    NFS_Port = {nfs_port};",
        f"    MNT_Port = {mount_port};",
        "    Protocols = 3, 4;",
        "    # No NLM (it needs rpc.statd; v3 clients lock with -o nolock, or use v4) and no",
        "    # RQUOTA (fixed privileged port 875: two instances on one host would clash).",
        "    Enable_NLM = false;",
        "    Enable_RQUOTA = false;",
        "}",
        "NFSv4 {",
        f'    RecoveryRoot = "{config_dir}/recovery";  # per instance, not /var/lib/nfs/ganesha',
        f"    Graceless = {'true' if graceless else 'false'};",
        "}",
        "NFS_KRB5 { Active_krb5 = false; }  # SecType = sys only",
        "LOG { Default_Log_Level = EVENT; }  # Shoal waits for the EVENT-level reload lines",
        *(f'%include "{path}"' for path in includes),
        "",
    ]
    return "\n".join(lines)


def clients_spec(net: ClientNet) -> str:
    """The `Clients` list of one rule, in what ganesha 4.3's lexer reads: IPv4 as
    exportfs writes it; an IPv6 host as its address, `::/0` as its two halves, a
    network as `addr/len` while the length has two digits, else its addresses."""
    if net.version == 4 or net.prefixlen == net.max_prefixlen:
        return client_spec(net)
    if net.prefixlen == 0:
        return ", ".join(str(half) for half in _HALVES_V6)
    if net.prefixlen < 100:
        return str(net)
    if net.num_addresses > MAX_LISTED_V6:
        longest_listed = 128 - MAX_LISTED_V6.bit_length() + 1
        raise InvalidNfsRule(
            f"{net}: nfs-ganesha cannot export to an IPv6 network of /100 to /{longest_listed - 1}: "
            f"its configuration takes prefix lengths of at most two digits (/99), and the "
            f"{net.num_addresses} addresses of this network are too many to list one by one "
            f"(/{longest_listed} or longer are); give a /99 or shorter, or /{longest_listed} or longer")
    return ", ".join(str(address) for address in net)


def renderable(rules: Rules, errors: dict[str, str]) -> Rules:
    """The rules ganesha can be told (see clients_spec); the others go to `errors`."""
    good = []
    for rule, net in rules:
        try:
            clients_spec(net)
        except InvalidNfsRule as exc:
            errors[rule.rule_id] = str(exc)
            continue
        good.append((rule, net))
    return good


def render_export(key: str, export_id: int, path: str, rules: Rules) -> str:
    """One EXPORT block. Access_Type = None: a client with no CLIENT block gets MNT3ERR_ACCES."""
    lines = [
        f"# Shoal export {key}: written by Shoal, rewritten on every change.",
        "EXPORT {",
        f"    Export_Id = {export_id};",
        f'    Path = "{path}";',
        f'    Pseudo = "{path}";',
        "    Protocols = 3, 4;",
        "    Transports = TCP;",
        "    Access_Type = None;",
        "    Squash = No_Root_Squash;",
        "    SecType = sys;",
        "    FSAL { Name = VFS; }",
    ]
    # Ganesha takes the first CLIENT block that matches: most specific first, so a
    # host rule beats the rule of its network (as the kernel server does).
    for rule, net in sorted(rules, key=lambda item: -item[1].prefixlen):
        rule_id = re.sub(r"[^\w.-]", "?", rule.rule_id)
        lines.append(
            f'    CLIENT {{ Clients = {clients_spec(net)}; Access_Type = {rule.access_level.upper()}; }}'
            f"  # rule {rule_id}"
        )
    lines += ["}", ""]
    return "\n".join(lines)


def parse_known(grep_output: str, exports_dir: str) -> dict[str, tuple[int, str]]:
    """`grep -r -H` of the Export_Id and Path lines -> {key: (export_id, path)}."""
    ids: dict[str, int] = {}
    paths: dict[str, str] = {}
    prefix = exports_dir.rstrip("/") + "/"
    for line in grep_output.splitlines():
        if not line.startswith(prefix):
            continue
        name, _, text = line[len(prefix):].partition(":")
        if name.startswith(".") or not name.endswith(".conf"):
            continue  # a temp file of an atomic write in progress
        key, text = name[: -len(".conf")], text.strip()
        if text.startswith("Export_Id"):
            ids[key] = int(text.split("=")[1].strip(" ;"))
        elif text.startswith("Path"):
            paths[key] = text.split("=", 1)[1].strip(" ;").strip('"')
    return {key: (ids[key], paths.get(key, "")) for key in ids}


def allocate_id(taken: set[int]) -> int:
    """The smallest Export_Id >= FIRST_EXPORT_ID that no export uses."""
    for export_id in range(FIRST_EXPORT_ID, MAX_EXPORT_ID + 1):
        if export_id not in taken:
            return export_id
    raise GaneshaError("no free Export_Id left")


def reload_outcome(text: str) -> tuple[bool, list[str]] | None:
    """Given the log written since before our SIGHUP: None while the reload is
    still running, else (parsed ok, the reload's lines so far).

    The first reload that *starts* after our files were written has read them,
    even if that SIGHUP was not ours. Its lines run up to the next reload's
    start: ganesha logs the errors of the EXPORT and CLIENT blocks *after*
    RELOAD_DONE (reread_config: reread_exports, then report_config_errors), so
    the lines returned when RELOAD_DONE is first seen may lack them; read again
    once the signal thread is idle (_wait_reload).
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if RELOAD_START in line), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if RELOAD_START in lines[i]), len(lines))
    for line in lines[start:end]:
        if RELOAD_DONE in line or RELOAD_FAILED in line:
            return RELOAD_DONE in line, lines[start:end]
    return None


def export_errors(lines: list[str], export: NfsExport, export_file: str) -> list[str]:
    """The log lines that say this export could not be created. Not the summary
    "N (...) errors found block EXPORT": ganesha (load_config_from_parse in
    src/config_parsing/config_parsing.c) gives it the place of the last block
    it read, whichever export failed."""
    return [
        line for line in lines
        if (f"Could not create export for ({export.path})" in line or export_file in line)
        and ERRORS_SUMMARY not in line
    ]


class GaneshaHelper(NfsHelper):
    """nfs-ganesha on one host; owns `config_dir` and, if `manage_daemon`, the daemon."""

    name = "ganesha"

    def __init__(
        self,
        host: Host,
        config_dir: str = "/var/lib/shoal/ganesha",
        nfs_port: int = 2049,
        mount_port: int = 20048,
        manage_daemon: bool = True,
        binary: str = "ganesha.nfsd",
        graceless: bool = False,
        timeout: float = 60.0,
        export_ids: ExportIds | None = None,
    ):
        self.host = host
        self.config_dir = config_dir.rstrip("/")
        self.nfs_port = nfs_port
        self.mount_port = mount_port
        self.manage_daemon = manage_daemon
        self.binary = binary
        self.graceless = graceless  # True skips NFSv4 grace after a start (tests; no v4 state to reclaim)
        self.timeout = timeout
        # Export_Ids from a store that outlives these files (Shoal's database); without
        # one, ids are allocated from the files (a daemon started by hand, the tests).
        self.export_ids = export_ids
        self.exports_dir = f"{self.config_dir}/exports.d"
        self.conf = f"{self.config_dir}/ganesha.conf"
        self.log_file = f"{self.config_dir}/ganesha.log"
        self.pidfile = f"{self.config_dir}/ganesha.pid"
        self._key = (host.name, self.config_dir)
        with _LOCKS_GUARD:
            self._lock = _LOCKS.setdefault(self._key, threading.RLock())
            self._reload_lock = _RELOAD_LOCKS.setdefault(self._key, threading.Lock())
            # Used under the reload lock only: a watch has one waiter at a time.
            self._log_watch = _LOG_WATCHES.setdefault(self._key, host.watch(self.log_file))
            self._signal_thread = _SIGNAL_THREADS.setdefault(self._key, SignalThread(host))

    # -- contract ---------------------------------------------------------------

    def problems(self) -> list[str]:
        found = []
        run = self.host.run
        if run(["which", self.binary], check=False).returncode:
            found.append(f"{self.binary} is not installed: {INSTALL_FIX}")
        if run(["rpcinfo", "-p"], check=False).returncode:
            found.append("rpcbind is not running (NFSv3 needs it): rpcbind -w  (apt-get install rpcbind)")
        if run(["mkdir", "-p", self.exports_dir], check=False).returncode or run(
            ["test", "-w", self.config_dir], check=False
        ).returncode:
            found.append(f"{self.config_dir} is not writable: mkdir -p {self.config_dir} and give it to Shoal's user")
        if self.pid() is None:
            how = f"{self.binary} -f {self.conf} -L {self.log_file} -p {self.pidfile}"
            who = "Shoal starts it (start/ensure), or run" if self.manage_daemon else "start it with"
            found.append(f"ganesha is not running for {self.conf}: {who}: {how}")
        # Not checked: whether rpcbind still maps MOUNT to our port. A second ganesha
        # on the host takes the mapping over, and restarting ours would only take it
        # back (the two would fight); NFSv4 and clients given ports are unaffected.
        return found

    def alive(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        with self._reload_lock, self._lock:
            self._forget_known()
            self._write_main(self._known())
            if self.manage_daemon and self.pid() is None:
                self._spawn()

    def apply(self, export: NfsExport) -> dict[str, str]:
        rules, errors = usable_rules(export.rules)
        rules = renderable(rules, errors)
        self._drop_moved([export])
        with self._lock:
            known = self._known()
            self._write_export(export, rules, known, self._ids_for([export], known))
            self._write_main(known)
            reload = self._join([export])
        if failed := self._reloaded(reload).get(export.key):
            raise GaneshaError(f"ganesha could not export {export.path}: {' | '.join(failed)}")
        return errors

    def remove(self, export: NfsExport) -> None:
        with self._lock:
            known = self._known()
            known.pop(export.key, None)
            # Drop the %include first: an included file that is missing fails the whole reload.
            self._write_main(known)
            self.host.remove_file(self._export_file(export.key))
            reload = self._join([]) if self.pid() is not None else None  # a removed export has no lines
        if reload is not None:
            self._reloaded(reload)
        if self.export_ids is not None:  # only now: the daemon no longer holds the id
            self.export_ids.release(export.key)

    def exported_paths(self) -> set[str]:
        """What the export files hold (every reload makes ganesha hold exactly that)."""
        with self._lock:
            return {path for _, path in self._known().values()}

    def ensure(self, exports: list[NfsExport], fresh: bool = False) -> None:
        """Rewrite every export given, then one reload (or a start, if the daemon is
        down). Exports not in the list are kept: callers pass the shares in steady
        states only, and one being created or in error must not lose its export;
        remove() is what deletes. One export that fails does not stop the others;
        all failures are raised together at the end. `fresh`: all of them are
        dropped first (one more reload), so that ganesha lets go of what it
        cached of file systems that were mounted again."""
        failed: dict[str, list[str]] = {}
        written = []
        with self._lock:
            self._forget_known()
        if fresh:
            self._drop([e.key for e in exports])
        else:
            self._drop_moved(exports)
        with self._lock:
            known = self._known()
            ids = self._ids_for(exports, known)
            files = {}
            for export in exports:
                rules, errors = usable_rules(export.rules)
                rules = renderable(rules, errors)
                if errors:
                    log.warning("ganesha export %s: rules not applied: %s", export.key, errors)
                try:
                    name = posixpath.basename(self._export_file(export.key))  # the key checked first
                    files[name] = self._export_text(export, rules, known, ids)
                    written.append(export)
                except GaneshaError as exc:
                    failed[export.key] = [str(exc)]
            self.host.write_files(self.exports_dir, files)  # on an SSH host: a few commands for all
            self._write_main(known)
            reload = self._join(written)
        failed.update(self._reloaded(reload))
        if failed:
            raise GaneshaError(f"ganesha could not export: {failed}", failed)

    # -- config files -------------------------------------------------------------

    def _export_file(self, key: str) -> str:
        if not _SAFE_KEY.fullmatch(key):
            raise GaneshaError(f"export key {key!r} cannot name a file (letters, digits, '-', '_', '.')")
        return f"{self.exports_dir}/{key}.conf"

    def _known(self) -> dict[str, tuple[int, str]]:
        """What exports.d holds: {key: (Export_Id, path)} -- read with one command
        the first time (so ids survive restarts), then kept as this process writes."""
        cached = _KNOWN.get(self._key)
        if cached is None:
            result = self.host.run(
                ["grep", "-r", "-H", "-E", "^ *(Export_Id|Path) = ", self.exports_dir], check=False
            )
            cached = _KNOWN[self._key] = parse_known(result.stdout, self.exports_dir)
        return dict(cached)

    def _forget_known(self) -> None:
        _KNOWN.pop(self._key, None)

    def _ids_for(self, exports: list[NfsExport], known: dict[str, tuple[int, str]]) -> dict[str, int]:
        """The store's Export_Id of each export (none without a store); an export
        the files already hold offers its id there, so the ids a running daemon
        has are kept when the store first meets them."""
        if self.export_ids is None:
            return {}
        return self.export_ids.ids_for({e.key: known[e.key][0] if e.key in known else None for e in exports})

    def _write_export(self, export: NfsExport, rules: Rules, known: dict[str, tuple[int, str]],
                      ids: dict[str, int]) -> None:
        self.host.write_file(self._export_file(export.key), self._export_text(export, rules, known, ids))

    def _export_text(self, export: NfsExport, rules: Rules, known: dict[str, tuple[int, str]],
                     ids: dict[str, int]) -> str:
        """The export's file, its id chosen and `known` updated (GaneshaError: it cannot be)."""
        if not export.path.startswith("/") or _UNSAFE_PATH.search(export.path):
            raise GaneshaError(f"path {export.path!r} cannot be written into ganesha's config")
        for key, (_, path) in known.items():
            if path == export.path and key != export.key:
                raise GaneshaError(f"{export.path} is already exported as {key}")
        previous = known.get(export.key)
        if export.key in ids:
            export_id = ids[export.key]
            self._drop_holders(export_id, export.key, known)
        elif previous and previous[1] == export.path:
            export_id = previous[0]
        else:
            # A new export, or a new path: ganesha refuses to change an export's path
            # in place, so it gets a fresh id (the old one goes with the old block).
            export_id = allocate_id({i for i, _ in known.values()})
        known[export.key] = (export_id, export.path)
        return render_export(export.key, export_id, export.path, rules)

    def _drop_moved(self, exports: list[NfsExport]) -> None:
        """Exports whose path changes keep their stored id, but ganesha refuses to
        give a live id another path: the old exports are dropped first (one reload)."""
        if self.export_ids is None:
            return  # ids from the files: a moved export gets a fresh one (see _write_export)
        with self._lock:
            known = self._known()
        self._drop([e.key for e in exports if e.key in known and known[e.key][1] != e.path])

    def _drop(self, keys: list[str]) -> None:
        """Take these exports out of the daemon (one reload); their ids stay theirs."""
        with self._lock:
            known = self._known()
            keys = [key for key in keys if key in known]
            if not keys:
                return
            for key in keys:
                known.pop(key)
            self._write_main(known)
            self.host.remove_files([self._export_file(key) for key in keys])
            reload = self._join([]) if self.pid() is not None else None
        if reload is not None:
            self._reloaded(reload)

    def _drop_holders(self, export_id: int, key: str, known: dict[str, tuple[int, str]]) -> None:
        """Remove the file of any other export that holds `export_id`: the store
        gives an id to one export only, so such a file is a leftover of an export
        that no longer exists (one the daemon would refuse to have two of)."""
        for other, (held, _) in list(known.items()):
            if held == export_id and other != key:
                log.warning("ganesha export %s held Export_Id %d, which is %s's: its file is removed",
                            other, export_id, key)
                known.pop(other)
                self.host.remove_file(self._export_file(other))

    def _write_main(self, known: dict[str, tuple[int, str]]) -> None:
        content = render_main(
            nfs_port=self.nfs_port,
            mount_port=self.mount_port,
            config_dir=self.config_dir,
            includes=[self._export_file(key) for key in sorted(known)],
            graceless=self.graceless,
        )
        if self.host.read_file(self.conf) != content:
            self.host.write_file(self.conf, content)
        _KNOWN[self._key] = dict(known)

    # -- the daemon ---------------------------------------------------------------

    def pid(self) -> int | None:
        """The pid in our pidfile, if that process is a ganesha (ours, when managed).
        Only the first line counts: ganesha writes its pid over the old file without
        truncating it, so a shorter pid leaves the tail of the longer one behind."""
        lines = (self.host.read_file(self.pidfile) or "").split()
        text = lines[0] if lines else ""
        if not text.isdigit():
            return None
        args = (self.host.read_file(f"/proc/{text}/cmdline") or "").split("\0")
        ours = self.conf in args if self.manage_daemon else "ganesha" in args[0]
        return int(text) if ours else None

    def _listening(self, pid: int) -> bool:
        out = self.host.run(["ss", "-Hltnp"], check=False).stdout
        ports = {
            fields[3].rsplit(":", 1)[-1]
            for fields in (line.split() for line in out.splitlines())
            if len(fields) >= 6 and f"pid={pid}," in fields[-1]
        }
        return {str(self.nfs_port), str(self.mount_port)} <= ports

    def _log_size(self) -> int:
        return self.host.file_size(self.log_file)

    def _log_since(self, offset: int) -> str:
        return self.host.read_from(self.log_file, offset)

    def _spawn(self) -> list[str]:
        """Start the daemon (it forks into the background) and wait until it listens."""
        offset = self._log_size()
        self.host.run([self.binary, "-f", self.conf, "-L", self.log_file, "-p", self.pidfile])
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            pid = self.pid()
            if pid is not None and self._listening(pid):
                log.info("ganesha started (pid %s) on ports %s/%s", pid, self.nfs_port, self.mount_port)
                return self._log_since(offset).splitlines()
            text = self._log_since(offset)
            if (pid is None and ":FATAL :" in text) or time.monotonic() > deadline:
                tail = "\n".join(text.splitlines()[-8:])
                raise GaneshaError(f"ganesha did not start on ports {self.nfs_port}/{self.mount_port}: {tail}")
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def _join(self, check: list[NfsExport]) -> _Reload:
        """The reload that will read what was just written (called with the files'
        lock held, right after writing)."""
        reload = _PENDING.get(self._key)
        if reload is None:
            reload = _PENDING[self._key] = _Reload()
        reload.check.extend(check)
        return reload

    def _reloaded(self, reload: _Reload) -> dict[str, list[str]]:
        """Wait until `reload` has happened: the first waiter to get the reload lock
        closes it to later writes and sends it for everyone in it. Returns {key:
        log lines} for its exports that did not come up; raises what it raised."""
        with self._reload_lock:
            if not reload.done.is_set():
                with self._lock:
                    if _PENDING.get(self._key) is reload:
                        del _PENDING[self._key]  # from here on, writes wait for the next reload
                try:
                    reload.failed = self._reload(reload.check)
                except BaseException as exc:
                    reload.error = exc
                finally:
                    reload.done.set()
        if reload.error is not None:
            raise reload.error
        return reload.failed

    def _reload(self, check: list[NfsExport]) -> dict[str, list[str]]:
        """Make the daemon read the config again (or start it); returns
        {key: log lines} for the exports of `check` that did not come up."""
        pid = self.pid()
        if pid is None:
            if not self.manage_daemon:
                raise GaneshaError(f"ganesha is not running for {self.conf}; start it, see problems()")
            lines = self._spawn()  # a fresh daemon reads every file
        else:
            self._log_watch.mark()
            self._signal_thread.find(pid)
            offset = self._log_size()
            started = time.monotonic()
            self.host.signal(pid, signal.SIGHUP)
            lines = self._wait_reload(offset, pid)
            log.debug("ganesha reload took %.3fs", time.monotonic() - started)
        return {e.key: bad for e in check if (bad := export_errors(lines, e, self._export_file(e.key)))}

    def _wait_reload(self, offset: int, pid: int) -> list[str]:
        started = time.monotonic()
        deadline = started + self.timeout

        def pause() -> None:
            now = time.monotonic()
            if now > deadline:
                raise GaneshaError(f"ganesha did not finish reloading within {self.timeout}s (see {self.log_file})")
            # Woken by each write to the log where the host can tell (a reload takes
            # 0.3-1 ms here; looking again every 2 ms found it done ~1 ms late);
            # elsewhere look every 2 ms at first, then back off for slow reloads.
            self._log_watch.wait(0.002 if now - started < 0.25 else 0.05)

        while (outcome := reload_outcome(self._log_since(offset))) is None:
            pause()
        # The block errors come after RELOAD_DONE; under load a reader can see
        # that line before them. They are all written once the thread is idle.
        while (idle := self._signal_thread.idle(pid)) is False:
            pause()
        if idle:
            outcome = reload_outcome(self._log_since(offset)) or outcome
        ok, lines = outcome
        if not ok:
            raise GaneshaError(f"ganesha rejected its configuration, nothing changed (see {self.log_file}): {lines}")
        return lines
