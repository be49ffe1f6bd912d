"""ZFSSA emulator: snapshots and clones of LUNs and filesystems.

``.../{luns|filesystems}/<share>/snapshots[/<snap>]`` (GET, POST ``{name}``, PUT
``{name}`` to rename, DELETE), ``.../snapshots/<snap>/clone`` (PUT
``{project, share, ...properties}``, 201 with the new share),
``.../snapshots/<snap>/dependents`` and ``.../snapshots/<snap>/rollback`` (PUT,
202). A snapshot is the ZFS snapshot ``<share dataset>@<name>``; a clone is a
ZFS clone of it. ``numclones`` counts the clones ZFS knows of.

Deleting a snapshot deletes its clones with it (as the appliance does: the
driver relies on it to drop a clone and its temporary snapshot in one call),
unless one of them has nodestroy set (403).
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.emulators.zfssa import filesystems, luns, properties, shares, values
from tests.emulators.zfssa.appliance import Appliance
from tests.emulators.zfssa.faults import (
    ApiError,
    denied,
    exists,
    invalid,
    missing_arg,
    not_found,
)
from tests.emulators.zfssa.zpool import CUSTOM, EMU, Node, flush

KINDS = {"luns": "lun", "filesystems": "filesystem"}
CLONE_OWN = {"project", "share", "nodestroy", "sparse", "targetgroup", "initiatorgroup", "quota",
             "reservation", "root_permissions", "unset", "lunnumber"}


def _share(app: Appliance, args: dict) -> Node:
    return app.share(args["pool"], args["project"], args["share"], KINDS[args["coll"]])


def _snapshot(app: Appliance, args: dict) -> tuple[Node, Node]:
    share = _share(app, args)
    snap = app.pool.node(f"{share.name}@{args['snap']}") if "@" not in args["snap"] else None
    if snap is None:
        raise not_found(f"snapshot \"{args['snap']}\"")
    return share, snap


def view(app: Appliance, share: Node, snap: Node, clones: dict[str, list[str]]) -> dict[str, Any]:
    project = share.name.split("/")[1]
    return {
        "name": snap.leaf, "id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{snap.name}@{snap.values.get('creation')}")), "creation": shares.creation(snap),
        "href": f"/api/storage/v1/pools/{app.pool.name}/projects/{project}/"
                f"{shares.COLLECTION[share.kind]}/{share.leaf}/snapshots/{snap.leaf}",
        "numclones": len(clones.get(snap.name, [])), "space_unique": snap.number("used"),
        "space_data": snap.number("referenced"), "isauto": False, "project": project,
        "pool": app.pool.name, "collection": "local", "canonical_name":
            f"{app.pool.name}/local/{project}/{share.leaf}@{snap.leaf}",
    }


def list_snapshots(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    share = _share(app, args)
    clones = app.pool.origins()
    snaps = [n for n in app.pool.read(share.name, depth=1).values() if n.kind == "snapshot"]
    return 200, {"snapshots": [view(app, share, s, clones) for s in snaps]}


def get_snapshot(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    share, snap = _snapshot(app, args)
    return 200, {"snapshot": view(app, share, snap, app.pool.origins())}


def create_snapshot(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    share = _share(app, args)
    body = body or {}
    if "name" not in body:
        raise missing_arg("name")
    for key in body:
        if key != "name":
            raise ApiError(400, f"unknown property \"{key}\"", "ERR_UNKNOWN_ARG")
    name = values.name(body["name"], "snapshot")
    if app.pool.exists(f"{share.name}@{name}"):
        raise exists(f"snapshot \"{name}\"")
    if share.kind == "lun":
        flush(app.pool.volume_file(share.name))
    app.pool.zfs.snapshot(f"{share.name}@{name}")
    return 201, {"snapshot": view(app, share, app.pool.node(f"{share.name}@{name}"), {})}


def rename_snapshot(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    share, snap = _snapshot(app, args)
    body = body or {}
    if set(body) - {"name"}:
        raise invalid("only a snapshot's name can be changed")
    if "name" in body and body["name"] != snap.leaf:
        name = values.name(body["name"], "snapshot")
        if app.pool.exists(f"{share.name}@{name}"):
            raise exists(f"snapshot \"{name}\"")
        app.pool.zfs.rename(snap.name, f"{share.name}@{name}")
        snap = app.pool.node(f"{share.name}@{name}")
    return 202, {"snapshot": view(app, share, snap, app.pool.origins())}


def delete_snapshot(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    _, snap = _snapshot(app, args)
    clones = app.pool.origins().get(snap.name, [])
    held = [c for c in clones if (n := app.pool.node(c)) is not None and n.emu("nodestroy") == "true"]
    if held:
        raise denied(f"snapshot \"{snap.leaf}\" has clones with nodestroy set: "
                     f"{', '.join(c.split('/', 1)[1] for c in held)}")
    for clone in clones:
        shares.delete(app, app.pool.node(clone))
    app.pool.destroy_dataset(snap.name)
    return 204, None


def dependents(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    _, snap = _snapshot(app, args)
    out = []
    for clone in app.pool.origins().get(snap.name, []):
        _, project, share = clone.split("/")
        out.append({"project": project, "share": share,
                    "href": f"/api/storage/v1/pools/{app.pool.name}/projects/{project}/"
                            f"{shares.COLLECTION.get(app.pool.node(clone).kind, 'filesystems')}/{share}"})
    return 200, {"dependents": out}


def clone(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    share, snap = _snapshot(app, args)
    body = dict(body or {})
    for key in ("project", "share"):
        if key not in body:
            raise missing_arg(key)
    if "volblocksize" in body:
        raise invalid("volblocksize cannot be set on a clone: it is the origin's")
    project = app.project(args["pool"], body["project"])
    name = values.name(body["share"], "share")
    props = properties.common(app.schema, body, CLONE_OWN | (filesystems.OWN if share.kind == "filesystem" else set()))
    props.update(shares.nodestroy(body))
    target = f"{project.name}/{name}"
    if app.pool.exists(target):
        raise exists(f"share \"{name}\" in project \"{project.leaf}\"")
    own = {k: v for k, v in share.own.items() if k.startswith((EMU, CUSTOM)) and k not in (EMU + "nodestroy",)}
    if share.kind == "lun":
        own.update(luns._san_props(app, {"initiatorgroup": [], **{k: body[k] for k in ("initiatorgroup", "targetgroup") if k in body}}))
        own[EMU + "lunnumber"] = str(luns.next_number(app))
        sparse = values.boolean(body.get("sparse", share.emu("sparse")), "sparse")
        own[EMU + "sparse"] = str(sparse).lower()
    app.pool.zfs.clone(snap.name, target)
    try:
        app.pool.set(target, {**own, **props, **app.new_guid()})
        if share.kind == "lun":
            luns._reserve(app, target, sparse, luns.file_size(app.pool.node(target)))
        elif "root_permissions" in body:
            filesystems.set_root_permissions(app, target, body["root_permissions"])
    except BaseException:
        app.pool.destroy_dataset(target, recursive=True)
        raise
    app.exports.sync()
    node = app.pool.node(target)
    if share.kind == "lun":
        return 201, {"lun": luns.view(app, node)}
    return 201, {"filesystem": filesystems.view(app, node)}


def rollback(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    """The share's data back to the snapshot's, 202 with the snapshot's properties
    (the guide's "Rollback Snapshot"). Snapshots taken after it are destroyed, as
    the appliance warns before a rollback; one that clones depend on stops it
    (ZFS cannot roll back past it without destroying the clones; the guide gives
    no answer for that case, the emulator answers 403 as for a held delete).
    The share's properties stay as they are: ZFS keeps them out of snapshots.
    The share leaves tgtd and ganesha meanwhile (on zfs-fuse a rollback under an
    open file wedges the next unmount); a LUN comes back with the snapshot's size."""
    share, snap = _snapshot(app, args)
    clones = app.pool.origins()
    later = app.pool.snapshots_after(snap.name)
    held = [name.split("@", 1)[1] for name in later if clones.get(name)]
    if held:
        raise denied(f"cannot roll back to \"{snap.leaf}\": later snapshots have clones: {', '.join(held)}")
    app.exports.take_out(share.name)
    try:
        for newer in reversed(later):
            app.pool.destroy_dataset(newer)
        app.pool.zfs.remount(share.name)  # busy retries until nothing holds a file open
        app.pool.zfs.rollback(snap.name)
    finally:
        app.exports.sync()
    return 202, {"snapshot": view(app, share, app.pool.node(snap.name), app.pool.origins())}


S = (r"/storage/v1/pools/(?P<pool>[^/]+)/projects/(?P<project>[^/]+)/(?P<coll>luns|filesystems)"
     r"/(?P<share>[^/]+)/snapshots")
ONE = S + r"/(?P<snap>[^/]+)"
ROUTES = [
    ("GET", S, list_snapshots),
    ("POST", S, create_snapshot),
    ("GET", ONE, get_snapshot),
    ("PUT", ONE, rename_snapshot),
    ("DELETE", ONE, delete_snapshot),
    ("PUT", ONE + r"/clone", clone),
    ("GET", ONE + r"/dependents", dependents),
    ("PUT", ONE + r"/rollback", rollback),
]
