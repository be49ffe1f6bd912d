"""What a volume type asks of a LUN (the `zfssa:*` extra specs over the
backend's `lun` defaults, reference §3.4), and the LUN bodies built from it.
Pure functions: no call to the appliance here."""

from __future__ import annotations

from dataclasses import dataclass

from shoal.drivers.base import InvalidRequest

from .appliance import MASK_ALL
from .config import BLOCK_SIZES, COMPRESSIONS, LOGBIASES, LunDefaults

PREFIX = "zfssa:"
MANAGED = "custom:cinder_managed"
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class LunSpecs:
    volblocksize: str
    sparse: bool
    compression: str
    logbias: str


def _bool(key: str, value: str) -> bool:
    text = value.strip().lower().removeprefix("<is>").strip()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidRequest(f"{key} {value!r} is not a boolean (True or False)")


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> str:
    text = value.strip().lower()
    if text not in allowed:
        raise InvalidRequest(f"{key} {value!r} is not one of {', '.join(allowed)}")
    return text


def resolve(extra_specs: dict[str, str], defaults: LunDefaults) -> LunSpecs:
    """The LUN properties a type asks for; InvalidRequest for a value the appliance would refuse.
    `zfssa:sparse` wins over `provisioning:type` (thin is sparse), which wins over the default."""
    sparse = defaults.sparse
    provisioning = (extra_specs.get("provisioning:type") or "").strip().lower()
    if provisioning in ("thin", "thick"):
        sparse = provisioning == "thin"
    elif provisioning:
        raise InvalidRequest(f"provisioning:type {provisioning!r} is not thin or thick")
    if f"{PREFIX}sparse" in extra_specs:
        sparse = _bool(f"{PREFIX}sparse", extra_specs[f"{PREFIX}sparse"])
    get = extra_specs.get
    return LunSpecs(
        volblocksize=_choice(f"{PREFIX}volblocksize", get(f"{PREFIX}volblocksize", defaults.volblocksize), BLOCK_SIZES),
        sparse=sparse,
        compression=_choice(f"{PREFIX}compression", get(f"{PREFIX}compression", defaults.compression), COMPRESSIONS),
        logbias=_choice(f"{PREFIX}logbias", get(f"{PREFIX}logbias", defaults.logbias), LOGBIASES),
    )


def check(extra_specs: dict[str, str]) -> None:
    unknown = sorted(k for k in extra_specs if k.startswith(PREFIX)
                     and k[len(PREFIX):] not in ("volblocksize", "sparse", "compression", "logbias"))
    if unknown:
        raise InvalidRequest(f"unknown ZFSSA extra spec(s) {', '.join(unknown)}; known: zfssa:volblocksize, "
                             "zfssa:sparse, zfssa:compression, zfssa:logbias")
    resolve(extra_specs, LunDefaults())


def create_body(name: str, size_gb: int, target_group: str, specs: LunSpecs) -> dict:
    """POST …/luns: a LUN nobody may reach yet, marked as Shoal's."""
    return {
        "name": name, "volsize": f"{size_gb}g", "targetgroup": target_group, "initiatorgroup": MASK_ALL,
        "volblocksize": specs.volblocksize, "sparse": specs.sparse, "compression": specs.compression,
        "logbias": specs.logbias, MANAGED: True,
    }


def clone_body(project: str, name: str, specs: LunSpecs) -> dict:
    """PUT …/snapshots/<snap>/clone: a clone's block size is its origin's, so none is sent."""
    return {"project": project, "share": name, "nodestroy": True, "sparse": specs.sparse,
            "compression": specs.compression, "logbias": specs.logbias, MANAGED: True}


# ---- initiator groups on a LUN ------------------------------------------------------------------


def groups_of(lun: dict) -> list[str]:
    """The initiator groups a LUN is exported to (none for maskAll)."""
    value = lun.get("initiatorgroup") or []
    groups = [value] if isinstance(value, str) else list(value)
    return [g for g in groups if g and g != MASK_ALL]


def initiatorgroup_value(groups: list[str]) -> str | list[str]:
    """What PUT …/luns/<lun> takes: maskAll for none, a plain string for one
    (the 2013.1.2.x appliances' form), else the list."""
    groups = sorted(set(groups))
    if not groups:
        return MASK_ALL
    return groups[0] if len(groups) == 1 else groups


def lun_numbers(lun: dict) -> dict[str, int]:
    """{initiator group: the LUN number initiators of that group see}."""
    numbers = lun.get("assignednumber")
    numbers = [numbers] if isinstance(numbers, int) else list(numbers or [])
    value = lun.get("initiatorgroup") or []
    groups = [value] if isinstance(value, str) else list(value)
    return {group: int(number) for group, number in zip(groups, numbers)}


def managed_flag(lun_or_props: dict) -> bool | None:
    """The `cinder_managed` custom property: None when the LUN has none."""
    value = lun_or_props.get(MANAGED)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"
