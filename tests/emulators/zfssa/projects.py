"""ZFSSA emulator: system version, cluster, pools, projects and the custom-property schema.

- ``GET /api/system/v1/version``: ``{"version": {asn, nodename, version, ...}}``
- ``GET /api/hardware/v1/cluster``: a stand-alone head (``AKCS_UNCONFIGURED``, no peer)
- ``GET /api/storage/v1/pools[/<pool>]``: the one pool, owned by this node
- ``GET|POST /api/storage/v1/pools/<pool>/projects``, ``GET|PUT|DELETE .../projects/<project>``
- ``GET|POST /api/storage/v1/schema``, ``GET|DELETE /api/storage/v1/schema/<property>``
"""

from __future__ import annotations

from typing import Any

from tests.emulators.zfssa import properties, values
from tests.emulators.zfssa.appliance import Appliance
from tests.emulators.zfssa.faults import denied, exists, invalid, missing_arg, not_found
from tests.emulators.zfssa.zpool import EMU, Node

VERSION = "2013.06.05.8.6,1-1.1"
PROJECT_OWN = {"name", "mountpoint", "quota", "reservation", "nodestroy", "default_volblocksize",
               "default_sparse", "default_volsize", "unset"}
SCHEMA_TYPES = ("String", "Integer", "PositiveInteger", "Boolean", "EmailAddress", "Date", "Host")


def version(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"version": {
        "href": "/api/system/v1/version", "nodename": app.nodename, "asn": app.asn,
        "version": VERSION, "product": "Sun ZFS Storage 7420 (emulated)", "boot_time": "", "install_time": "",
        "mkt_product": "ZFS Storage Appliance emulator", "part": "emulator", "csn": app.asn[:8],
    }}


def cluster(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"cluster": {"href": "/api/hardware/v1/cluster", "state": "AKCS_UNCONFIGURED",
                             "description": "Clustering is not configured", "peer_asn": "",
                             "peer_hostname": "", "peer_state": "", "peer_description": ""}}


def pool_view(app: Appliance) -> dict[str, Any]:
    used, available = app.pool.space(app.pool.name)
    return {"name": app.pool.name, "href": f"/api/storage/v1/pools/{app.pool.name}", "asn": app.asn,
            "owner": app.nodename, "profile": "mirror", "status": "online", "peer": "00000000-0000-0000-0000-000000000000",
            "usage": {"available": available, "used": used, "total": used + available, "free": available,
                      "usage_data": used, "usage_total": used, "compression": 1.0, "dedupratio": 100}}


def list_pools(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"pools": [pool_view(app)]}


def get_pool(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    app.check_pool(args["pool"])
    return 200, {"pool": pool_view(app)}


def project_view(app: Appliance, node: Node) -> dict[str, Any]:
    used, available = app.pool.space(node.name)
    inherited, source = properties.inherited_view(node)
    return {
        "name": node.leaf, "pool": app.pool.name, "id": node.emu("id"),
        "href": f"/api/storage/v1/pools/{app.pool.name}/projects/{node.leaf}",
        "canonical_name": f"{app.pool.name}/local/{node.leaf}", "mountpoint": node.values.get("mountpoint", ""),
        "space_available": available, "space_total": used, "space_data": node.number("referenced"),
        "space_snapshots": node.number("usedbysnapshots"), "quota": node.number("quota"),
        "reservation": node.number("reservation"), "nodestroy": node.emu("nodestroy") == "true",
        "default_volblocksize": int(node.emu("default_volblocksize", "8192")),
        "default_sparse": node.emu("default_sparse") == "true", "encryption": "off",
        **inherited, **properties.read_custom(app.schema, node), "source": source,
    }


def list_projects(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    app.check_pool(args["pool"])
    tree = app.pool.read(app.pool.name, depth=1)
    return 200, {"projects": [project_view(app, n) for n in tree.values() if n.kind == "project"]}


def get_project(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"project": project_view(app, app.project(args["pool"], args["project"]))}


def _project_props(app: Appliance, body: dict[str, Any]) -> dict[str, str]:
    out = properties.common(app.schema, body, PROJECT_OWN)
    if "nodestroy" in body:
        out[EMU + "nodestroy"] = str(values.boolean(body["nodestroy"], "nodestroy")).lower()
    if "default_volblocksize" in body:
        out[EMU + "default_volblocksize"] = str(values.block_size(body["default_volblocksize"]))
    if "default_sparse" in body:
        out[EMU + "default_sparse"] = str(values.boolean(body["default_sparse"], "default_sparse")).lower()
    for key in ("quota", "reservation"):
        if key in body:
            out[key] = str(values.size(body[key], key)) if body[key] not in (0, "0") else "none"
    if "mountpoint" in body:
        raise invalid("mountpoint: the emulator keeps each share where its ZFS pool mounts it")
    return out


def create_project(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    app.check_pool(args["pool"])
    body = body or {}
    if "name" not in body:
        raise missing_arg("name")
    name = values.name(body["name"], "project")
    dataset = f"{app.pool.name}/{name}"
    props = _project_props(app, body)
    if app.pool.exists(dataset):
        raise exists(f"project \"{name}\"")
    app.pool.zfs.create(dataset, {EMU + "kind": "project", EMU + "id": app.new_guid()[EMU + "id"]})
    if props:
        app.pool.set(dataset, props)
    return 201, {"project": project_view(app, app.project(args["pool"], name))}


def modify_project(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    node = app.project(args["pool"], args["project"])
    body = body or {}
    if "name" in body and body["name"] != node.leaf:
        raise invalid("renaming a project is not emulated")
    props = _project_props(app, body)
    for prop in properties.unset_names(body):
        app.pool.unset(node.name, prop)
    if props:
        app.pool.set(node.name, props)
    app.exports.sync()
    return 202, {"project": project_view(app, app.project(args["pool"], args["project"]))}


def delete_project(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    node = app.project(args["pool"], args["project"])
    tree = app.pool.read(node.name)
    held = [n.leaf for n in tree.values() if n.emu("nodestroy") == "true" and n.kind in ("project", "lun", "filesystem")
            and EMU + "nodestroy" in n.own]
    if held:
        raise denied(f"project \"{node.leaf}\" holds shares with nodestroy set: {', '.join(held)}")
    clones = app.pool.origins()
    outside = [c for snap, cs in clones.items() if snap.startswith(node.name + "/")
               for c in cs if not c.startswith(node.name + "/")]
    if outside:
        raise denied(f"project \"{node.leaf}\" has snapshots with clones in other projects: {', '.join(outside)}")
    app.exports.take_out(node.name)
    app.pool.destroy_dataset(node.name, recursive=True)
    return 204, None


def list_schema(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"properties": [_schema_view(p) for p in app.schema.values()]}


def _schema_view(prop: dict[str, str]) -> dict[str, str]:
    return {**prop, "href": f"/api/storage/v1/schema/{prop['property']}"}


def get_schema(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    prop = app.schema.get(args["property"])
    if prop is None:
        raise not_found(f"schema property \"{args['property']}\"")
    return 200, {"property": _schema_view(prop)}


def create_schema(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    body = body or {}
    for key in ("property", "type"):
        if key not in body:
            raise missing_arg(key)
    name = body["property"]
    if not isinstance(name, str) or not values.NAME.match(name) or ":" in name:
        raise invalid(f"invalid property name {name!r}")
    kind = values.choice(body["type"], SCHEMA_TYPES, "type")
    if name in app.schema:
        raise exists(f"schema property \"{name}\"")
    app.schema[name] = {"property": name, "description": str(body.get("description", "")), "type": kind}
    return 201, {"property": _schema_view(app.schema[name])}


def delete_schema(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    if app.schema.pop(args["property"], None) is None:
        raise not_found(f"schema property \"{args['property']}\"")
    return 204, None


P = r"/storage/v1/pools/(?P<pool>[^/]+)"
ROUTES = [
    ("GET", r"/system/v1/version", version),
    ("GET", r"/hardware/v1/cluster", cluster),
    ("GET", r"/storage/v1/pools", list_pools),
    ("GET", P, get_pool),
    ("GET", P + r"/projects", list_projects),
    ("POST", P + r"/projects", create_project),
    ("GET", P + r"/projects/(?P<project>[^/]+)", get_project),
    ("PUT", P + r"/projects/(?P<project>[^/]+)", modify_project),
    ("DELETE", P + r"/projects/(?P<project>[^/]+)", delete_project),
    ("GET", r"/storage/v1/schema", list_schema),
    ("POST", r"/storage/v1/schema", create_schema),
    ("GET", r"/storage/v1/schema/(?P<property>[^/]+)", get_schema),
    ("DELETE", r"/storage/v1/schema/(?P<property>[^/]+)", delete_schema),
]
