"""One small argv builder per `zfs`/`zpool` verb, and the parsers of their output.

Pure functions: no process is started here, so every command line is
unit-tested as data. Parsable output is always asked for with `-H -p`.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence


def _opts(properties: Mapping[str, str] | None) -> list[str]:
    argv: list[str] = []
    for key, value in (properties or {}).items():
        argv += ["-o", f"{key}={value}"]
    return argv


def create(dataset: str, properties: Mapping[str, str] | None = None, parents: bool = False) -> list[str]:
    return ["zfs", "create", *(["-p"] if parents else []), *_opts(properties), dataset]


def create_volume(dataset: str, size_bytes: int, properties: Mapping[str, str] | None = None, sparse: bool = True) -> list[str]:
    return ["zfs", "create", *(["-s"] if sparse else []), "-V", str(size_bytes), *_opts(properties), dataset]


def destroy(name: str, recursive: bool = False, force: bool = False) -> list[str]:
    return ["zfs", "destroy", *(["-r"] if recursive else []), *(["-f"] if force else []), name]


def snapshot(name: str) -> list[str]:
    return ["zfs", "snapshot", name]


def clone(snapshot_name: str, dataset: str, properties: Mapping[str, str] | None = None) -> list[str]:
    return ["zfs", "clone", *_opts(properties), snapshot_name, dataset]


def promote(dataset: str) -> list[str]:
    return ["zfs", "promote", dataset]


def rollback(snapshot_name: str, destroy_later: bool = False) -> list[str]:
    return ["zfs", "rollback", *(["-r"] if destroy_later else []), snapshot_name]


def rename(old: str, new: str) -> list[str]:
    return ["zfs", "rename", old, new]


def set_properties(name: str, properties: Mapping[str, str]) -> list[str]:
    """One `zfs set` for all of them (zfs-fuse takes one per call: `Zfs.set` loops there)."""
    if not properties:
        raise ValueError("zfs set needs at least one property")
    return ["zfs", "set", *(f"{key}={value}" for key, value in properties.items()), name]


def inherit(name: str, prop: str) -> list[str]:
    return ["zfs", "inherit", prop, name]


def mount(dataset: str) -> list[str]:
    return ["zfs", "mount", dataset]


def unmount(dataset: str, force: bool = False) -> list[str]:
    return ["zfs", "umount", *(["-f"] if force else []), dataset]


def get(names: Sequence[str], props: Iterable[str], recursive: bool = False, depth: int | None = None) -> list[str]:
    argv = ["zfs", "get", "-H", "-p", "-o", "name,property,value"]
    if depth is not None:
        argv += ["-d", str(depth)]
    elif recursive:
        argv.append("-r")
    return argv + [",".join(props), *names]


def list_names(root: str, types: str = "filesystem,volume", depth: int | None = None) -> list[str]:
    """Names only: zfs-fuse's `zfs list` has no `-p`, so numbers come from `zfs get -p`."""
    argv = ["zfs", "list", "-H", "-o", "name", "-t", types]
    argv += ["-d", str(depth)] if depth is not None else ["-r"]
    return argv + [root]


def list_mountpoints(root: str) -> list[str]:
    """Every file system under `root` (itself included) with its mountpoint and
    whether it is mounted."""
    return ["zfs", "list", "-H", "-o", "name,mountpoint,mounted", "-t", "filesystem", "-r", root]


def send(snapshot_name: str, incremental_from: str | None = None, intermediates: bool = False) -> list[str]:
    """`-i FROM`: the changes since FROM; `-I FROM`: and every snapshot in between."""
    flag = "-I" if intermediates else "-i"
    return ["zfs", "send", *([flag, incremental_from] if incremental_from else []), snapshot_name]


def receive(dataset: str, force: bool = False) -> list[str]:
    return ["zfs", "receive", *(["-F"] if force else []), dataset]


def zpool_get(pool: str, props: Iterable[str]) -> list[str]:
    return ["zpool", "get", "-H", "-p", ",".join(props), pool]


def zpool_list() -> list[str]:
    return ["zpool", "list", "-H", "-o", "name"]  # zfs-fuse's zpool list has no -p either


# ---- parsing -----------------------------------------------------------


def parse_rows(text: str) -> list[list[str]]:
    """`-H` output: one row per line, tab-separated columns (values may hold spaces)."""
    return [line.split("\t") for line in text.splitlines() if line.strip()]


def parse_get(text: str) -> dict[str, dict[str, str]]:
    """`zfs get -H -p -o name,property,value` → {name: {property: value}}."""
    out: dict[str, dict[str, str]] = {}
    for row in parse_rows(text):
        name, prop, value = row[0], row[1], row[2]
        out.setdefault(name, {})[prop] = value
    return out


def parse_zpool_get(text: str) -> dict[str, str]:
    """`zpool get -H -p` prints name, property, value, source."""
    return {row[1]: row[2] for row in parse_rows(text)}


def parse_size(value: str) -> int:
    """A `-p` size is bytes; zfs-fuse prints some sizes human-readable even with -p."""
    value = value.strip()
    if value in ("-", "none", ""):
        return 0
    if value.isdigit():
        return int(value)
    units = {"B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
    number, unit = value[:-1], value[-1].upper()
    if unit not in units:
        raise ValueError(f"unparseable size {value!r}")
    return int(float(number) * 1024 ** units[unit])


# ---- volumes and dependency tracking (added for the volume driver) ----------------------
#
# zfs-fuse 0.7's `zfs list` has no `-p` and no `clones` column, so the volume
# driver reads the state of a whole pool root with one `zfs get -r` (which takes
# `-p` everywhere) and works out clones by inverting each dataset's `origin`.


def get_sourced(
    names: Sequence[str], props: Iterable[str], recursive: bool = False, depth: int | None = None,
    sources: Iterable[str] | None = None,
) -> list[str]:
    """`zfs get` with the source column (`local`, `inherited from X`, `default`, `-`),
    optionally only values from `sources` (e.g. ["local"])."""
    argv = ["zfs", "get", "-H", "-p", "-o", "name,property,value,source"]
    if sources:
        argv += ["-s", ",".join(sources)]
    if depth is not None:
        argv += ["-d", str(depth)]
    elif recursive:
        argv.append("-r")
    return argv + [",".join(props), *names]


def parse_get_sourced(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    """`zfs get -H -p -o name,property,value,source` → {name: {property: (value, source)}},
    names in the order ZFS printed them."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for row in parse_rows(text):
        name, prop, value = row[0], row[1], row[2]
        source = row[3] if len(row) > 3 else "-"
        out.setdefault(name, {})[prop] = (value, source)
    return out

