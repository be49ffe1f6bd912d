"""What an external command counts as in /metrics: its verb, and the series it feeds.

As zrepl's zfscmd does, every command that `hosts` runs is counted by verb:
the program's name, plus the subcommand for tools that have subcommands
(`zfs snapshot`, `qemu-img create`), never an argument. A verb only ever comes
from a fixed list or from a program's base name that looks like one, so no
dataset name, id, address or secret can become a label value (they would also
make the series without bound).
"""

from __future__ import annotations

import os
import re
from typing import Sequence

from prometheus_client import Counter, Gauge, Histogram

# The subcommands that make a verb of their own; any other second word is left out.
SUBCOMMANDS: dict[str, frozenset[str]] = {
    "zfs": frozenset("""
        create destroy snapshot rollback clone promote rename list set get inherit upgrade userspace
        groupspace projectspace project mount unmount umount share unshare send receive recv allow unallow
        hold holds release diff bookmark program redact wait version load-key unload-key change-key
    """.split()),
    "zpool": frozenset("""
        create destroy add remove labelclear list iostat status online offline clear reopen attach detach
        replace split initialize resilver scrub trim sync import export upgrade history events get set
        version checkpoint wait reguid
    """.split()),
    "qemu-img": frozenset("""
        amend bench bitmap check commit compare convert create dd info map measure snapshot rebase resize
    """.split()),
}
# sudo's options that take a value (the word after them is not the command)
_SUDO_VALUED = frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T"})
_PROGRAM = re.compile(r"[A-Za-z][A-Za-z0-9._+-]{0,39}")
_ID_LIKE = re.compile(r"[0-9a-fA-F]{8}|[0-9]{4}")  # uuids, serials, ports: not a program's name
OTHER = "other"
PIPE = "|"


def verb(argv: Sequence[str]) -> str:
    """The label of a command: `zfs snapshot`, `tgtadm`, `zfs send | zfs receive`."""
    if PIPE in argv:
        at = list(argv).index(PIPE)
        return f"{verb(argv[:at])} | {verb(argv[at + 1:])}"
    head = tuple(argv[:2])  # all a verb depends on, unless sudo comes first
    if all(type(word) is str for word in head) and os.path.basename(head[0] if head else "") not in ("sudo", "env"):
        found = _known.get(head)
        if found is None:
            found = _verb(head)
            if len(_known) < 4096:
                _known[head] = found
        return found
    return _verb(argv)


_known: dict[tuple, str] = {}  # (argv[0], argv[1]) -> verb: the same few commands run over and over


def _verb(argv: Sequence[str]) -> str:
    words = _without_sudo(argv)
    if not words or not isinstance(words[0], str) or _is_secret(words[0]):
        return OTHER
    program = os.path.basename(words[0])
    if not _PROGRAM.fullmatch(program) or _ID_LIKE.search(program):
        return OTHER
    known = SUBCOMMANDS.get(program)
    if known and len(words) > 1 and not _is_secret(words[1]) and words[1] in known:
        return f"{program} {words[1]}"
    return program


def _is_secret(word) -> bool:
    from .runner import Secret  # runner imports this module

    return isinstance(word, Secret)


def _without_sudo(argv: Sequence[str]) -> list[str]:
    """The command behind `sudo [OPTIONS]` and `env [NAME=VALUE...]` (either or both)."""
    words = list(argv)
    if words and os.path.basename(str(words[0])) == "sudo":
        i = 1
        while i < len(words) and str(words[i]).startswith("-"):
            i += 2 if words[i] in _SUDO_VALUED else 1
        words = words[i:]
    if words and os.path.basename(str(words[0])) == "env":
        i = 1
        while i < len(words) and "=" in str(words[i]) and not str(words[i]).startswith("-"):
            i += 1
        words = words[i:]
    return words


# From a tgtd socket request (~1 ms) to a long zfs send (minutes).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

COMMANDS = Counter("shoal_commands", "External commands finished, by verb.", ["verb"])
ERRORS = Counter("shoal_command_errors",
                 "External commands that exited non-zero, timed out or could not start, by verb.", ["verb"])
RETRIES = Counter("shoal_command_retries", "Commands run again after a transient failure, by verb.", ["verb"])
DURATION = Histogram("shoal_command_duration_seconds", "How long external commands took, by verb.", ["verb"],
                     buckets=BUCKETS)
RUNNING = Gauge("shoal_commands_running", "External commands running now, by verb.", ["verb"])
TRANSFERRED = Counter("shoal_transfer_bytes", "Bytes moved from one command into another by hosts.transfer "
                      "(`zfs send | zfs receive` between hosts), by verb.", ["verb"])


class _Series:
    """A verb's children of each metric, looked up once (labels() costs a lock and a hash)."""

    def __init__(self, label: str):
        self.running, self.commands = RUNNING.labels(label), COMMANDS.labels(label)
        self.errors, self.duration = ERRORS.labels(label), DURATION.labels(label)


_series: dict[str, _Series] = {}


def _of(label: str) -> _Series:
    series = _series.get(label)
    if series is None:
        series = _series.setdefault(label, _Series(label))
    return series


def started(label: str) -> None:
    _of(label).running.inc()


def finished(label: str, duration: float, ok: bool) -> None:
    series = _of(label)
    series.running.dec()
    series.commands.inc()
    series.duration.observe(duration)
    if not ok:
        series.errors.inc()


def retried(label: str) -> None:
    RETRIES.labels(label).inc()


def transferred(label: str, nbytes: int) -> None:
    if nbytes:
        TRANSFERRED.labels(label).inc(nbytes)
