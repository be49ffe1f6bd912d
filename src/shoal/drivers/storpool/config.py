"""Settings of a `driver = "storpool"` backend: volumes in a StorPool cluster,
reached through its JSON API (Cinder's StorPool driver, reference §4.1).

The API's address and token, and the client ids of the hosts, are read as
StorPool's own tools read them: `/etc/storpool.conf` and
`/etc/storpool.conf.d/*.conf` (os-brick's `storpool_utils.get_conf`). A key
set here wins over the files, so a Shoal host without StorPool's config (or a
test) can still reach a cluster.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from shoal.config_parts import BackendCommon

_TEMPLATE = re.compile(r"[A-Za-z0-9_.-]+")  # goes into URL paths and pool names


class StorPoolBackendConfig(BackendCommon):
    driver: Literal["storpool"]
    # Cinder's storpool_template: the template of volumes whose type names none.
    template: str | None = None
    # Cinder's storpool_replication: the copies of a volume with no template, and
    # the divisor of the free space reported (§4.6).
    replication: int = Field(3, ge=1, le=5)
    # Each overrides its key of the StorPool config files (and the environment) when set.
    api_host: str | None = None  # SP_API_HTTP_HOST
    api_port: int | None = Field(None, ge=1, le=65535)  # SP_API_HTTP_PORT
    auth_token: str | None = Field(None, repr=False)  # SP_AUTH_TOKEN
    volume_prefix: str | None = None  # SP_OPENSTACK_VOLUME_PREFIX; must match the compute hosts' own
    our_id: int | None = None  # SP_OURID of the host Shoal runs on
    client_ids: dict[str, int] = {}  # host name -> SP_OURID, before the file's [host] sections
    api_timeout: float = Field(300.0, gt=0)  # the client's default
    api_retries: int = Field(5, ge=0, le=10)  # transient failures, retried after 1, 2, 4, ... s

    @field_validator("template", "volume_prefix")
    @classmethod
    def _name_part(cls, value: str | None) -> str | None:
        if value is not None and not _TEMPLATE.fullmatch(value):
            raise ValueError(f"{value!r} may hold only letters, digits, '-', '_' and '.'")
        return value
