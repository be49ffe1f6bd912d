"""The contract every NFS export helper fulfils (ganesha, exportfs, sharenfs).

A helper makes one directory reachable over NFS with exactly a given set of
client rules. It is told the whole desired state of an export each time
(`apply`), so a resync after a restart and a single rule change are the same
call. Helpers own their daemon's configuration and know nothing of the DB.
"""

from __future__ import annotations

import ipaddress
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

log = logging.getLogger("shoal.exports.nfs")

ACCESS_LEVELS = ("rw", "ro")


class InvalidNfsRule(ValueError):
    """A single rule that this helper cannot express; the others still apply."""


class ExportsFailed(RuntimeError):
    """Exports could not be made as asked. `failed` is {export key: reasons}
    for the particular exports that failed (from ensure(), whose other exports
    are in place); empty when the server as a whole could not be changed."""

    def __init__(self, message: str, failed: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.failed = failed or {}


class ExportIds(Protocol):
    """Where an NFS server's export ids come from when the server needs them
    (ganesha's Export_Id): a store that outlives the server's config files
    (Shoal's database). An export keeps its id for as long as it exists, and no
    two exports ever hold one id, so a server that kept its exports in memory
    while its files were lost is never told to give one id another path."""

    def ids_for(self, wanted: dict[str, int | None]) -> dict[str, int]:
        """The id of each key, allocated for keys that have none yet: the
        hint given with a key (the id its export has now) when no other key
        holds it, else a fresh one."""
        ...

    def release(self, key: str) -> None:
        """`key`'s export is gone from the server: its id may be given again."""
        ...


ClientNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class NfsClientRule:
    """One client entry: an IPv4 or IPv6 address or CIDR, and rw or ro."""

    rule_id: str
    address: str
    access_level: str


@dataclass(frozen=True)
class NfsExport:
    """The desired state of one export.

    `key` is a stable id (the share id) that names the export in the helper's
    own bookkeeping; `path` is the directory on the storage host; `dataset` is
    the ZFS dataset behind it (the `sharenfs` helper sets a property on it).
    """

    key: str
    path: str
    dataset: str
    rules: tuple[NfsClientRule, ...] = ()


def normalize_address(text: str) -> ClientNet:
    """Parse an `ip` rule target: an IPv4 or IPv6 address or CIDR (host bits must be zero)."""
    if not isinstance(text, str):  # ip_network() would take an int as an address
        raise InvalidNfsRule(f"{text!r} is not a valid IP address or CIDR: not a string")
    try:
        return _network(text)
    except ValueError as exc:
        raise InvalidNfsRule(f"{text!r} is not a valid IP address or CIDR: {exc}") from None


@lru_cache(maxsize=8192)
def _network(text: str) -> ClientNet:
    """Each change to an export goes over all of its rules again (a share with
    thousands of rules, one rule added at a time): an address is parsed once,
    not once per rule per pass. The networks are immutable; errors are not kept."""
    return ipaddress.ip_network(text.strip(), strict=True)


def check_rule(rule: NfsClientRule) -> ClientNet:
    """The client network of `rule`; InvalidNfsRule when `rule` cannot be exported."""
    if rule.access_level not in ACCESS_LEVELS:
        raise InvalidNfsRule(f"access level {rule.access_level!r} is not one of {ACCESS_LEVELS}")
    return normalize_address(rule.address)


class NfsHelper(ABC):
    """One NFS server flavour on one storage host."""

    name: str

    @abstractmethod
    def problems(self) -> list[str]:
        """What is missing for this helper to work, each with the command that fixes it."""

    @abstractmethod
    def start(self) -> None:
        """Make the NFS server usable (start the daemon if the helper owns it). Idempotent."""

    @abstractmethod
    def apply(self, export: NfsExport) -> dict[str, str]:
        """Create or replace `export` so that exactly its rules hold.

        Returns {rule_id: error message} for rules that could not be applied;
        every other rule is in force when this returns. Raises only when the
        export as a whole could not be changed.
        """

    @abstractmethod
    def remove(self, export: NfsExport) -> None:
        """Stop exporting `export.path`. Succeeds if it was not exported."""

    @abstractmethod
    def exported_paths(self) -> set[str]:
        """Every path the server exports now (Shoal's and, for the kernel's
        table, the system's): what a crash may have left is found here."""

    @abstractmethod
    def ensure(self, exports: list[NfsExport], fresh: bool = False) -> None:
        """After a restart of Shoal or of the NFS server: make every export in
        `exports` exist again with its rules (and the server run). One export
        that fails does not stop the others: ExportsFailed names them all at
        the end. `fresh`: the file systems were mounted again underneath, so
        what the server holds of them is stale; every export is dropped and
        made anew, not only checked."""

    def _ensure_each(self, exports: list[NfsExport], fresh: bool = False) -> None:
        """ensure() for helpers that change one export at a time."""
        failed: dict[str, list[str]] = {}
        for export in exports:
            try:
                if fresh:
                    self.remove(export)
                errors = self.apply(export)
            except Exception as exc:  # noqa: BLE001 -- named per export, raised together below
                failed[export.key] = [str(exc)]
                continue
            if errors:
                log.warning("export %s: rules not applied: %s", export.key, errors)
        if failed:
            raise ExportsFailed(f"{self.name} could not export: {failed}", failed)

    def healthy(self) -> bool:
        """True when the NFS server is serving (used by the periodic check)."""
        return not self.problems()

    def alive(self) -> bool:
        """A cheap look (no process where the host can avoid one), asked every
        second or so: False when the daemon this helper owns has died. A helper
        with no daemon of its own is always alive."""
        return True
