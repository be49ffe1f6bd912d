"""ZFSSA emulator: filesystems, ``/api/storage/v1/pools/<pool>/projects/<project>/filesystems[/<fs>]``.

A filesystem is a ZFS dataset. ``mountpoint`` is where it really is mounted on
this host (an appliance says ``/export/<share>``): NFS clients mount that path
from the emulator's ganesha, and WebDAV serves it under ``/shares<mountpoint>``.
``sharenfs`` (``on``/``rw``, ``ro``, ``off`` or ``rw=@ADDR/LEN:...`` options)
becomes the share's ganesha export rules; ``sharedav`` (``rw``/``ro``/``off``)
whether WebDAV serves it; ``root_permissions`` is the mode of its root
directory; ``quota``/``reservation`` are ZFS's.

``PUT .../filesystems/<name>`` with ``{"project": ...}`` moves a share to
another project, a LUN as well (the appliance's migration flow, §3.8, moves a
LUN through this path).
"""

from __future__ import annotations

import os
from typing import Any

from tests.emulators.zfssa import properties, shares, values
from tests.emulators.zfssa.appliance import Appliance
from tests.emulators.zfssa.faults import exists, invalid, missing_arg
from tests.emulators.zfssa.zpool import EMU, Node

OWN = {"name", "quota", "reservation", "root_permissions", "root_user", "root_group", "recordsize",
       "nodestroy", "project", "unset", "atime", "readonly", "sharesmb", "casesensitivity", "aclmode",
       "aclinherit", "copies", "checksum", "dedup", "secondarycache", "utf8only", "normalization"}


def view(app: Appliance, node: Node) -> dict[str, Any]:
    used, available = app.pool.space(node.name)
    mountpoint = node.values.get("mountpoint", "")
    try:
        mode = format(os.stat(mountpoint).st_mode & 0o7777, "o")
    except OSError:
        mode = ""
    return {
        **shares.common_view(app, node), "mountpoint": mountpoint, "space_available": available,
        "space_total": used, "quota": node.number("quota"), "reservation": node.number("reservation"),
        "recordsize": node.number("recordsize"), "root_permissions": mode,
        "root_user": node.emu("root_user", "root"), "root_group": node.emu("root_group", "other"),
        "sharesmb": "off",
    }


def set_root_permissions(app: Appliance, dataset: str, value: Any) -> None:
    if not isinstance(value, str) or not value.isdigit() or len(value) > 4 or any(c > "7" for c in value):
        raise invalid(f"root_permissions: expected an octal mode such as '777', got {value!r}")
    os.chmod(app.pool.mountpoint(dataset), int(value, 8))


def _props(app: Appliance, body: dict[str, Any]) -> dict[str, str]:
    props = properties.common(app.schema, body, OWN)
    props.update(shares.nodestroy(body))
    for key in ("quota", "reservation"):
        if key in body:
            props[key] = str(values.size(body[key], key)) if body[key] not in (0, "0") else "none"
    if "recordsize" in body:
        props["recordsize"] = str(values.block_size(body["recordsize"]))
    for key in ("root_user", "root_group"):
        if key in body:
            props[EMU + key] = str(body[key])
    return props


def list_filesystems(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"filesystems": [view(app, n) for n in app.shares(args["pool"], args["project"], "filesystem")]}


def get_filesystem(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"filesystem": view(app, app.share(args["pool"], args["project"], args["fs"], "filesystem"))}


def create_filesystem(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    project = app.project(args["pool"], args["project"])
    body = body or {}
    if "name" not in body:
        raise missing_arg("name")
    name = values.name(body["name"], "filesystem")
    props = _props(app, body)
    dataset = f"{project.name}/{name}"
    if app.pool.exists(dataset):
        raise exists(f"share \"{name}\" in project \"{project.leaf}\"")
    app.pool.zfs.create(dataset, {EMU + "kind": "filesystem"})
    try:
        app.pool.set(dataset, {**props, **app.new_guid()})
        if "root_permissions" in body:
            set_root_permissions(app, dataset, body["root_permissions"])
    except BaseException:
        app.pool.destroy_dataset(dataset, recursive=True)
        raise
    app.exports.sync()
    return 201, {"filesystem": view(app, app.share(args["pool"], args["project"], name, "filesystem"))}


def modify_share(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    """PUT on a filesystem; on a LUN only a move to another project (``{"project": ...}``)."""
    node = app.share(args["pool"], args["project"], args["fs"], None)
    body = body or {}
    if node.kind == "lun":
        if set(body) != {"project"}:
            raise invalid(f"\"{node.leaf}\" is a LUN: change it under .../luns/{node.leaf}")
        dataset = shares.relocate(app, node, body["project"], None)
        app.exports.sync()
        from tests.emulators.zfssa import luns

        return 202, {"lun": luns.view(app, app.pool.node(dataset))}
    props = _props(app, body)
    unset = properties.unset_names(body)
    dataset = shares.relocate(app, node, body.get("project"), body.get("name"))
    for prop in unset:
        app.pool.unset(dataset, prop)
    if props:
        app.pool.set(dataset, props)
    if "root_permissions" in body:
        set_root_permissions(app, dataset, body["root_permissions"])
    app.exports.sync()
    return 202, {"filesystem": view(app, app.pool.node(dataset))}


def delete_filesystem(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    shares.delete(app, app.share(args["pool"], args["project"], args["fs"], "filesystem"))
    return 204, None


ROUTES = shares.crud_routes(r"/storage/v1/pools/(?P<pool>[^/]+)/projects/(?P<project>[^/]+)/filesystems", "fs",
                            (list_filesystems, create_filesystem, get_filesystem, modify_share, delete_filesystem))
