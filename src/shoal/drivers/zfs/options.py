"""Dataset creation options: configured options plus what a share type asks for.

Size is enforced with `refquota`, not `quota`: a share of N GiB holds N GiB
of its own data however many snapshots it has (with `quota`, snapshots eat the
user's space -- a known pain of Manila's driver). Snapshot space is accounted
separately, as Manila's snapshot_gigabytes quota does.
"""

from __future__ import annotations

import logging

from shoal.drivers.base import InvalidRequest

log = logging.getLogger(__name__)

# Properties Shoal itself controls; a configured option may not override them.
RESERVED = ("readonly", "quota", "refquota", "sharenfs", "sharesmb", "mountpoint", "reservation", "refreservation")
COMPRESSION_SPEC = "zfsonlinux:compression"
DEDUPE_SPEC = "dedupe"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def split_option(option: str) -> tuple[str, str]:
    key, sep, value = option.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ValueError(f"dataset option {option!r} is not KEY=VALUE")
    return key.strip(), value.strip()


def configured_options(options: list[str]) -> dict[str, str]:
    """The backend's creation options, minus the ones Shoal owns (with a warning)."""
    result = {}
    for option in options:
        key, value = split_option(option)
        if key in RESERVED:
            log.warning("ignoring dataset creation option %r: Shoal manages %s itself", option, key)
            continue
        result[key] = value
    return result


def spec_bool(value: str) -> bool:
    """Manila writes booleans in extra specs as '<is> True' or plain 'True'."""
    word = value.strip().split()[-1].lower() if value.strip() else ""
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise InvalidRequest(f"extra spec value {value!r} is not a boolean")


def capabilities(configured: dict[str, str]) -> dict[str, list[bool]]:
    """What a pool can offer, given options fixed by configuration."""
    dedup = configured.get("dedup")
    compression = configured.get("compression")
    return {
        "dedupe": [dedup == "on"] if dedup in ("on", "off") else [True, False],
        "compression": [compression != "off"] if compression else [True, False],
    }


def from_extra_specs(extra_specs: dict[str, str], configured: dict[str, str]) -> dict[str, str]:
    """ZFS properties a share type asks for; raises InvalidRequest when it cannot be met."""
    caps = capabilities(configured)
    props: dict[str, str] = {}
    if DEDUPE_SPEC in extra_specs:
        want = spec_bool(extra_specs[DEDUPE_SPEC])
        if want not in caps["dedupe"]:
            raise InvalidRequest(f"this backend cannot give dedupe={want}")
        props["dedup"] = "on" if want else "off"
    if COMPRESSION_SPEC in extra_specs:
        value = extra_specs[COMPRESSION_SPEC].strip()
        if not value or not all(c.isalnum() or c in "-_" for c in value):
            raise InvalidRequest(f"invalid {COMPRESSION_SPEC} value {value!r}")
        want = value != "off"
        if want not in caps["compression"]:
            raise InvalidRequest(f"this backend cannot give {COMPRESSION_SPEC}={value}")
        props["compression"] = value
    return props


def dataset_properties(size_gb: int, extra_specs: dict[str, str], configured: dict[str, str]) -> dict[str, str]:
    """Everything `zfs create` gets for a share, size first."""
    props = {"refquota": f"{size_gb}G"}
    props.update(configured)
    props.update(from_extra_specs(extra_specs, configured))
    props["readonly"] = "off"
    return props
