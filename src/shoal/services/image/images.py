"""Image records: create, list, show, update (JSON patch, as Glance takes it),
delete, deactivate and reactivate, tags. The data is data.py's; members members.py's."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, exists, or_, select, true

from shoal.db import models
from shoal.drivers.images import ImageStore
from shoal.drivers.images.base import STAGING, STORE

from ..common import core as c
from ..common import quotas as q
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound, OverQuota
from . import rows
from .schema import CORE, check_attribute, validate_image

log = logging.getLogger(__name__)
I, M = models.Image, models.ImageMember
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at",
             "visibility", "owner", "min_disk", "min_ram", "virtual_size", "protected", "os_hidden")
EXACT_FILTERS = ("name", "status", "owner", "checksum", "os_hash_value", "container_format", "disk_format", "id")
AMI_FORMATS = ("ami", "ari", "aki")
DEFAULT_LIMIT, MAX_LIMIT = 25, 1000


def _document(image: models.Image) -> dict[str, Any]:
    """The user-settable view of an image that the schema checks."""
    doc = {k: getattr(image, k) for k in CORE if k != "tags"}
    doc.update(rows.properties(image))
    doc["tags"] = rows.tags(image)
    return doc


def _check_formats(disk_format: str | None, container_format: str | None) -> None:
    if (disk_format in AMI_FORMATS or container_format in AMI_FORMATS) and disk_format and container_format \
            and disk_format != container_format:
        raise Invalid("Invalid mix of disk and container formats. When setting a disk or container format to one of "
                      "'aki', 'ari', or 'ami', the container and disk formats must match.")


def _check_counts(props: dict, tags: list) -> None:
    if len(props) > rows.PROPERTY_LIMIT:
        raise OverQuota(f"Maximum number of image properties exceeded ({rows.PROPERTY_LIMIT}).")
    if len(tags) > rows.TAG_LIMIT:
        raise OverQuota(f"Maximum number of image tags exceeded ({rows.TAG_LIMIT}).")


def _may_set_visibility(ctx: RequestContext, visibility: str | None) -> None:
    if visibility == "public" and not ctx.is_admin:
        raise Forbidden("You are not authorized to complete publicize_image action.")


class Images:
    def __init__(self, core: c.Core, store: ImageStore):
        self.core = core
        self.store = store
        # Called with the id of each image deleted, once it is gone (the image-volume
        # cache drops its entries); a listener's failure is logged, the delete stands.
        self.deleted_listeners: list[Callable[[str], None]] = []

    # ---- create --------------------------------------------------------------------------

    def create(self, ctx: RequestContext, body: Any) -> models.Image:
        if not isinstance(body, dict):
            raise Invalid("Malformed request body: an image object is expected")
        for key in body:
            check_attribute(key, creating=True)
        owner = body.get("owner") or ctx.project_id
        if owner != ctx.project_id and not ctx.is_admin:
            raise Forbidden(f"You are not permitted to create images owned by '{owner}'.")
        doc = {"visibility": "shared", "protected": False, "os_hidden": False, "min_disk": 0, "min_ram": 0,
               "tags": [], **body, "owner": owner}
        validate_image(doc)
        _may_set_visibility(ctx, doc["visibility"])
        _check_formats(doc.get("disk_format"), doc.get("container_format"))
        core = {k: doc.pop(k) for k in CORE if k in doc}
        image_id = doc.pop("id", None) or models.new_id()
        tags = sorted(set(core.pop("tags")))
        _check_counts(doc, tags)
        with self.core.db.session() as session:
            q.check_image(self.core, session, owner, image_count_total=1)
            if session.get(I, image_id) is not None:
                raise Conflict(f"Image with identifier {image_id} already exists!")
            image = I(id=image_id, status="queued", **core)
            image.properties = [models.ImageProperty(name=k, value=v) for k, v in doc.items()]
            image.tags = [models.ImageTag(value=t) for t in tags]
            session.add(image)
        return image

    # ---- read ----------------------------------------------------------------------------

    def get(self, ctx: RequestContext, image_id: str) -> models.Image:
        with self.core.db.session() as session:
            return rows.get_image(session, ctx, image_id)

    def list(self, ctx: RequestContext, *, filters: dict[str, str], properties: dict[str, str], tags: list[str],
             sort: list[tuple[str, str]], limit: int | None, marker: str | None) -> tuple[list[models.Image], bool]:
        """A page of images and whether more follow."""
        limit = min(DEFAULT_LIMIT if limit is None else limit, MAX_LIMIT)
        for key, direction in sort:
            if key not in SORT_KEYS:
                raise Invalid(f"Invalid sort key: {key}. It must be one of the following: {', '.join(SORT_KEYS)}.")
            if direction not in ("asc", "desc"):
                raise Invalid(f"Invalid sort direction: {direction}")
        keys = [k for k, _ in sort]
        sort = sort + [(k, "desc") for k in ("created_at", "id") if k not in keys]
        with self.core.db.session() as session:
            query = select(I).where(self._scope(ctx, filters))
            query = self._filtered(query, filters, properties, tags)
            query = query.order_by(*(getattr(I, k).asc() if d == "asc" else getattr(I, k).desc() for k, d in sort))
            found = list(session.scalars(query))
            if marker:
                at = next((n for n, image in enumerate(found) if image.id == marker), None)
                if at is None:
                    if session.scalars(select(I.id).where(I.id == marker, rows.visible(ctx))).first() is None:
                        raise Invalid(f"Invalid marker. Image {marker} could not be found.")
                    at = -1  # visible but filtered out: nothing after it is known
                    found = []
                found = found[at + 1:]
            return found[:limit], len(found) > limit

    def _scope(self, ctx: RequestContext, filters: dict[str, str]):
        """Glance's list scope: what a caller lists without a visibility filter is its own
        images, public ones and shared ones it accepted (an admin: every image)."""
        visibility = filters.pop("visibility", None)
        member_status = filters.pop("member_status", "accepted")
        mine, me = I.owner == ctx.project_id, ctx.project_id
        shared_with_me = rows.is_member(me, None if member_status == "all" else member_status)
        if visibility in (None, "all"):
            if ctx.is_admin:
                return true()
            base = [mine, I.visibility == "public", and_(I.visibility == "shared", shared_with_me)]
            if visibility == "all":
                base.append(I.visibility == "community")
            return or_(*base)
        if visibility not in ("public", "private", "shared", "community"):
            raise Invalid(f"Invalid visibility value: {visibility}")
        if visibility in ("public", "community"):
            return I.visibility == visibility
        if ctx.is_admin:
            return I.visibility == visibility
        if visibility == "private":
            return and_(I.visibility == "private", mine)
        return and_(I.visibility == "shared", or_(mine, shared_with_me))

    def _filtered(self, query, filters: dict[str, str], properties: dict[str, str], tags: list[str]):
        for key in EXACT_FILTERS:
            value = filters.pop(key, None)
            if value is None:
                continue
            if value.startswith("in:"):
                query = query.where(getattr(I, key).in_([v.strip('"') for v in value[3:].split(",")]))
            else:
                query = query.where(getattr(I, key) == value)
        for key, column, compare in (("size_min", I.size, "ge"), ("size_max", I.size, "le")):
            if (value := filters.pop(key, None)) is not None:
                if not value.isdigit():
                    raise Invalid(f"Invalid value for {key}: {value}")
                query = query.where(column >= int(value) if compare == "ge" else column <= int(value))
        for key in ("protected", "os_hidden"):
            value = filters.pop(key, "false" if key == "os_hidden" else None)
            if value is None:
                continue
            if value.lower() not in ("true", "false"):
                raise Invalid(f"Invalid value '{value}' for parameter '{key}': must be true or false.")
            query = query.where(getattr(I, key) == (value.lower() == "true"))
        for name, value in properties.items():
            query = query.where(exists().where(models.ImageProperty.image_id == I.id,
                                               models.ImageProperty.name == name, models.ImageProperty.value == value))
        for tag in tags:
            query = query.where(exists().where(models.ImageTag.image_id == I.id, models.ImageTag.value == tag))
        return query

    # ---- update --------------------------------------------------------------------------

    def update(self, ctx: RequestContext, image_id: str, ops: list[tuple[str, str, Any]]) -> models.Image:
        """Apply JSON-patch operations (op, attribute, value), all or nothing."""
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
            rows.must_own(ctx, image)
            doc = _document(image)
            for op, name, value in ops:
                self._apply(ctx, image, doc, op, name, value)
            validate_image(doc)
            _check_formats(doc.get("disk_format"), doc.get("container_format"))
            tags = sorted(set(doc.pop("tags")))
            for key in CORE:
                if key != "tags" and getattr(image, key) != doc.get(key):
                    setattr(image, key, doc.get(key))
            props = {k: v for k, v in doc.items() if k not in CORE}
            _check_counts(props, tags)
            if props != rows.properties(image):
                image.properties = [models.ImageProperty(name=k, value=v) for k, v in sorted(props.items())]
            if tags != rows.tags(image):
                image.tags = [models.ImageTag(value=t) for t in tags]
            image.updated_at = models.utcnow()
        return self.get(ctx, image_id)

    def _apply(self, ctx: RequestContext, image: models.Image, doc: dict, op: str, name: str, value: Any) -> None:
        check_attribute(name, creating=False)
        if name in ("disk_format", "container_format") and image.status != "queued" and value != doc.get(name):
            raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
        if name == "visibility":
            _may_set_visibility(ctx, value)
        if name == "owner" and not ctx.is_admin and value != image.owner:
            raise Forbidden("Attribute 'owner' is read-only.")
        if op == "remove":
            if name in CORE:
                raise Forbidden(f"Attribute '{name}' is a base attribute and cannot be removed.")
            if name not in doc:
                raise Conflict(f"Property {name} does not exist.")
            del doc[name]
        elif op == "replace" and name not in CORE and name not in doc:
            raise Conflict(f"Property {name} does not exist.")
        elif op in ("add", "replace"):
            doc[name] = value
        else:
            raise Invalid(f"Operation {op!r} is not supported: use add, replace or remove.")

    # ---- tags ----------------------------------------------------------------------------

    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        if len(tag) > 255:
            raise Invalid("Provided object does not match schema 'image': tag is longer than 255 characters")
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
            rows.must_own(ctx, image)
            if tag not in rows.tags(image):
                _check_counts({}, [*rows.tags(image), tag])
                image.tags.append(models.ImageTag(value=tag))
                image.updated_at = models.utcnow()

    def delete_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
            rows.must_own(ctx, image)
            kept = [t for t in image.tags if t.value != tag]
            if len(kept) == len(image.tags):
                raise NotFound(f"Tag {tag} not found on image {image_id}")
            image.tags = kept
            image.updated_at = models.utcnow()

    def usage(self, ctx: RequestContext) -> dict:
        return q.image_usage(self.core, ctx.project_id)

    # ---- state ---------------------------------------------------------------------------

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
            rows.must_own(ctx, image, "delete this image")
            if image.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            session.delete(image)
        # After the commit: an upload still running finds its row gone and drops its part file.
        for area in (STORE, STAGING):
            try:
                self.store.delete(image_id, area)
            except OSError as exc:
                log.error("image %s: could not remove its data in %s: %s", image_id, area, exc)
        for listener in self.deleted_listeners:
            try:
                listener(image_id)
            except Exception:
                log.exception("image %s: a listener of its deletion failed", image_id)

    def deactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._toggle(ctx, image_id, "active", "deactivated", "deactivate")

    def reactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._toggle(ctx, image_id, "deactivated", "active", "reactivate")

    def _toggle(self, ctx: RequestContext, image_id: str, source: str, target: str, verb: str) -> None:
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
            rows.must_own(ctx, image, f"{verb} this image")
            if image.status == target:
                return
            if image.status != source:
                raise Forbidden(f"Not allowed to {verb} image in status '{image.status}'")
            image.status = target

