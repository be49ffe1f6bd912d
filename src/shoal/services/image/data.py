"""Image data: upload (queued -> saving -> active), staging and glance-direct import
(queued -> uploading -> importing -> active), and download.

Data streams through: it is written to a part file of the store as it arrives,
hashed (md5 `checksum`, sha512 `os_hash_value`) and inspected on the way, and only
becomes the image's data once it is complete, the right format, safe, and within
the project's quota. Whatever fails -- a truncated or aborted upload, a format that
is not what `disk_format` says, a quota exceeded -- the part file is removed and
the image is `queued` again, as if the upload had never started."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import update

from shoal.db import models
from shoal.drivers.images import ImageStore
from shoal.drivers.images.base import STAGING, STORE

from ..common import core as c
from ..common import quotas as q
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, OverQuota
from ..common.image_format import QEMU_FORMATS, InspectedStream, Inspection, qemu_info
from . import rows

log = logging.getLogger(__name__)
I = models.Image
HASH_ALGO = "sha512"
IMPORT_METHODS = ("glance-direct",)


@dataclass(frozen=True)
class Ticket:
    """An upload the request may now stream: where to, and how many bytes at most."""

    image_id: str
    owner: str
    area: str
    disk_format: str | None
    allowance: int
    busy_status: str  # the status the image has while it receives


@dataclass(frozen=True)
class Received:
    size: int
    checksum: str
    os_hash_value: str
    virtual_size: int | None


def mib_up(size: int) -> int:
    return -(-size // q.MiB)


class ImageData:
    def __init__(self, core: c.Core, store: ImageStore):
        self.core = core
        self.store = store

    # ---- upload and stage ------------------------------------------------------------------

    def begin(self, ctx: RequestContext, image_id: str, area: str = STORE) -> Ticket:
        busy = "saving" if area == STORE else "uploading"
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
            rows.must_own(ctx, image, "upload data to this image")
            if image.status == "deactivated":
                raise Forbidden("The requested image has been deactivated. Image data upload is forbidden.")
            if image.status != "queued":
                raise Conflict(f"Image status transition from '{image.status}' to '{busy}' is not allowed")
            if area == STORE and not (image.disk_format and image.container_format):
                raise Invalid("Properties disk_format, container_format must be set prior to saving data.")
            resource = "image_size_total" if area == STORE else "image_stage_total"
            q.check_image(self.core, session, image.owner, image_count_uploading=1, **{resource: 1})
            room = q.image_room(self.core, session, image.owner, resource)
            allowance = self.core.settings.image.max_size
            if room is not None:
                allowance = min(allowance, room * q.MiB)
            image.status = busy
        return Ticket(image_id, image.owner, area, image.disk_format, allowance, busy)

    def receive(self, ticket: Ticket, chunks: Iterable[bytes]) -> None:
        """Stream `chunks` into the store; on any failure nothing is kept and the image is queued again."""
        writer = self.store.writer(ticket.image_id, ticket.area)
        try:
            inspected = InspectedStream(chunks, ticket.disk_format) if ticket.area == STORE else None
            received = self._copy(inspected if inspected is not None else chunks, writer.write, ticket.allowance)
            writer.flush()
            if inspected is not None:
                received = self._checked(received, inspected.verdict(), writer.part_path, ticket.disk_format)
            writer.commit()
            if not self._settle(ticket, received):
                log.info("image %s was deleted while its data arrived; dropping the data", ticket.image_id)
                self.store.delete(ticket.image_id, ticket.area)
        except BaseException:
            writer.discard()
            self._requeue(ticket.image_id, ticket.busy_status)
            raise

    @staticmethod
    def _copy(chunks: Iterable[bytes], write, allowance: int) -> Received:
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.new(HASH_ALGO)
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > allowance:
                raise OverQuota(f"Image exceeds the storage quota or the image size cap: at most {allowance} bytes "
                                f"may be uploaded to this image.")
            md5.update(chunk)
            sha.update(chunk)
            try:
                write(chunk)
            except OSError as exc:
                raise OverQuota(f"Image storage media is full: {exc.strerror or exc}") from None
        return Received(size, md5.hexdigest(), sha.hexdigest(), None)

    def _checked(self, received: Received, verdict: Inspection, path: str, disk_format: str) -> Received:
        """qemu-img must agree the data is safe; the virtual size."""
        virtual = verdict.virtual_size  # the inspector's: a raw image's exact size, not qemu's sector-rounded one
        if disk_format in QEMU_FORMATS:
            info = qemu_info(self.store.host, path, disk_format)  # refuses what qemu-img cannot vouch for
            virtual = virtual or info.get("virtual-size")
        return Received(received.size, received.checksum, received.os_hash_value, virtual)

    def _settle(self, ticket: Ticket, received: Received) -> bool:
        """Record the data, within quota (counted now, with every other upload that
        finished meanwhile); False when the image is gone."""
        with self.core.db.session() as session:
            resource = "image_size_total" if ticket.area == STORE else "image_stage_total"
            q.check_image(self.core, session, ticket.owner, excluding=ticket.image_id,
                          **{resource: mib_up(received.size)})
            if ticket.area == STORE:
                values = dict(status="active", size=received.size, checksum=received.checksum,
                              os_hash_algo=HASH_ALGO, os_hash_value=received.os_hash_value,
                              virtual_size=received.virtual_size, stage_size=None)
            else:
                values = dict(status="uploading", stage_size=received.size)
            done = session.execute(update(I).where(I.id == ticket.image_id, I.status == ticket.busy_status)
                                   .values(**values, updated_at=models.utcnow()))
            return done.rowcount > 0

    def _requeue(self, image_id: str, busy: str, **also) -> None:
        try:
            with self.core.db.session() as session:
                session.execute(update(I).where(I.id == image_id, I.status == busy)
                                .values(status="queued", updated_at=models.utcnow(), **also))
        except Exception as exc:  # the original failure is what the caller must see
            log.error("image %s: could not set it queued again: %s", image_id, exc)

    # ---- import ----------------------------------------------------------------------------

    def start_import(self, ctx: RequestContext, image_id: str, method: object) -> None:
        name = method.get("name") if isinstance(method, dict) else None
        if name not in IMPORT_METHODS:
            raise Invalid(f"Import method {name!r} is not supported: use one of {', '.join(IMPORT_METHODS)}.")
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
            rows.must_own(ctx, image, "import data into this image")
            if image.status != "uploading" or image.stage_size is None:
                raise Conflict("Image needs to be staged before 'glance-direct' method can be used")
            if not (image.disk_format and image.container_format):
                raise Conflict("'disk_format' needs to be set before import")
            q.check_image(self.core, session, image.owner, excluding=image_id,
                          image_size_total=mib_up(image.stage_size))
            image.status = "importing"
            plan = (image_id, image.owner, image.disk_format)
        self.core.tasks.submit(self._import, *plan)

    def _import(self, image_id: str, owner: str, disk_format: str) -> None:
        ticket = Ticket(image_id, owner, STORE, disk_format, self.core.settings.image.max_size, "importing")
        try:
            with self.store.open(image_id, STAGING) as data:
                inspected = InspectedStream(iter(lambda: data.read(1 << 20), b""), disk_format)
                received = self._copy(inspected, lambda _chunk: None, ticket.allowance)
            received = self._checked(received, inspected.verdict(), self.store.path(image_id, STAGING), disk_format)
            self.store.promote(image_id)
            if not self._settle(ticket, received):
                self.store.delete(image_id)
        except Exception as exc:
            log.warning("image %s: import failed: %s", image_id, exc)
            self.store.delete(image_id, STAGING)
            self._requeue(image_id, "importing", stage_size=None)

    # ---- download --------------------------------------------------------------------------

    def data_path(self, ctx: RequestContext, image_id: str) -> tuple[models.Image, str | None]:
        """The image and the path of its data (None when it has none yet)."""
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
        if image.status == "deactivated" and not ctx.is_admin:
            raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")
        if image.status not in ("active", "deactivated"):
            return image, None
        return image, self.store.path(image_id)

    # ---- after a restart -------------------------------------------------------------------

    def recover(self) -> None:
        """Uploads and imports a restart cut short: their part files are gone (store.start);
        their images are queued again, staged data and all."""
        with self.core.db.session() as session:
            stuck = list(session.execute(
                update(I).where(I.status.in_(("saving", "importing"))).values(status="queued", stage_size=None)
                .returning(I.id)).scalars())
            session.execute(update(I).where(I.status == "uploading", I.stage_size.is_(None)).values(status="queued"))
        for image_id in stuck:  # data a crash left between the store and the record
            self.store.delete(image_id, STAGING)
            self.store.delete(image_id, STORE)
