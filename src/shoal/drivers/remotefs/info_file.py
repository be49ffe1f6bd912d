"""The `.info` file beside a volume with snapshots, in Cinder's exact form so
that Cinder and Shoal can each read the other's directories (reference §2.3):

    {"active": "<basename of the top image>", "<snapshot id>": "<basename of the
     overlay created when that snapshot was taken>", ...}

JSON with indent=1 and sorted keys, no other keys. A snapshot's data is the
*backing file* of its overlay; the overlay holds what was written after it.
No file, or an empty one, means no snapshots: the active image is the base.
"""

from __future__ import annotations

import json

from shoal.hosts import Host

ACTIVE = "active"


class BadInfoFile(ValueError):
    pass


def parse(text: str | None) -> dict[str, str]:
    if not text or not text.strip():
        return {}
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInfoFile(f"not JSON: {exc}") from None
    if not isinstance(info, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in info.items()):
        raise BadInfoFile("not an object of names")
    if ACTIVE not in info:
        raise BadInfoFile("no 'active' entry")
    for name in info.values():
        if not name or "/" in name:
            raise BadInfoFile(f"entry {name!r} is not a file name in the volume's directory")
    return info


def dumps(info: dict[str, str]) -> str:
    if ACTIVE not in info:
        raise ValueError("an info file needs its 'active' entry")
    return json.dumps(info, indent=1, sort_keys=True)


def snapshots(info: dict[str, str]) -> dict[str, str]:
    """Snapshot id -> overlay basename."""
    return {k: v for k, v in info.items() if k != ACTIVE}


def read(host: Host, path: str) -> dict[str, str]:
    return parse(host.read_file(path))


def write(host: Host, path: str, info: dict[str, str], mode: int) -> None:
    """Atomically: a crash leaves the old file or the new one, never half of one."""
    host.write_file(path, dumps(info), mode=mode)
