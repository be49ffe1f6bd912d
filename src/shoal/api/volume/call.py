"""The Block Storage v3 flavour of an API call."""

from __future__ import annotations

from shoal.api.openstack.call import ApiCall, call_factory
from shoal.api.openstack.microversions import Version, VersionRange

# cinderclient's and openstacksdk's maximum; project-less URLs are legal since 3.67.
VOLUME_API = VersionRange("volume", None, Version(3, 0), Version(3, 71))

VolumeCall = ApiCall
volume_call = call_factory(VOLUME_API, "volume")

__all__ = ["VOLUME_API", "VolumeCall", "volume_call"]
