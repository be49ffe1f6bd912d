"""Who sees which image, and the lookups every image service makes.

Glance's rules: an image is seen by its owner, by everyone when `public` or
`community`, and when `shared` by the projects it is offered to (members); an
admin sees every image. Only the owner (or an admin) changes an image."""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select, true
from sqlalchemy.orm import Session

from shoal.db import models

from ..common.context import RequestContext
from ..common.errors import Forbidden, NotFound

I, M = models.Image, models.ImageMember
PROPERTY_LIMIT = TAG_LIMIT = MEMBER_LIMIT = 128  # Glance's image_property_quota, image_tag_quota, image_member_quota


def is_member(project_id: str, status: str | None = None):
    where = [M.image_id == I.id, M.member == project_id]
    if status is not None:
        where.append(M.status == status)
    return exists().where(*where)


def visible(ctx: RequestContext):
    """The images `ctx` may see by id."""
    if ctx.is_admin:
        return true()
    return or_(I.owner == ctx.project_id, I.visibility.in_(("public", "community")),
               and_(I.visibility == "shared", is_member(ctx.project_id)))


def get_image(session: Session, ctx: RequestContext, image_id: str, lock: bool = False) -> models.Image:
    query = select(I).where(I.id == image_id, visible(ctx))
    image = session.scalars(query.with_for_update() if lock else query).first()
    if image is None:
        raise NotFound(f"No image found with ID {image_id}")
    return image


def owns(ctx: RequestContext, image: models.Image) -> bool:
    return ctx.is_admin or image.owner == ctx.project_id


def must_own(ctx: RequestContext, image: models.Image, what: str = "modify this image") -> None:
    if not owns(ctx, image):
        raise Forbidden(f"You are not permitted to {what}.")


def properties(image: models.Image) -> dict[str, str]:
    return {p.name: p.value for p in image.properties}


def tags(image: models.Image) -> list[str]:
    return sorted(t.value for t in image.tags)
