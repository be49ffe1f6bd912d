"""The Shared File Systems v2 flavour of an API call."""

from __future__ import annotations

from shoal.api.openstack.call import ApiCall, call_factory
from shoal.api.openstack.microversions import Version, VersionRange

# 2.82+ lets openstacksdk use the new access-rule API; nothing above 2.84 is implemented.
SHARE_API = VersionRange("shared-file-system", "X-OpenStack-Manila-API-Version", Version(2, 0), Version(2, 84))

ShareCall = ApiCall
share_call = call_factory(SHARE_API, "share")

__all__ = ["SHARE_API", "ShareCall", "share_call"]
