"""The contract of an image store. Plain bytes in and out, named by image id;
nothing here knows of HTTP, the database or who may read what.

Two areas per store: `store` holds the data of active images, `staging` holds
data uploaded for a later import (Glance's glance-direct). Every write goes to a
new part file first and only appears under the image's name on `commit`, so a
failed or aborted upload leaves nothing that a reader or a later upload sees."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import BinaryIO

from shoal.hosts import Host

STORE, STAGING = "store", "staging"


class ImageStoreError(Exception):
    """The store cannot be used as configured (raised by `start`, with what to fix)."""


class DataWriter(ABC):
    """One upload in progress."""

    @abstractmethod
    def write(self, chunk: bytes) -> None: ...

    @property
    @abstractmethod
    def part_path(self) -> str:
        """Where the bytes written so far are (for inspection before commit)."""

    @abstractmethod
    def commit(self) -> None:
        """Make the written data the image's data in its area (replacing none: the
        caller made sure the image held no data there). Durable on return."""

    @abstractmethod
    def discard(self) -> None:
        """Remove what was written. Safe to call after commit (then it does nothing)."""


class ImageStore(ABC):
    store_id: str  # what /v2/info/stores and an image's `stores` show
    description: str
    host: Host  # where `path` is reachable: qemu-img runs there

    @abstractmethod
    def start(self) -> None:
        """Make the areas exist and remove part files a crash left. Idempotent.
        ImageStoreError when the store cannot be used as configured."""

    def problems(self) -> list[str]:
        """What keeps the store from starting, for `shoal doctor`; changes nothing."""
        return []

    @abstractmethod
    def writer(self, image_id: str, area: str = STORE) -> DataWriter: ...

    @abstractmethod
    def path(self, image_id: str, area: str = STORE) -> str | None:
        """The image's data as a path on `host`, or None when the area holds none."""

    @abstractmethod
    def open(self, image_id: str, area: str = STORE) -> BinaryIO:
        """The image's data for reading; FileNotFoundError when there is none."""

    @abstractmethod
    def promote(self, image_id: str) -> None:
        """Move staged data into the store (an import). Atomic where the areas share a filesystem."""

    @abstractmethod
    def delete(self, image_id: str, area: str = STORE) -> None:
        """Remove the image's data in `area`; succeeds if there is none."""

    @abstractmethod
    def free_bytes(self) -> int:
        """Bytes that may still be written, as the storage under the store counts them."""
