"""Whether an object on the appliance may be managed, by its `cinder_managed`
custom property and the backend's `manage_policy` (reference §3.5). Pure
rules, shared by the iSCSI (LUN) and NFS (file) drivers.

- `loose`: anything not marked as managed may be taken over.
- `strict`: only what an administrator marked `cinder_managed = false`.
- Marked `true`: some Cinder or Shoal holds it; never taken over twice.
"""

from __future__ import annotations

NO_PROPERTY = "cinder_managed schema not present"
ALREADY = "already managed"
ELSEWHERE = "managed by another cinder instance?"


def refusal(name: str, flag: bool | None, policy: str) -> str | None:
    """Why `manage_existing` must refuse `name` (a message naming the fix), or None."""
    if flag is True:
        return (f"{name} is already managed (its cinder_managed property is true); fix: unmanage it where it is "
                "managed, or set cinder_managed = false on the appliance if nothing manages it")
    if policy == "strict" and flag is None:
        return (f"{name} has no cinder_managed property and manage_policy is strict; fix: set the property "
                "cinder_managed = false on it on the appliance, or use manage_policy = loose")
    return None


def listing_reason(flag: bool | None, policy: str, owned: bool) -> str | None:
    """Why a listed object is not safe to manage (None: safe). `owned`: a
    volume Shoal holds on this backend names it."""
    if owned:
        return ALREADY
    if flag is True:
        return ELSEWHERE
    if policy == "strict" and flag is None:
        return NO_PROPERTY
    return None
