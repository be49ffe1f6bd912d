"""ZFSSA emulator: LUNs, ``/api/storage/v1/pools/<pool>/projects/<project>/luns[/<lun>]``.

A LUN is a dataset holding one sparse file of ``volsize`` bytes (see ``zpool``).
Thick (``sparse: false``) LUNs reserve their size (``refreservation``), so a
pool that cannot hold them refuses them. ``initiatorgroup`` is a list (one
group is also taken as a plain string; ``com.sun.ms.vss.hg.maskAll`` or ``[]``
means no group: the LUN is not presented); ``assignednumber`` lists the LU
number for each group, in the same order. The emulator gives each LUN one LU
number, unique on the appliance and at least 1 (tgtd keeps LUN 0 for its
controller), and presents it under that number in every group.
"""

from __future__ import annotations

from typing import Any

from tests.emulators.zfssa import properties, shares, values
from tests.emulators.zfssa.appliance import Appliance
from tests.emulators.zfssa.faults import ApiError, exists, invalid, missing_arg
from tests.emulators.zfssa.zpool import EMU, VOLUME_FILE, Node

OWN = {"name", "volsize", "volblocksize", "sparse", "targetgroup", "initiatorgroup", "lunnumber",
       "fixednumber", "status", "writecache", "nodestroy", "project", "unset", "copies", "checksum",
       "dedup", "secondarycache"}


def groups_of(node: Node) -> list[str]:
    raw = node.emu("initiatorgroup", values.MASK_ALL)
    return [] if raw == values.MASK_ALL else raw.split(",")


def file_size(node: Node) -> int:
    from pathlib import Path

    try:
        return (Path(node.values["mountpoint"]) / VOLUME_FILE).stat().st_size
    except (KeyError, OSError):
        return 0


def view(app: Appliance, node: Node) -> dict[str, Any]:
    groups = groups_of(node)
    number = int(node.emu("lunnumber", "0"))
    size = file_size(node)
    return {
        **shares.common_view(app, node),
        "volsize": size, "volblocksize": int(node.emu("volblocksize", "8192")),
        "sparse": node.emu("sparse") == "true", "lunguid": node.emu("lunguid"),
        "stmfguid": node.emu("lunguid"), "targetgroup": node.emu("targetgroup", "default"),
        "initiatorgroup": groups or [values.MASK_ALL], "assignednumber": [number] * max(len(groups), 1),
        "lunnumber": "auto", "fixednumber": False, "status": "online", "writecache": False,
        "space_total": node.number("used"),
    }


def _check_groups(app: Appliance, groups: list[str], targetgroup: str | None) -> None:
    for group in groups:
        if group != "default" and group not in app.san.initiator_groups:
            raise invalid(f"initiatorgroup: no initiator group \"{group}\"")
    if targetgroup is not None and targetgroup != "default" and targetgroup not in app.san.target_groups:
        raise invalid(f"targetgroup: no target group \"{targetgroup}\"")


def _san_props(app: Appliance, body: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    groups = values.groups(body["initiatorgroup"], "initiatorgroup") if "initiatorgroup" in body else None
    target = body.get("targetgroup")
    if target is not None and not isinstance(target, str):
        raise invalid(f"targetgroup: expected a name, got {target!r}")
    _check_groups(app, groups or [], target)
    if groups is not None:
        out[EMU + "initiatorgroup"] = ",".join(groups) or values.MASK_ALL  # ZFS takes no empty value
    if target is not None:
        out[EMU + "targetgroup"] = target
    if body.get("lunnumber", "auto") != "auto":
        raise invalid("lunnumber: the emulator assigns LU numbers itself ('auto')")
    return out


def next_number(app: Appliance) -> int:
    used = {int(n.emu("lunnumber", "0")) for n in app.pool.read().values() if n.kind == "lun"}
    return next(i for i in range(1, len(used) + 2) if i not in used)


def _reserve(app: Appliance, dataset: str, sparse: bool, size: int) -> None:
    try:
        app.pool.set(dataset, {"refreservation": "none" if sparse else str(size)})
    except Exception as exc:  # noqa: BLE001 - ZFS says why (out of space)
        raise ApiError(409, f"cannot reserve {size} bytes for a thick LUN: {exc}", "ERR_OVER_LIMIT") from None


def list_luns(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"luns": [view(app, n) for n in app.shares(args["pool"], args["project"], "lun")]}


def get_lun(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"lun": view(app, app.share(args["pool"], args["project"], args["lun"], "lun"))}


def create_lun(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    project = app.project(args["pool"], args["project"])
    body = body or {}
    for key in ("name", "volsize"):
        if key not in body:
            raise missing_arg(key)
    name = values.name(body["name"], "LUN")
    size = values.size(body["volsize"])
    block = values.block_size(body.get("volblocksize", project.emu("default_volblocksize", "8192")))
    sparse = values.boolean(body.get("sparse", project.emu("default_sparse", "false")), "sparse")
    props = properties.common(app.schema, body, OWN)
    props.update(shares.nodestroy(body))
    props.update(_san_props(app, {"initiatorgroup": "default", "targetgroup": "default", **body}))
    dataset = f"{project.name}/{name}"
    if app.pool.exists(dataset):
        raise exists(f"share \"{name}\" in project \"{project.leaf}\"")
    app.pool.zfs.create(dataset, {EMU + "kind": "lun", "recordsize": str(block)})
    try:
        _reserve(app, dataset, sparse, size)
        app.pool.set(dataset, {**props, **app.new_guid(), EMU + "volblocksize": str(block),
                               EMU + "sparse": str(sparse).lower(), EMU + "lunnumber": str(next_number(app))})
        app.pool.zfs.host.set_file_size(str(app.pool.volume_file(dataset)), size)
    except BaseException:
        app.pool.destroy_dataset(dataset, recursive=True)
        raise
    app.exports.sync()
    return 201, {"lun": view(app, app.share(args["pool"], args["project"], name, "lun"))}


def modify_lun(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    node = app.share(args["pool"], args["project"], args["lun"], "lun")
    body = body or {}
    if "volblocksize" in body and values.block_size(body["volblocksize"]) != int(node.emu("volblocksize", "8192")):
        raise invalid("volblocksize cannot be changed once the LUN exists")
    props = properties.common(app.schema, body, OWN)
    props.update(shares.nodestroy(body))
    props.update(_san_props(app, body))
    size = values.size(body["volsize"]) if "volsize" in body else None
    sparse = values.boolean(body["sparse"], "sparse") if "sparse" in body else node.emu("sparse") == "true"
    unset = properties.unset_names(body)
    old_size = file_size(node)  # read before a rename moves the file
    dataset = shares.relocate(app, node, body.get("project"), body.get("name"))
    for prop in unset:
        app.pool.unset(dataset, prop)
    if size is not None or "sparse" in body:
        _reserve(app, dataset, sparse, size or old_size)
        props[EMU + "sparse"] = str(sparse).lower()
    if props:
        app.pool.set(dataset, props)
    if size is not None and size != old_size:
        app.pool.zfs.host.set_file_size(str(app.pool.volume_file(dataset)), size)
        app.exports.resized(dataset)
    app.exports.sync()
    project, name = dataset.split("/")[1:]
    return 202, {"lun": view(app, app.share(args["pool"], project, name, "lun"))}


def delete_lun(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    shares.delete(app, app.share(args["pool"], args["project"], args["lun"], "lun"))
    return 204, None


ROUTES = shares.crud_routes(r"/storage/v1/pools/(?P<pool>[^/]+)/projects/(?P<project>[^/]+)/luns", "lun",
                            (list_luns, create_lun, get_lun, modify_lun, delete_lun))
