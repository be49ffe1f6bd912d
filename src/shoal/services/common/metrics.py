"""Counters the services move for /metrics: recovery passes and what they repaired.

The recovery code calls these; one label, `kind`, from a fixed set, so the
series stay few whatever the resources are called.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

log = logging.getLogger(__name__)

KINDS = ("share", "volume", "share_replica")
OTHER = "other"

RECOVERY_RUNS = Counter("shoal_recovery_runs", "Recovery passes (at start-up and by the periodic check).", ["kind"])
RECOVERY_FIXED = Counter("shoal_recovery_fixed",
                         "Resources a recovery pass repaired (exports restored, interrupted work finished).", ["kind"])
RECOVERY_FAILED = Counter("shoal_recovery_failed", "Resources a recovery pass could not repair.", ["kind"])

for _kind in KINDS:  # every series present from the start, at 0
    for _counter in (RECOVERY_RUNS, RECOVERY_FIXED, RECOVERY_FAILED):
        _counter.labels(_kind)


def _kind(kind: str) -> str:
    if kind in KINDS:
        return kind
    log.warning("recovery metrics: unknown kind %r counted as %r", kind, OTHER)
    return OTHER


def recovery_run(kind: str) -> None:
    """A recovery pass of `kind` ("share", "volume", "share_replica") began."""
    RECOVERY_RUNS.labels(_kind(kind)).inc()


def recovery_fixed(kind: str, n: int = 1) -> None:
    """A pass repaired `n` resources (an export restored, interrupted work finished or failed cleanly)."""
    if n > 0:
        RECOVERY_FIXED.labels(_kind(kind)).inc(n)


def recovery_failed(kind: str, n: int = 1) -> None:
    """A pass could not repair `n` resources (each left in error with its reason)."""
    if n > 0:
        RECOVERY_FAILED.labels(_kind(kind)).inc(n)
