"""iSCSI export helpers: tgt (userspace tgtd) and LIO (kernel target, via targetcli).

`make_helper(kind, host, **options)` builds one from `IscsiConfig` settings:
`portals`, `lun`, `manage_daemon`, `control_port` (the last two matter to tgt
only). `iqn_prefix` is accepted and ignored: the driver builds the IQNs.

Also here, shared by both helpers: the checks a target must pass before any
command is built from it, and how `remove(key)`/`resize(key)` find the IQN.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from shoal.hosts import Host

from .base import IQN_RE, IscsiHelper, IscsiTarget, check_initiator

# CHAP user names end up in tgt's line-based show output and in targetcli's
# space-split command line: no spaces, commas, quotes or control characters.
_CHAP_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:+-]{0,254}")
_CHAP_SECRET = re.compile(r"[!#-&(-+\--\[\]-~]{1,255}")  # printable ASCII but space ' " , \
# tgt re-opens the backing with `--params online=0,path=P` (comma-separated) and
# targetcli splits its command line on spaces: neither may occur in the path.
_BACKING = re.compile(r"/[^\s,'\"\\]*")


class InvalidTarget(ValueError):
    """A target that cannot be exported as given (nothing was changed)."""


def check_target(target: IscsiTarget) -> IscsiTarget:
    """`target`, or InvalidTarget naming what is wrong with it."""
    if not IQN_RE.match(target.iqn):
        raise InvalidTarget(f"target name {target.iqn!r} is not an iqn. name")
    if not _BACKING.fullmatch(target.backing):
        raise InvalidTarget(f"backing {target.backing!r} must be an absolute path without spaces, commas or quotes")
    if not _CHAP_USER.fullmatch(target.chap.user):
        raise InvalidTarget(f"CHAP user {target.chap.user!r} must be 1-255 of letters, digits, . _ @ : + -")
    if not _CHAP_SECRET.fullmatch(target.chap.secret):
        raise InvalidTarget(
            "CHAP secret must be 1-255 printable characters without spaces, quotes, commas or backslashes"
        )
    if not 0 <= target.lun <= 255:
        raise InvalidTarget(f"LUN {target.lun} is not in 0..255")
    for name in target.initiators:
        try:
            check_initiator(name)
        except ValueError as exc:
            raise InvalidTarget(str(exc)) from None
    return target


def iqn_for_key(key: str, known: dict[str, str], iqns: Iterable[str]) -> str | None:
    """The IQN that `key` names: `key` itself when it is an IQN, else the one
    recorded by apply/ensure in this process, else the one existing target whose
    name ends with the key at a boundary (…:KEY, …-KEY, ….KEY) -- how the driver
    names targets after volume ids. None when no target matches; ValueError when
    several do (nothing is deleted on a guess)."""
    if IQN_RE.match(key):
        return key
    if key in known:
        return known[key]
    found = [iqn for iqn in iqns if iqn.endswith(key) and iqn[: -len(key)][-1:] in (":", "-", ".")]
    if len(found) > 1:
        raise ValueError(f"key {key!r} matches several targets: {sorted(found)}")
    return found[0] if found else None


def make_helper(kind: str, host: Host, **options: Any) -> IscsiHelper:
    """The iSCSI helper `kind` ("tgt" or "lio") on `host`."""
    options.pop("iqn_prefix", None)  # the driver builds IQNs
    if kind == "tgt":
        from .tgt import TgtHelper

        return TgtHelper(host, **options)
    if kind == "lio":
        from .lio import LioHelper

        # tgtd's settings mean nothing to the kernel target
        options.pop("manage_daemon", None)
        options.pop("control_port", None)
        return LioHelper(host, **options)
    raise ValueError(f"unknown iSCSI helper {kind!r} (tgt or lio)")


__all__ = ["InvalidTarget", "check_target", "iqn_for_key", "make_helper"]
