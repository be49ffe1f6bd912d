"""What every Identity v3 route needs: the caller's token and links (query strings: queries.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fastapi import Request

from shoal.api.openstack.auth import token_info
from shoal.api.openstack.bodies import unsafe_text
from shoal.api.openstack.call import public_origin, read_body
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import refuse_nul
from shoal.services import Services
from shoal.services.identity.tokens import TokenInfo

PREFIX = "/identity"


@dataclass
class IdentityCall:
    request: Request
    services: Services
    root: ClassVar[str] = "identity"  # the API a query model is read for (api/openstack/queries.read)

    @property
    def v3(self) -> str:
        return f"{public_origin(self.request)}{PREFIX}/v3"

    @property
    def caller(self) -> TokenInfo:
        """The bearer of X-Auth-Token (validated on first use), or a 401."""
        if not hasattr(self, "_caller"):
            self._caller = token_info(self.request)
        return self._caller

    def self_link(self) -> dict:
        return {"self": str(self.request.url), "previous": None, "next": None}


async def identity_body(request: Request, key: str) -> dict:
    """The request's object under `key`, its strings valid Unicode without NUL (Keystone's
    schemas' rule; a lone surrogate could be neither stored nor answered)."""
    fields = await read_body(request, key)
    if (where := unsafe_text(fields, key)) is not None:
        raise ApiError(400, f"Invalid input for field '{where}': it must be valid Unicode text without NUL "
                            "characters.")
    return fields


def identity_call(request: Request) -> IdentityCall:
    call = IdentityCall(request, request.app.state.services)
    refuse_nul(call)
    return call
