"""What a volume type asks of StorPool: its template (reference §4.1, §4.5).

A type's `storpool_template` wins; else the backend's `template`; else the
volume has no template and `replication` copies. The pool a volume is in is
named by its template (Cinder's `get_pool`).
"""

from __future__ import annotations

import re

from shoal.drivers.base import InvalidRequest

TEMPLATE = "storpool_template"  # not namespaced, as in Cinder
BACKEND = "volume_backend_name"
DEFAULT_POOL = "default"
POOL_PREFIX = "template_"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check(extra_specs: dict[str, str]) -> None:
    value = extra_specs.get(TEMPLATE)
    if value is not None and not _NAME.fullmatch(value.strip()):
        raise InvalidRequest(f"{TEMPLATE} {value!r} is not a StorPool template name")


def template(extra_specs: dict[str, str], default: str | None) -> str | None:
    """The template of a volume of this type (an empty value counts as none)."""
    value = (extra_specs.get(TEMPLATE) or "").strip()
    return value or default


def placement(template_name: str | None, replication: int) -> dict:
    """The part of VolumeCreate/VolumeUpdate that says where the data goes."""
    return {"template": template_name} if template_name else {"replication": replication}


def pool(template_name: str | None) -> str:
    return f"{POOL_PREFIX}{template_name}" if template_name else DEFAULT_POOL


def retype_update(old: dict[str, str], new: dict[str, str], backend: str, default: str | None,
                  replication: int) -> dict | None:
    """The VolumeUpdate that gives a volume on `backend` its new type in place:
    {} when no change is needed, None when the new type names another backend
    (so the volume must be migrated). Other specs are left to the scheduler, as
    in Cinder. Unlike Cinder, which compares the old and new backend names, a
    type that newly names the backend the volume is on needs no migration."""
    if (new.get(BACKEND) or backend) != backend:
        return None
    before, after = (old.get(TEMPLATE) or "").strip(), (new.get(TEMPLATE) or "").strip()
    if before == after:
        return {}
    # A type that drops its template falls back to the backend's, as at create.
    return placement(after or default, replication)
