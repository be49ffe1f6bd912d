"""One typed settings object, read from a TOML file and a few environment variables.

Unknown keys and bad values stop start-up with a message that names the key.
With no file at all the embedded default applies: an SQLite database under
the state directory and one `zfs` backend on the file-backed pool that
`scripts/host-setup` creates.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from shoal.config_parts import DEFAULT_POOL, DEFAULT_STATE_DIR, GaneshaConfig, HostConfig, IscsiConfig, Strict
from shoal.drivers.registry import DRIVERS, BackendConfig, with_driver
from shoal.drivers.zfs.commands import parse_size
from shoal.drivers.zfs.config import ZfsBackendConfig

DEFAULT_CONFIG_PATH = Path("/etc/shoal/shoal.toml")

__all__ = [  # the pieces other modules take from here
    "DEFAULT_POOL", "DEFAULT_STATE_DIR", "ConfigError", "GaneshaConfig", "HostConfig", "IscsiConfig", "Settings",
    "ZfsBackendConfig", "load",
]


class ConfigError(Exception):
    pass


class DatabaseConfig(Strict):
    url: str = f"sqlite:///{DEFAULT_STATE_DIR / 'shoal.db'}"


class ApiConfig(Strict):
    listen: str = "127.0.0.1:8787"
    # identity: Shoal's own Identity v3 (the default); keystone: tokens checked against an
    # external Keystone ([keystone]); noauth: development only, every caller is an admin.
    auth: Literal["identity", "keystone", "noauth"] = "identity"
    default_project: str = "admin"  # noauth only: the project when the URL names none
    public_url: str | None = None  # what version documents advertise; default from the request
    # /metrics without a token from anywhere (else: from loopback addresses, or with an admin token)
    metrics_public: bool = False
    # The most items one list answer holds (Cinder's osapi_max_limit): a longer list ends
    # with a `next` link, also when the caller gave no limit or a larger one.
    max_limit: int = Field(1000, ge=1)

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("listen must be HOST:PORT")
        return value


class IdentityConfig(Strict):
    """Shoal's built-in Identity v3: users, projects and roles in Shoal's database."""

    token_ttl: int = Field(3600 * 12, ge=60, le=3600 * 24 * 30)  # seconds a token lives
    key_file: str | None = None  # Fernet key; default <state_dir>/identity/token.key
    region: str = "RegionOne"


class KeystoneConfig(Strict):
    """An external Keystone that validates callers' tokens when `api.auth = "keystone"`.
    The service user must be allowed to validate tokens (the `service` or `admin` role)."""

    auth_url: str | None = None
    username: str = "shoal"
    password: str | None = None
    project_name: str = "service"
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    cache_seconds: float = Field(60.0, ge=0, le=3600)  # how long a validated token is trusted


class ServiceConfig(Strict):
    workers: int = Field(8, ge=1, le=64)
    periodic_interval: float = Field(60.0, ge=1)
    # How often export daemons (ganesha, tgtd) are looked at: one that died is restarted
    # and given back every export at once, without waiting for the periodic check.
    daemon_watch_interval: float = Field(1.0, gt=0)
    # How often secondaries of replicated shares are brought to their active (Manila: 300 s).
    replica_sync_interval: float = Field(300.0, ge=1)


class VolumeQuotaDefaults(Strict):
    """Block Storage quota defaults per project (-1: unlimited). Cinder ships 10 volumes,
    10 snapshots, 1000 gigabytes, 10 backups, 1000 backup_gigabytes, 10 groups."""

    volumes: int = Field(-1, ge=-1)
    snapshots: int = Field(-1, ge=-1)
    gigabytes: int = Field(-1, ge=-1)  # volume sizes plus snapshot sizes
    backups: int = Field(-1, ge=-1)
    backup_gigabytes: int = Field(-1, ge=-1)
    groups: int = Field(-1, ge=-1)
    per_volume_gigabytes: int = Field(-1, ge=-1)


class ShareQuotaDefaults(Strict):
    """Shared File Systems quota defaults per project (-1: unlimited). Manila ships 50 shares,
    1000 gigabytes, 50 snapshots, 1000 snapshot_gigabytes, 10 share_networks, 50 share_groups,
    50 share_group_snapshots, 100 share_replicas, 1000 replica_gigabytes."""

    shares: int = Field(-1, ge=-1)
    gigabytes: int = Field(-1, ge=-1)
    snapshots: int = Field(-1, ge=-1)
    snapshot_gigabytes: int = Field(-1, ge=-1)
    share_networks: int = Field(-1, ge=-1)
    share_groups: int = Field(-1, ge=-1)
    share_group_snapshots: int = Field(-1, ge=-1)
    share_replicas: int = Field(-1, ge=-1)
    replica_gigabytes: int = Field(-1, ge=-1)
    per_share_gigabytes: int = Field(-1, ge=-1)


class ImageQuotaDefaults(Strict):
    """Image service quota defaults per project, by Glance's unified-limits names (-1: unlimited).
    Sizes are MiB, as Glance counts them."""

    image_count_total: int = Field(-1, ge=-1)  # images the project owns, whatever their status
    image_size_total: int = Field(-1, ge=-1)  # MiB of image data kept in the store
    image_stage_total: int = Field(-1, ge=-1)  # MiB of data staged for import
    image_count_uploading: int = Field(-1, ge=-1)  # images being uploaded, staged or imported at once


class QuotaConfig(Strict):
    """Default quotas; the `default` quota class and per-project quota sets override them."""

    volume: VolumeQuotaDefaults = VolumeQuotaDefaults()
    share: ShareQuotaDefaults = ShareQuotaDefaults()
    image: ImageQuotaDefaults = ImageQuotaDefaults()


class ImageConfig(Strict):
    """The image service volumes are made from and uploaded to: the built-in Image service
    (Glance v2) served at /image, or an external Glance."""

    enabled: bool = True
    # builtin: Shoal's own, at /image and in its catalog. glance: an external Glance from the
    # service catalog of the caller's token (needs api.auth = "keystone"); Shoal then serves no
    # /image. auto: glance when api.auth = "keystone" and Keystone's catalog lists an image
    # service (asked once at start-up), else builtin.
    backend: Literal["auto", "builtin", "glance"] = "auto"
    glance_url: str | None = None  # the external Glance's root, instead of the catalog's (Cinder's glance_api_servers)
    glance_interface: Literal["public", "internal", "admin"] = "public"  # the catalog endpoint used
    glance_region: str | None = None  # the catalog region; default: any
    # Send Shoal's service user's token along with the caller's (X-Service-Token, Cinder's
    # send_service_user_token), so a long copy outlives the caller's token.
    send_service_token: bool = True
    # Where image data is kept: a directory (default <state_dir>/images), or files on a ZFS
    # dataset of this host, made when missing.
    store: Literal["directory", "zfs"] = "directory"
    store_dir: str | None = None  # store = "directory"
    dataset: str | None = None  # store = "zfs": "<pool>/<name>"
    quota: int | None = None  # store = "zfs": the dataset's quota, bytes or ZFS's "20G"; set at every start
    max_size: int = Field(1 << 40, ge=1)  # bytes; Glance's image_size_cap

    @field_validator("dataset")
    @classmethod
    def _dataset_name(cls, dataset: str | None) -> str | None:
        if dataset is not None and not _DATASET.match(dataset):
            raise ValueError(f"{dataset!r} is not <pool>/<name> (letters, digits, '_', '-', '.', ':' and '/')")
        return dataset

    @field_validator("quota", mode="before")
    @classmethod
    def _quota_bytes(cls, quota):
        if isinstance(quota, str):
            try:
                quota = parse_size(quota)
            except ValueError:
                raise ValueError(f"{quota!r} is not a size (bytes, or a number with K, M, G, T)") from None
        if isinstance(quota, int) and quota <= 0:
            raise ValueError("a quota is more than 0 bytes")
        return quota

    @model_validator(mode="after")
    def _store_keys(self):
        if self.store == "zfs" and not self.dataset:
            raise ValueError("image.store = 'zfs' needs image.dataset")
        zfs_only = [key for key in ("dataset", "quota") if getattr(self, key) is not None]
        if self.store != "zfs" and zfs_only:
            raise ValueError(f"image.{zfs_only[0]} is for image.store = 'zfs'")
        if self.store == "zfs" and self.store_dir is not None:
            raise ValueError("image.store_dir is for image.store = 'directory'")
        return self


_DATASET = re.compile(r"^[A-Za-z][\w.:-]*(/[\w.:-]+)+$")


class Settings(Strict):
    state_dir: str = str(DEFAULT_STATE_DIR)
    api: ApiConfig = ApiConfig()
    database: DatabaseConfig = DatabaseConfig()
    service: ServiceConfig = ServiceConfig()
    identity: IdentityConfig = IdentityConfig()
    keystone: KeystoneConfig = Field(default_factory=KeystoneConfig, validate_default=True)
    quotas: QuotaConfig = QuotaConfig()
    image: ImageConfig = ImageConfig()
    backends: dict[str, BackendConfig] = Field(default_factory=lambda: {"zfs": ZfsBackendConfig()})

    @field_validator("keystone")
    @classmethod
    def _keystone_is_reachable(cls, keystone: KeystoneConfig, info: ValidationInfo) -> KeystoneConfig:
        api = info.data.get("api")
        if api is not None and api.auth == "keystone" and not (keystone.auth_url and keystone.password):
            raise ValueError("api.auth = 'keystone' needs keystone.auth_url and keystone.password")
        return keystone

    @field_validator("image")
    @classmethod
    def _glance_needs_keystone(cls, image: ImageConfig, info: ValidationInfo) -> ImageConfig:
        api = info.data.get("api")
        if api is not None and image.backend == "glance" and api.auth != "keystone":
            raise ValueError("image.backend = 'glance' needs api.auth = 'keystone' (Glance is called with the "
                             "caller's Keystone token)")
        return image

    @field_validator("backends", mode="before")
    @classmethod
    def _default_driver(cls, backends):
        return {name: with_driver(table) for name, table in backends.items()} if isinstance(backends, dict) else backends

    @field_validator("backends")
    @classmethod
    def _names(cls, backends: dict) -> dict:
        if not backends:
            raise ValueError("at least one backend is needed")
        for name in backends:
            if not name or not all(c.isalnum() or c in "-_" for c in name):
                raise ValueError(f"backend name {name!r} may hold only letters, digits, '-' and '_'")
        return backends


def _describe(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for e in err.errors():
        loc = list(e["loc"])
        if len(loc) > 2 and loc[0] == "backends" and loc[2] in DRIVERS:
            del loc[2]  # the union's tag: the key is backends.NAME.x, whatever the driver
        key = ".".join(str(p) for p in loc) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def load(path: str | os.PathLike | None = None) -> Settings:
    """Read the config: `path`, else $SHOAL_CONFIG, else the default location if it exists."""
    source = path or os.environ.get("SHOAL_CONFIG")
    data: dict = {}
    if source:
        file = Path(source)
        if not file.exists():
            raise ConfigError(f"configuration file {file} does not exist")
    elif DEFAULT_CONFIG_PATH.exists():
        file = DEFAULT_CONFIG_PATH
    else:
        file = None
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    for section, key, env in (("database", "url", "SHOAL_DATABASE_URL"), ("api", "listen", "SHOAL_LISTEN")):
        # A section that is not a table is left for validation to name.
        if (value := os.environ.get(env)) and isinstance(data.setdefault(section, {}), dict):
            data[section][key] = value
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(file or "defaults"))) from None
