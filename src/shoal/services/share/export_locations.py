"""The share whose export locations are asked for, found as Manila's export-location
controller finds it (`_verify_share`): any project's share is looked up, and one the
caller may not read is a 403 there (Manila's policy check), where everywhere else
in the share API it is a 404 (Manila's share API `get`). Tempest checks both."""

from __future__ import annotations

from shoal.db import models

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Forbidden, NotFound


class ShareExportLocations:
    def __init__(self, core: c.Core):
        self.core = core

    def share(self, ctx: RequestContext, share_id: str) -> models.Share:
        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            if share is None:
                raise NotFound(f"Share {share_id} could not be found.")
            if not (ctx.reaches(share.project_id) or share.is_public):
                raise Forbidden("Policy doesn't allow share:get to be performed.")
            return share
