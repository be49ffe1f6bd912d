"""What volumes need of an image service, whichever serves the images: Shoal's own
(`builtin`) or an external Glance (`glance`). Cinder's `cinder.image.glance`
plays this part for Cinder.

Plain data in and out (`ImageInfo`); errors from the service taxonomy (`Invalid`,
`NotFound`, `Forbidden`, `ServiceUnavailable`), never a client library's own."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shoal.hosts import Host

from ..common.context import RequestContext


class CannotTell(Exception):
    """Whether an image is there (and as it was) is unknown for now."""


class NotVisible(CannotTell):
    """The image is not shown to Shoal, which does not see every image: gone, or
    another project's (not public, not community) -- which of them is unknown."""


@dataclass(frozen=True)
class ImageInfo:
    """An image's record as Glance v2 shows it (the fields volumes use)."""

    id: str
    name: str | None
    status: str
    disk_format: str | None
    container_format: str | None
    size: int | None
    virtual_size: int | None
    min_disk: int
    min_ram: int
    checksum: str | None
    updated_at: datetime | None  # naive UTC, as Shoal's database keeps times
    properties: dict[str, str] = field(default_factory=dict)  # the image's own (not Glance's base) properties
    visibility: str | None = None  # public, private, shared or community


@dataclass(frozen=True)
class LocalImage:
    """An image's data as a file that qemu-img reads on `host`."""

    path: str
    host: Host
    checked: bool  # already inspected as safe and of its disk_format when it was stored


class ImageClient(ABC):
    """The image operations of volumes from images and images from volumes."""

    kind: str  # "builtin" or "glance"
    # Whether a request can check the image's data itself before anything is made
    # (true when the data is a local file); else the data is checked once downloaded.
    data_is_local: bool

    @abstractmethod
    def find(self, ctx: RequestContext, image_ref: str) -> ImageInfo:
        """The image `image_ref` names for the caller: by id, else by name when exactly one
        visible image has it (as Cinder). NotFound when none; Invalid when several share it."""

    @abstractmethod
    def show(self, ctx: RequestContext, image_id: str) -> ImageInfo:
        """The image as it is now; NotFound when the caller sees none of that id."""

    @abstractmethod
    def local_copy(self, ctx: RequestContext, image: ImageInfo, work_dir: Path) -> AbstractContextManager[LocalImage]:
        """The image's data as a local file for the length of the `with`: the store's own file,
        or a download (streamed, its hash verified) into `work_dir`, removed afterwards."""

    @abstractmethod
    def create(self, ctx: RequestContext, body: dict[str, Any]) -> ImageInfo:
        """A new `queued` image of the caller from a Glance v2 create body (extra keys: properties)."""

    @abstractmethod
    def begin_upload(self, ctx: RequestContext, image_id: str, store: str | None = None) -> Any:
        """In the request: the upload of the image's data may start (status, quotas), into
        the service's store `store` (Cinder's volume-type extra spec `image_service:store_id`;
        None: its default). Returns the ticket `upload` and `discard` take in the background."""

    @abstractmethod
    def upload(self, ticket: Any, path: Path) -> None:
        """Stream the file at `path` as the image's data; the image ends `active`."""

    @abstractmethod
    def discard(self, image_id: str, ticket: Any = None) -> None:
        """Remove an image whose upload failed, record and data (as Cinder does), with the
        uploader's ticket when there is one; never raises (a failure is logged)."""

    @abstractmethod
    def lookup(self, image_id: str) -> ImageInfo | None:
        """The image as it is now, asked without a caller (the image-volume cache's
        checks, as Shoal itself); None when it is gone. Raises CannotTell when this
        service cannot say (unreachable), NotVisible when Shoal, which may not see
        every image, sees none of that id."""

    @abstractmethod
    def on_deleted(self, listener: Callable[[str], None]) -> None:
        """Call `listener(image_id)` for each image deleted, where the service tells."""
