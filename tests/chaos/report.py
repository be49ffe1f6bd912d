"""The counts of a run: operations by kind and outcome, kills by kind, invariant violations."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .invariants import Violation


@dataclass
class Report:
    seed: int
    replay: str  # the command line that replays this run
    kills: Counter = field(default_factory=Counter)
    kill_log: list[str] = field(default_factory=list)
    skipped_kinds: dict[str, str] = field(default_factory=dict)  # kill kind -> why it is never killed
    violations: list[tuple[int, str, Violation]] = field(default_factory=list)  # (round, after what, violation)
    checks: int = 0
    seen: Counter = field(default_factory=Counter)  # violation -> in how many checks

    def kill(self, round_no: int, kind: str, what: str) -> None:
        self.kills[kind] += 1
        self.kill_log.append(f"round {round_no}: {what}")

    def add(self, round_no: int, after: str, found: list[Violation]) -> list[Violation]:
        """Record a check's violations; returns those not seen in an earlier check."""
        self.checks += 1
        seen = {str(v) for _, _, v in self.violations}
        new = [v for v in found if str(v) not in seen]
        self.seen.update(str(v) for v in found)
        self.violations += [(round_no, after, v) for v in new]
        return new

    def render(self, outcomes: Counter, failures: list[str], client_repairs: list[str], read_back: int) -> str:
        ops = Counter()
        for (op, outcome), n in outcomes.items():
            ops[op] += n
        by_outcome = Counter()
        for (_, outcome), n in outcomes.items():
            by_outcome[outcome] += n
        lines = [f"seed {self.seed} (replay: {self.replay})",
                 f"operations: {sum(ops.values())} ({', '.join(f'{k} {v}' for k, v in sorted(by_outcome.items()))})"]
        for op in sorted(ops):
            detail = ", ".join(f"{o} {n}" for (name, o), n in sorted(outcomes.items()) if name == op)
            lines.append(f"  {op}: {detail}")  # by the operation drawn (at a cap, a create deletes instead)
        lines.append(f"kills: {sum(self.kills.values())} ({', '.join(f'{k} {v}' for k, v in sorted(self.kills.items())) or 'none'})")
        lines += [f"  {entry}" for entry in self.kill_log]
        lines += [f"  never killed: {kind}: {why}" for kind, why in self.skipped_kinds.items()]
        if client_repairs:
            lines.append(f"client-side repairs (what nova would do): {len(client_repairs)}")
            lines += [f"  {r}" for r in client_repairs]
        if failures:
            lines.append(f"operations that did not succeed (not violations by themselves): {len(failures)}")
            lines += [f"  {f}" for f in failures[:40]]
        lines.append(f"snapshots read back (marker found): {read_back}")
        lines.append(f"invariant checks: {self.checks}; violations: {len(self.violations)} (each once, in the check "
                     "that first saw it)")
        lines += [f"  round {r} (after {after}; in {self.seen[str(v)]} of the checks): {v}"
                  for r, after, v in self.violations]
        return "\n".join(lines)

    def save(self, path: Path, outcomes: Counter) -> None:
        path.write_text(json.dumps({
            "seed": self.seed, "replay": self.replay,
            "operations": {f"{op}:{outcome}": n for (op, outcome), n in sorted(outcomes.items())},
            "kills": dict(self.kills), "kill_log": self.kill_log,
            "violations": [{"round": r, "after": a, "kind": v.kind, "detail": v.detail} for r, a, v in self.violations],
        }, indent=1))
