"""What a volume type may ask of a RemoteFS volume: `provisioning:type` thin or
thick, over the backend's own default (`sparsed_volumes`). Other keys are the
scheduler's business."""

from __future__ import annotations

from shoal.drivers.base import InvalidRequest

PROVISIONING_TYPE = "provisioning:type"


def thick(extra_specs: dict[str, str], sparsed_by_default: bool) -> bool:
    value = extra_specs.get(PROVISIONING_TYPE)
    if value is None:
        return not sparsed_by_default
    value = value.strip().lower()
    if value not in ("thin", "thick"):
        raise InvalidRequest(f"{PROVISIONING_TYPE} must be 'thin' or 'thick', not {extra_specs[PROVISIONING_TYPE]!r}")
    return value == "thick"
