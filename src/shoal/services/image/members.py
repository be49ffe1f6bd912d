"""Image members: the projects a `shared` image is offered to. The owner adds and
removes them; each member accepts or rejects the offer (only then, or with
`member_status`, does the image show in its list)."""

from __future__ import annotations

from sqlalchemy import func, select

from shoal.db import models

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound, OverQuota
from . import rows
from .schema import MEMBER_STATUSES

M = models.ImageMember


class ImageMembers:
    def __init__(self, core: c.Core):
        self.core = core

    def _member(self, session, image_id: str, member: str) -> models.ImageMember:
        row = session.get(M, (image_id, member))
        if row is None:
            raise NotFound(f"{member} is not a member of image {image_id}")
        return row

    def add(self, ctx: RequestContext, image_id: str, member: str) -> models.ImageMember:
        if not isinstance(member, str) or not member or len(member) > 255:
            raise Invalid("Member to be added not specified")
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
            rows.must_own(ctx, image, "add members to this image")
            if image.visibility != "shared":
                raise Forbidden(f"Only shared images have members. (image visibility is {image.visibility})")
            if session.get(M, (image_id, member)) is not None:
                raise Conflict(f"Member {member} already associated with image {image_id}")
            if session.scalar(select(func.count()).where(M.image_id == image_id)) >= rows.MEMBER_LIMIT:
                raise OverQuota(f"Maximum number of image members exceeded ({rows.MEMBER_LIMIT}).")
            row = M(image_id=image_id, member=member, status="pending")
            session.add(row)
        return row

    def list(self, ctx: RequestContext, image_id: str) -> list[models.ImageMember]:
        """The owner sees every member; a member sees only itself."""
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
            if image.visibility != "shared":
                raise Forbidden(f"Only shared images have members. (image visibility is {image.visibility})")
            query = select(M).where(M.image_id == image_id).order_by(M.created_at)
            if not rows.owns(ctx, image):
                query = query.where(M.member == ctx.project_id)
            return list(session.scalars(query))

    def get(self, ctx: RequestContext, image_id: str, member: str) -> models.ImageMember:
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
            if not rows.owns(ctx, image) and member != ctx.project_id:
                raise NotFound(f"{member} is not a member of image {image_id}")
            return self._member(session, image_id, member)

    def update(self, ctx: RequestContext, image_id: str, member: str, status: str) -> models.ImageMember:
        if status not in MEMBER_STATUSES:
            raise Invalid(f"Provided object does not match schema 'member': '{status}' is not one of "
                          f"{list(MEMBER_STATUSES)}")
        with self.core.db.session() as session:
            rows.get_image(session, ctx, image_id)
            row = self._member(session, image_id, member)
            if member != ctx.project_id:  # only the member itself answers the offer
                raise Forbidden("You are not permitted to modify 'status' on this image member.")
            row.status = status
        return row

    def delete(self, ctx: RequestContext, image_id: str, member: str) -> None:
        with self.core.db.session() as session:
            image = rows.get_image(session, ctx, image_id)
            rows.must_own(ctx, image, "remove members of this image")
            session.delete(self._member(session, image_id, member))
