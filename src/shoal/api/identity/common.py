"""What every Identity v3 route needs: the caller's token, links, and query filters."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from shoal.api.openstack.auth import token_info
from shoal.api.openstack.call import public_origin
from shoal.api.openstack.errors import ApiError
from shoal.services import Services
from shoal.services.identity.tokens import TokenInfo

PREFIX = "/identity"


@dataclass
class IdentityCall:
    request: Request
    services: Services

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

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def enabled_filter(self) -> bool | None:
        value = self.query("enabled")
        if value is None:
            return None
        if value.lower() in ("true", "1", "yes", ""):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise ApiError(400, "enabled must be true or false")


def identity_call(request: Request) -> IdentityCall:
    return IdentityCall(request, request.app.state.services)
