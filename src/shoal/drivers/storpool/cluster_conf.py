"""Where the cluster's API is and who its clients are: StorPool's config files
as os-brick reads them (reference §4.1), with the backend table's keys on top.

The files are `/etc/storpool.conf` plus `/etc/storpool.conf.d/*.conf`, an ini
whose unnamed section is overlaid by the section named after a host; the
environment overrides the API's address and token. A host's client id is its
section's `SP_OURID` (Cinder's `_storpool_client_id`, §4.4).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass

from os_brick.initiator import storpool_utils

from shoal.drivers.base import DriverError, InvalidRequest

from .config import StorPoolBackendConfig
from .naming import DEFAULT_PREFIX

CONF_PATH = "/etc/storpool.conf"
# Cinder's answer for a host whose section has no SP_OURID (its 1.1.1 change:
# an unknown host must not fail the attach; os-brick attaches with the id in
# the compute host's own config anyway, and only checks that one is given).
UNKNOWN_CLIENT_ID = 65

Reader = Callable[[str | None], "dict[str, str] | None"]


def read_files(section: str | None) -> dict[str, str] | None:
    """os-brick's reading of the files for `section` (None: this host), or None
    when there is no /etc/storpool.conf (os-brick would raise)."""
    if not os.path.isfile(CONF_PATH):
        return None
    return storpool_utils.get_conf(section)


def _without_files() -> dict[str, str]:
    """What os-brick would read from empty files: its defaults and the environment."""
    conf = dict(storpool_utils.STORPOOL_CONF_DEFAULTS)
    conf.update({key: os.environ[key] for key in storpool_utils.ENV_OVERRIDE if key in os.environ})
    return conf


@dataclass(frozen=True)
class ApiSettings:
    host: str
    port: int
    token: str = ""  # empty: not configured (problems() says so)
    prefix: str = DEFAULT_PREFIX

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class ClusterConf:
    def __init__(self, config: StorPoolBackendConfig, read: Reader = read_files,
                 node: Callable[[], str] = platform.node):
        self.config = config
        self._read = read
        self._node = node

    def _section(self, section: str | None) -> dict[str, str]:
        try:
            found = self._read(section)
        except Exception as exc:  # a file os-brick cannot parse or open
            raise DriverError(f"cannot read the StorPool configuration ({CONF_PATH}): {exc}") from None
        return _without_files() if found is None else found

    def api(self) -> ApiSettings:
        """The backend's cluster: the backend table's keys over the files'."""
        return self._settings(self.config)

    def host_client(self) -> ApiSettings:
        """What this host's own StorPool client reads (os-brick's connector
        attaching here): the files and the environment, no backend table."""
        return self._settings(StorPoolBackendConfig(driver="storpool"))

    def _settings(self, c: StorPoolBackendConfig) -> ApiSettings:
        conf = self._section(None)
        port = c.api_port if c.api_port is not None else conf.get("SP_API_HTTP_PORT", "")
        try:
            port = int(port)
        except ValueError:
            raise DriverError(f"SP_API_HTTP_PORT {port!r} in the StorPool configuration is not a port") from None
        return ApiSettings(
            host=c.api_host or conf["SP_API_HTTP_HOST"],
            port=port,
            token=c.auth_token or conf.get("SP_AUTH_TOKEN") or "",
            prefix=c.volume_prefix or conf.get("SP_OPENSTACK_VOLUME_PREFIX") or DEFAULT_PREFIX,
        )

    def client_id(self, host: str | None) -> int:
        """The StorPool client id of a connector's host: Shoal's own host (the
        connector's host is this node's name, or none) by `our_id`, any host by
        `client_ids`, else by its section of the files."""
        node = self._node()
        own = not host or host == node
        if own and self.config.our_id is not None:
            return self.config.our_id
        if host and host in self.config.client_ids:
            return self.config.client_ids[host]
        section = node if own else host
        try:
            found = self._read(section)
        except Exception as exc:
            raise InvalidRequest(f"cannot read SP_OURID of host {section} from {CONF_PATH}: {exc}") from None
        if found is None:
            raise InvalidRequest(f"no StorPool client id for host {section}: no {CONF_PATH} here; "
                                 f"fix: set client_ids = {{ {section!r} = ID }} in the backend's table")
        if "SP_OURID" not in found:
            return UNKNOWN_CLIENT_ID
        try:
            return int(found["SP_OURID"])
        except ValueError:
            raise InvalidRequest(f"SP_OURID {found['SP_OURID']!r} of host {section} in {CONF_PATH} "
                                 "is not a number") from None
