"""An image store on a directory: <root>/store/<id> and <root>/staging/<id>, written
through `.<id>.<random>.part` files and renamed into place when complete."""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO

from shoal.hosts import LocalHost

from .base import STAGING, STORE, DataWriter, ImageStore

_ID = re.compile(r"^[0-9a-fA-F-]{36}$")


def _checked(image_id: str) -> str:
    if not _ID.match(image_id):  # names come from ids only; never a path from elsewhere
        raise ValueError(f"not an image id: {image_id!r}")
    return image_id


class FileWriter(DataWriter):
    def __init__(self, target: Path):
        self._target = target
        self._part = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
        self._file = open(os.open(self._part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        self._done = False

    @property
    def part_path(self) -> str:
        return str(self._part)

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())

    def commit(self) -> None:
        self.flush()
        self._file.close()
        os.replace(self._part, self._target)
        self._done = True

    def discard(self) -> None:
        if not self._file.closed:
            try:
                self._file.close()
            except OSError:  # the buffered rest cannot be written (quota, full disk): it is not wanted
                pass
        if not self._done:
            self._part.unlink(missing_ok=True)


class DirectoryStore(ImageStore):
    store_id = "file"
    description = "Image data in files on this host"

    def __init__(self, root: str):
        self.root = Path(root)
        self.host = LocalHost()

    def _area(self, area: str) -> Path:
        if area not in (STORE, STAGING):
            raise ValueError(f"no such area: {area}")
        return self.root / area

    def start(self) -> None:
        for area in (STORE, STAGING):
            directory = self._area(area)
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            for part in directory.glob(".*.part"):  # an upload a crash cut short
                part.unlink(missing_ok=True)

    def writer(self, image_id: str, area: str = STORE) -> FileWriter:
        directory = self._area(area)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return FileWriter(directory / _checked(image_id))

    def path(self, image_id: str, area: str = STORE) -> str | None:
        path = self._area(area) / _checked(image_id)
        return str(path) if path.exists() else None

    def open(self, image_id: str, area: str = STORE) -> BinaryIO:
        return open(self._area(area) / _checked(image_id), "rb")

    def promote(self, image_id: str) -> None:
        os.replace(self._area(STAGING) / _checked(image_id), self._area(STORE) / image_id)

    def delete(self, image_id: str, area: str = STORE) -> None:
        (self._area(area) / _checked(image_id)).unlink(missing_ok=True)

    def free_bytes(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.root).free
