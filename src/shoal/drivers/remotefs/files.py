"""A volume's files on its share, named from ids only, and the plain file
commands the driver runs on the storage host (argv builders, unit-tested).

In the share's directory, for volume file `<prefix><id>` (Cinder's names):

- `<prefix><id>`: the base image (raw or qcow2);
- `<prefix><id>.<snapshot id>`: the qcow2 overlay made when that snapshot was
  taken (`tmp-snap-<id>` for a clone's temporary snapshot);
- `<prefix><id>.info`: the chain's map (`info_file`);
- Shoal's own, which Cinder ignores and never takes for a backing file (the
  chain's regex wants hex after the dot): `.shoal-meta` (the base image's
  format, Cinder's `base_format` admin metadata), `.shoal-pending` (the
  journal of a snapshot delete under way, `journal`), `.shoal-revert` (a
  revert's new overlay before it is renamed into place).

Ids are checked before any name is built: hex and '-', as UUIDs are. A file
name therefore never holds a glob character, a slash or a space.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from shoal.drivers.base import InvalidRequest
from shoal.hosts import Host

_ID = re.compile(r"[0-9a-fA-F][0-9a-fA-F-]{0,63}")
TMP_SNAP = "tmp-snap-"
META, PENDING, REVERT = "shoal-meta", "shoal-pending", "shoal-revert"


def checked_id(value: str, what: str) -> str:
    """`value` if it can be part of a file name (and of a chain member's name)."""
    if not _ID.fullmatch(value or ""):
        raise InvalidRequest(f"{what} id {value!r} is not a UUID (hex digits and '-')")
    return value


@dataclass(frozen=True)
class VolumeFiles:
    directory: str
    name: str  # <volume_prefix><id>

    def path(self, basename: str) -> str:
        return f"{self.directory}/{basename}"

    @property
    def base(self) -> str:
        return self.path(self.name)

    @property
    def info(self) -> str:
        return self.path(f"{self.name}.info")

    @property
    def meta(self) -> str:
        return self.path(f"{self.name}.{META}")

    @property
    def pending(self) -> str:
        return self.path(f"{self.name}.{PENDING}")

    @property
    def revert_tmp(self) -> str:
        return self.path(f"{self.name}.{REVERT}")

    def overlay(self, snapshot_id: str) -> str:
        """Basename of the overlay a snapshot creates."""
        return f"{self.name}.{snapshot_id}"


# ---- the base image's format (Shoal's stand-in for Cinder's admin metadata) ----------


def read_base_format(host: Host, files: VolumeFiles) -> str | None:
    text = host.read_file(files.meta)
    if not text:
        return None
    try:
        value = json.loads(text).get("base_format")
    except (json.JSONDecodeError, AttributeError):
        return None
    return value if value in ("raw", "qcow2") else None


def write_base_format(host: Host, files: VolumeFiles, fmt: str, mode: int) -> None:
    host.write_file(files.meta, json.dumps({"base_format": fmt}), mode=mode)


# ---- argv builders ------------------------------------------------------------------------


def move(src: str, dst: str) -> list[str]:
    """Rename, replacing `dst` (atomic within one file system)."""
    return ["mv", "-f", "-T", "--", src, dst]


def exists(path: str) -> list[str]:
    return ["test", "-e", path]


def list_volume_files(directory: str, name: str) -> list[str]:
    """Every file of volume `name` in `directory`: the base and `<name>.*`
    (`name` holds no glob character: it is a checked prefix and id)."""
    return ["find", directory, "-mindepth", "1", "-maxdepth", "1", "(", "-name", name, "-o", "-name", f"{name}.*", ")",
            "-printf", "%f\\0"]


def list_interrupted(directory: str, prefix: str) -> list[str]:
    """The journals and revert temporaries of every volume in `directory`."""
    return ["find", directory, "-mindepth", "1", "-maxdepth", "1", "(", "-name", f"{prefix}*.{PENDING}", "-o", "-name",
            f"{prefix}*.{REVERT}", ")", "-printf", "%f\\0"]


def list_tree(directory: str) -> list[str]:
    """Every regular file under `directory`, relative to it (manageable volumes)."""
    return ["find", directory, "-mindepth", "1", "-type", "f", "-printf", "%P\\0"]


def remove(paths: list[str]) -> list[str]:
    return ["rm", "-f", "--", *paths]


def parse_names(text: str) -> list[str]:
    return sorted(name for name in text.split("\0") if name)
