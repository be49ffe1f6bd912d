"""Images kept by Shoal's own Image service (services.image): records in Shoal's
database, data as files of its image store that qemu-img reads in place."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shoal.db import models

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Invalid, NotFound
from ..image import ImageService
from ..image.data import Ticket
from .base import ImageClient, ImageInfo, LocalImage

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def info_of(image: models.Image) -> ImageInfo:
    return ImageInfo(id=image.id, name=image.name, status=image.status, disk_format=image.disk_format,
                     container_format=image.container_format, size=image.size, virtual_size=image.virtual_size,
                     min_disk=image.min_disk or 0, min_ram=image.min_ram or 0, checksum=image.checksum,
                     updated_at=image.updated_at, properties={p.name: p.value for p in image.properties},
                     visibility=image.visibility)


class BuiltinImages(ImageClient):
    kind = "builtin"
    data_is_local = True

    def __init__(self, core: c.Core, service: ImageService):
        self.core = core
        self.service = service

    def find(self, ctx: RequestContext, image_ref: str) -> ImageInfo:
        try:
            uuid.UUID(image_ref)
        except ValueError:
            found, _ = self.service.images.list(ctx, filters={"name": image_ref}, properties={}, tags=[], sort=[],
                                                limit=2, marker=None)
            if len(found) > 1:
                raise Invalid(f"Invalid input received: Multiple images are named {image_ref}; use the id.") from None
            if not found:
                raise NotFound(f"Image {image_ref} could not be found.") from None
            return info_of(found[0])
        return self.show(ctx, image_ref)

    def show(self, ctx: RequestContext, image_id: str) -> ImageInfo:
        return info_of(self.service.images.get(ctx, image_id))

    @contextmanager
    def local_copy(self, ctx: RequestContext, image: ImageInfo, work_dir: Path) -> Iterator[LocalImage]:
        path = self.service.store.path(image.id)
        have = None if path is None else os.path.getsize(path)
        if have != image.size:
            raise Invalid(f"Image {image.id} is unacceptable: its data is incomplete "
                          f"({'no data' if have is None else f'{have} bytes'}, the image records {image.size} bytes)")
        yield LocalImage(path, self.service.store.host, checked=True)

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> ImageInfo:
        return info_of(self.service.images.create(ctx, body))

    def begin_upload(self, ctx: RequestContext, image_id: str, store: str | None = None) -> Ticket:
        if store not in (None, self.service.store.store_id):
            raise Invalid(f"Invalid input received: the volume type's image_service:store_id names store {store}, "
                          f"and the image service has only store {self.service.store.store_id}")
        return self.service.data.begin(ctx, image_id)

    def upload(self, ticket: Ticket, path: Path) -> None:
        with open(path, "rb") as data:
            self.service.data.receive(ticket, iter(lambda: data.read(CHUNK), b""))

    def discard(self, image_id: str, ticket: Any = None) -> None:
        try:
            with self.core.db.session() as session:
                image = session.get(models.Image, image_id)
                if image is not None and image.status != "active":
                    session.delete(image)
            self.service.store.delete(image_id)
        except Exception as exc:
            log.error("image %s: could not remove it after a failed upload: %s", image_id, exc)

    def lookup(self, image_id: str) -> ImageInfo | None:
        with self.core.db.session() as session:
            image = session.get(models.Image, image_id)
            return None if image is None else info_of(image)

    def on_deleted(self, listener: Callable[[str], None]) -> None:
        self.service.images.deleted_listeners.append(listener)
