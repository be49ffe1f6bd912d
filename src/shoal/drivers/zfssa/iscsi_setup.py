"""The appliance objects a `zfssa_iscsi` backend needs (Cinder's do_setup,
reference §3.4): the project, the `cinder_managed` schema, the configured
initiators in their groups, and the target in its target group."""

from __future__ import annotations

from .appliance import Appliance
from .config import ZfssaIscsiBackendConfig
from .setup_checks import CACHE_SCHEMAS, MANAGED_SCHEMA, ensure_schema


def initiator_alias(group: str, iqn: str) -> str:
    return f"{group}-{iqn}"


def ensure_project(api: Appliance, config: ZfssaIscsiBackendConfig) -> None:
    from .rest import ApplianceNotFound

    try:
        api.project(config.pool, config.project)
    except ApplianceNotFound:
        api.create_project(config.pool, {"name": config.project, "compression": config.lun.compression,
                                         "logbias": config.lun.logbias})


def ensure_initiators(api: Appliance, config: ZfssaIscsiBackendConfig) -> None:
    for group, entries in config.initiator_config.items():
        for entry in entries:
            ensure_initiator(api, group, entry.iqn, entry.user, entry.password)


def ensure_initiator(api: Appliance, group: str, iqn: str, user: str | None = None,
                     password: str | None = None) -> None:
    """The initiator known to the appliance (alias `<group>-<iqn>`) and in its group."""
    alias = initiator_alias(group, iqn)
    if api.initiator_by_alias(alias) is None and not api.initiator_exists(iqn):
        body = {"initiator": iqn, "alias": alias}
        if user and password:
            body.update(chapuser=user, chapsecret=password)
        api.create_initiator(body)
    if group != "default":
        ensure_in_group(api, group, iqn)


def ensure_in_group(api: Appliance, group: str, iqn: str) -> None:
    found = api.initiator_group(group)
    if found is None:
        api.create_initiator_group(group, [iqn])
        return
    members = list(found.get("initiators") or [])
    if iqn not in members:
        api.set_initiator_group(group, members + [iqn])


def ensure_target(api: Appliance, config: ZfssaIscsiBackendConfig) -> str:
    """The target (alias = the target group's name) and its group; its IQN."""
    target = api.target_by_alias(config.target_group)
    if target is None:
        body: dict = {"alias": config.target_group}
        if config.target_interfaces:
            body["interfaces"] = list(config.target_interfaces)
        if config.target_user and config.target_password:
            body.update(targetchapuser=config.target_user, targetchapsecret=config.target_password, auth="chap")
        target = api.create_target(body) or api.target_by_alias(config.target_group) or {}
    iqn = target["iqn"]
    group = api.target_group(config.target_group)
    if group is None:
        api.create_target_group(config.target_group, [iqn])
    elif iqn not in (group.get("targets") or []):
        api.set_target_group(config.target_group, [iqn])  # the PUT replaces the list, as Cinder's did
    return iqn


def ensure_cache_project(api: Appliance, config: ZfssaIscsiBackendConfig) -> None:
    """The image cache's project and the custom properties its LUNs carry (when the cache is on)."""
    from .rest import ApplianceNotFound

    if not config.enable_local_cache:
        return
    try:
        api.project(config.pool, config.cache_project)
    except ApplianceNotFound:
        api.create_project(config.pool, {"name": config.cache_project, "compression": config.lun.compression,
                                         "logbias": config.lun.logbias})
    for schema in CACHE_SCHEMAS:
        ensure_schema(api, *schema)


def setup(api: Appliance, config: ZfssaIscsiBackendConfig) -> str:
    ensure_project(api, config)
    ensure_schema(api, *MANAGED_SCHEMA)
    ensure_cache_project(api, config)
    ensure_initiators(api, config)
    return ensure_target(api, config)
