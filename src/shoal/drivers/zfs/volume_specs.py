"""What a volume type asks of a ZFS volume: thin or thick, and ZFS properties.

Cinder spells provisioning three ways, all accepted: `provisioning:type`
(`thin` | `thick`), `thin_provisioning` / `thick_provisioning` and their
`capabilities:*_provisioning_support` forms (`<is> True`). Compression is
Cinder's `compression` / `capabilities:compression` (a boolean) or the share
driver's `zfsonlinux:compression` (an algorithm); `dedupe` as for shares.
Keys this backend does not know are left to the scheduler.
"""

from __future__ import annotations

from shoal.drivers.base import InvalidRequest

from . import options

THIN, THICK = "thin", "thick"
PROVISIONING_TYPE = "provisioning:type"
THIN_KEYS = ("thin_provisioning", "capabilities:thin_provisioning_support")
THICK_KEYS = ("thick_provisioning", "capabilities:thick_provisioning_support")
COMPRESSION_KEYS = ("compression", "capabilities:compression")

# Properties that mean the same on a zvol as on a dataset; other configured
# creation options (recordsize, atime, ...) apply to file-mode datasets only.
ZVOL_SAFE = {"compression", "dedup", "checksum", "copies", "logbias", "primarycache", "secondarycache", "sync"}


def provisioning(extra_specs: dict[str, str]) -> str:
    """THIN or THICK; InvalidRequest when the specs contradict each other."""
    wants: set[str] = set()
    if PROVISIONING_TYPE in extra_specs:
        value = extra_specs[PROVISIONING_TYPE].strip().lower()
        if value not in (THIN, THICK):
            raise InvalidRequest(f"{PROVISIONING_TYPE} must be 'thin' or 'thick', not {extra_specs[PROVISIONING_TYPE]!r}")
        wants.add(value)
    for key in THIN_KEYS:
        if key in extra_specs:
            wants.add(THIN if options.spec_bool(extra_specs[key]) else THICK)
    for key in THICK_KEYS:
        if key in extra_specs:
            wants.add(THICK if options.spec_bool(extra_specs[key]) else THIN)
    if len(wants) > 1:
        raise InvalidRequest("the volume type asks for both thin and thick provisioning")
    return wants.pop() if wants else THIN


def properties(extra_specs: dict[str, str], configured: dict[str, str], zvol: bool) -> dict[str, str]:
    """ZFS properties for a new volume: configured options, then the type's."""
    props = {k: v for k, v in configured.items() if not zvol or k in ZVOL_SAFE}
    for key in COMPRESSION_KEYS:
        if key in extra_specs:
            props["compression"] = "on" if options.spec_bool(extra_specs[key]) else "off"
    props.update(options.from_extra_specs(extra_specs, configured))
    return props


def validate(extra_specs: dict[str, str], configured: dict[str, str]) -> None:
    provisioning(extra_specs)
    properties(extra_specs, configured, zvol=False)
