"""The chaos harness (`scripts/chaos`): random work on a Shoal of its own while its
processes are killed, and the invariants checked after every restart.

    world.py       the harness's own zfs-fuse (optional), pool, Shoal, ganesha and tgtd
    killer.py      kill -9 of one of them, and what a supervisor does afterwards
    workload.py    random share and volume operations through the HTTP API, several at a time
    invariants.py  steady statuses, database vs backend, snapshot contents, real clients
    report.py      the counts and the violations
    harness.py     the command line and the rounds (work, kill, settle, check)
"""
