"""User messages: why a resource ended in error, readable by its project."""

from __future__ import annotations

from sqlalchemy import select

from shoal.db import models

from . import core as c
from .context import RequestContext
from .errors import NotFound


class Messages:
    def __init__(self, core: c.Core):
        self.core = core

    def list(self, ctx: RequestContext, resource_id: str | None = None, limit: int | None = None) -> list[models.Message]:
        query = select(models.Message).order_by(models.Message.created_at.desc())
        query = query.where(models.Message.project_id == ctx.project_id)
        if resource_id:
            query = query.where(models.Message.resource_id == resource_id)
        if limit is not None:
            query = query.limit(limit)
        with self.core.db.session() as session:
            return list(session.scalars(query))

    def get(self, ctx: RequestContext, message_id: str) -> models.Message:
        with self.core.db.session() as session:
            msg = session.get(models.Message, message_id)
            if msg is None or not ctx.reaches(msg.project_id):
                raise NotFound(f"Message {message_id} could not be found.")
            return msg

    def delete(self, ctx: RequestContext, message_id: str) -> None:
        self.get(ctx, message_id)
        with self.core.db.session() as session:
            session.delete(session.get(models.Message, message_id))
