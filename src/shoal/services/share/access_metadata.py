"""Access rule metadata (Manila 2.45): set (merged into what is there) and delete
one key, by the share's project or an administrator; the rule's state and what
is exported do not change."""

from __future__ import annotations

from shoal.db import models

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Forbidden, NotFound
from . import rows as sr


class AccessMetadata:
    def __init__(self, core: c.Core):
        self.core = core

    def _rule(self, session, ctx: RequestContext, access_id: str) -> models.AccessRule:
        rule = session.get(models.AccessRule, access_id)
        if rule is None:
            raise NotFound(f"Access rule {access_id} could not be found.")
        try:
            share = sr.get_share(session, ctx, rule.share_id, locations=False)
        except NotFound:
            raise NotFound(f"Access rule {access_id} could not be found.") from None
        if not ctx.is_admin and share.project_id != ctx.project_id:
            raise Forbidden("only the share's project may change its access rules")
        return rule

    def update(self, ctx: RequestContext, access_id: str, metadata: dict[str, str]) -> dict:
        with self.core.db.session() as session:
            rule = self._rule(session, ctx, access_id)
            rule.metadata_ = {**(rule.metadata_ or {}), **metadata}
            return dict(rule.metadata_)

    def delete(self, ctx: RequestContext, access_id: str, key: str) -> None:
        with self.core.db.session() as session:
            rule = self._rule(session, ctx, access_id)
            if key not in (rule.metadata_ or {}):
                raise NotFound(f"Metadata item {key} was not found.")
            rule.metadata_ = {k: v for k, v in rule.metadata_.items() if k != key}
