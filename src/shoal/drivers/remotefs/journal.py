"""The journal of a snapshot delete under way: `<volume>.shoal-pending`, beside
the volume's files, so that it lives (and dies) with them on the share.

A delete changes two images and the .info file in several steps; a crash
between them would leave a chain that is consistent for reading but not what
the .info file says. The plan is written (atomically) before the first step
and removed after the last, and every step can be run again from any point
(`chain.Chain.finish`), so whoever finds the journal -- `recover` at start, or
the next change to that volume -- finishes the delete.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from shoal.hosts import Host

from .files import VolumeFiles


class BadJournal(ValueError):
    pass


@dataclass(frozen=True)
class DeletePlan:
    snapshot_id: str
    snapshot_file: str  # the overlay that goes away; its data is merged into base_file
    base_file: str  # the snapshot's own data (snapshot_file's backing)
    base_format: str
    higher_file: str | None  # the overlay above snapshot_file; None when snapshot_file is the active image


def dumps(plan: DeletePlan) -> str:
    return json.dumps({"op": "delete_snapshot", **asdict(plan)}, indent=1, sort_keys=True)


def parse(text: str) -> DeletePlan:
    try:
        data = json.loads(text)
        if data.pop("op") != "delete_snapshot":
            raise BadJournal(f"unknown operation {data!r}")
        plan = DeletePlan(**data)
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
        raise BadJournal(f"unreadable journal: {exc}") from None
    names = [plan.snapshot_file, plan.base_file, *([plan.higher_file] if plan.higher_file else [])]
    if any(not isinstance(n, str) or not n or "/" in n for n in names):
        raise BadJournal("a file named in the journal is not a file name")
    return plan


def read(host: Host, files: VolumeFiles) -> DeletePlan | None:
    text = host.read_file(files.pending)
    return parse(text) if text else None


def write(host: Host, files: VolumeFiles, plan: DeletePlan, mode: int) -> None:
    host.write_file(files.pending, dumps(plan), mode=mode)


def remove(host: Host, files: VolumeFiles) -> None:
    host.remove_file(files.pending)
