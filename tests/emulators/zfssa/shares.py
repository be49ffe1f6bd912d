"""What LUNs and filesystems of the ZFSSA emulator have in common: their view,
rename and move between projects, nodestroy, and deletion.

A rename, a move or a delete first takes the share out of tgtd and ganesha
(``exports.take_out(...)``): both keep the share's files open, and zfs-fuse
will not unmount (rename, destroy) a dataset with open files.
"""

from __future__ import annotations

import time
from typing import Any

from tests.emulators.zfssa import properties, values
from tests.emulators.zfssa.appliance import Appliance
from tests.emulators.zfssa.faults import denied, exists
from tests.emulators.zfssa.zpool import EMU, Node

COLLECTION = {"lun": "luns", "filesystem": "filesystems"}


def origin_view(app: Appliance, node: Node) -> dict[str, str] | None:
    origin = node.values.get("origin", "-")
    if origin in ("-", ""):
        return None
    dataset, _, snap = origin.partition("@")
    parts = dataset.split("/")
    if len(parts) != 3:
        return None
    return {"pool": parts[0], "project": parts[1], "share": parts[2], "snapshot": snap}


def creation(node: Node) -> str:
    """The appliance's time format, 20130423T21:31:17 (UTC)."""
    raw = node.values.get("creation", "")
    return time.strftime("%Y%m%dT%H:%M:%S", time.gmtime(int(raw))) if raw.isdigit() else raw


def common_view(app: Appliance, node: Node) -> dict[str, Any]:
    project = node.name.split("/")[1]
    inherited, source = properties.inherited_view(node)
    view: dict[str, Any] = {
        "name": node.leaf, "project": project, "pool": app.pool.name, "id": node.emu("id"),
        "href": f"/api/storage/v1/pools/{app.pool.name}/projects/{project}/{COLLECTION[node.kind]}/{node.leaf}",
        "canonical_name": f"{app.pool.name}/local/{project}/{node.leaf}",
        "creation": creation(node), "nodestroy": node.emu("nodestroy") == "true",
        "space_data": node.number("referenced"), "space_snapshots": node.number("usedbysnapshots"),
        "encryption": "off", "readonly": False,
        **inherited, **properties.read_custom(app.schema, node), "source": source,
    }
    origin = origin_view(app, node)
    if origin is not None:
        view["origin"] = origin
    return view


def nodestroy(body: dict[str, Any]) -> dict[str, str]:
    return {EMU + "nodestroy": str(values.boolean(body["nodestroy"], "nodestroy")).lower()} if "nodestroy" in body else {}


def relocate(app: Appliance, node: Node, project: str | None, name: str | None) -> str:
    """Rename and/or move a share to another project of the pool; its new dataset name."""
    new_project = node.name.split("/")[1] if project is None else project
    new_name = node.leaf if name is None else values.name(name, "share")
    if project is not None:
        app.project(app.pool.name, new_project)
    target = f"{app.pool.name}/{new_project}/{new_name}"
    if target == node.name:
        return target
    if app.pool.exists(target):
        raise exists(f"share \"{new_name}\" in project \"{new_project}\"")
    app.exports.take_out(node.name)
    clones = [c for snap, cs in app.pool.origins().items() if snap.startswith(node.name + "@") for c in cs]
    app.pool.rename(node.name, target, clones)
    return target


def delete(app: Appliance, node: Node) -> None:
    """Destroy a share and its snapshots; refused while nodestroy is set or its
    snapshots have clones (the appliance removes a share only with what depends on it gone)."""
    if node.emu("nodestroy") == "true":
        raise denied(f"share \"{node.leaf}\" has nodestroy set")
    clones = [c for snap, cs in app.pool.origins().items() if snap.startswith(node.name + "@") for c in cs]
    if clones:
        raise denied(f"share \"{node.leaf}\" has snapshots with dependent clones: "
                     f"{', '.join(c.split('/', 1)[1] for c in clones)}")
    app.exports.take_out(node.name)
    app.pool.destroy_dataset(node.name, recursive=True)


def crud_routes(base: str, key: str, handlers: tuple) -> list[tuple[str, str, Any]]:
    """Routes of a collection at `base` and its members at `base/(?P<key>...)`:
    `handlers` are (list, create, get, modify, delete)."""
    list_, create, get, modify, remove = handlers
    one = base + rf"/(?P<{key}>[^/]+)"
    return [("GET", base, list_), ("POST", base, create), ("GET", one, get), ("PUT", one, modify),
            ("DELETE", one, remove)]
