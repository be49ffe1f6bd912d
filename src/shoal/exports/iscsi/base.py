"""The contract every iSCSI export helper fulfils (tgt, LIO).

One volume is one target with one LUN backed by a block device or a file.
Each target has its own CHAP account, and an ACL of initiator IQNs: an
initiator not on the list cannot log in (or does not see the target). The
helper is told the whole desired state of a target each time (`apply`), so a
re-export after a daemon restart and an attach are the same call.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

# RFC 3720 iqn. names: iqn.YYYY-MM.reversed.domain[:anything printable without spaces]
IQN_RE = re.compile(r"^iqn\.\d{4}-\d{2}\.[a-z0-9][a-z0-9.-]*(:[^\s,;'\"\\]+)?$")
EUI_RE = re.compile(r"^eui\.[0-9A-Fa-f]{16}$")


class InvalidInitiator(ValueError):
    pass


def check_initiator(name: object) -> str:
    """An initiator name as iSCSI allows it (iqn. or eui.), or InvalidInitiator."""
    if not isinstance(name, str) or len(name) > 223:
        raise InvalidInitiator(f"initiator {name!r} is not an iSCSI name")
    if not (IQN_RE.match(name) or EUI_RE.match(name)):
        raise InvalidInitiator(f"initiator {name!r} is not a valid iqn. or eui. name")
    return name


@dataclass(frozen=True)
class Chap:
    user: str
    secret: str


@dataclass(frozen=True)
class IscsiTarget:
    """The desired state of one volume's target.

    `key` is a stable id (the volume id) naming the target in the helper's own
    bookkeeping; `iqn` the target name; `backing` the file or block device.
    """

    key: str
    iqn: str
    backing: str
    chap: Chap
    initiators: tuple[str, ...] = ()
    lun: int = 1


@dataclass(frozen=True)
class Portal:
    address: str
    port: int = 3260

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


class IscsiHelper(ABC):
    """One iSCSI target flavour on one storage host."""

    name: str

    @abstractmethod
    def problems(self) -> list[str]:
        """What is missing for this helper to work, each with the command that fixes it."""

    @abstractmethod
    def start(self) -> None:
        """Make the target daemon usable (start it if the helper owns it). Idempotent."""

    @abstractmethod
    def portals(self) -> list[Portal]:
        """Where initiators reach the targets."""

    @abstractmethod
    def apply(self, target: IscsiTarget) -> None:
        """Create or update `target` so that exactly its LUN, CHAP account and
        initiator ACL hold (initiators not listed are removed). Idempotent."""

    @abstractmethod
    def remove(self, key: str) -> None:
        """Delete the target, its LUN and account. Succeeds if it does not exist."""

    @abstractmethod
    def iqns(self) -> list[str]:
        """The IQN of every target the daemon holds now (Shoal's and others'),
        read from the daemon: what a crash may have left is found here."""

    def target_states(self) -> dict[str, bool]:
        """{IQN: serving} for every target of iqns(), from one read of the daemon:
        serving when every LUN has its backing store (what an initiator can
        read). A helper that cannot tell says every target serves."""
        return dict.fromkeys(self.iqns(), True)

    @abstractmethod
    def ensure(self, targets: list[IscsiTarget], fresh: bool = False) -> None:
        """After a restart of Shoal or of the target daemon: make every target
        in `targets` exist again with its LUN, CHAP and ACL. `fresh`: the file
        systems holding the backing files were mounted again, so every backing
        file is opened anew (the daemon's open files are on the mounts that went)."""

    @abstractmethod
    def resize(self, key: str) -> None:
        """Tell initiators that the backing of `key` grew (online extend)."""

    def healthy(self) -> bool:
        return not self.problems()

    def alive(self) -> bool:
        """A cheap look, asked every second or so: False when the target daemon
        this helper owns has died (and with it every target), or the kernel's
        target lost every target this helper made (restarted or cleared)."""
        return True
