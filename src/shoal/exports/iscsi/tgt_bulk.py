"""Many tgt targets made by one command on the storage host.

tgtadm takes one request per process. On a host reached over SSH each is a
round trip and a process spawn (five or more per target), so making a
thousand targets again after a tgtd restart took minutes. Here the requests
for every target that tgtd lacks entirely are written as lines of tgtadm's
own arguments into one file, and `xargs -L 1` runs tgtadm once per line on
the host itself: one command over SSH. Whatever it leaves undone is found and
done by the helper's per-target path, which checks every target afterwards.

Only values that need no quoting go into the file (xargs splits lines on
blanks and reads quotes); a target with any other value is left to the
per-target path. The file holds CHAP secrets: mode 0600, removed at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .base import IscsiTarget

_PLAIN = re.compile(r"[A-Za-z0-9._:/@+=,-]+")


def plain(target: IscsiTarget) -> bool:
    """Whether every value of `target` can stand unquoted in an xargs line."""
    values = (target.iqn, target.backing, target.chap.user, target.chap.secret, *target.initiators)
    return all(_PLAIN.fullmatch(value) for value in values)


def request_lines(targets: Iterable[tuple[int, IscsiTarget]]) -> list[str]:
    """tgtadm's arguments (after `-C N --lld iscsi`) to make each (tid, target)
    from nothing: the target, its LUN, its CHAP account bound to it, and its
    initiator ACL, in the order the per-target path makes them."""
    lines = []
    for tid, target in targets:
        lines += [
            f"--op new --mode target --tid {tid} -T {target.iqn}",
            f"--op new --mode logicalunit --tid {tid} --lun {target.lun} --bstype rdwr -b {target.backing}",
            f"--op new --mode account --user {target.chap.user} --password {target.chap.secret}",
            f"--op bind --mode account --tid {tid} --user {target.chap.user}",
            *(f"--op bind --mode target --tid {tid} -Q {name}" for name in dict.fromkeys(target.initiators)),
        ]
    return lines
