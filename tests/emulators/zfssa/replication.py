"""ZFSSA emulator: remote replication between two emulators (§3.8), over
``zfs send | zfs receive`` joined by Shoal's host runner (``Host.pipe``).

Source side (``/api/storage/v1/replication``):

- ``targets``: POST ``{hostname, root_password, label}`` names a peer by its
  replication address (an emulator's ``replication_ip``; peers are emulators
  of this process) and checks its password; listed as ``{id, label,
  hostname, asn, address: '<ip>:216'}``.
- ``actions``: POST ``{pool, project, target, target_pool, [share], [include_snaps]}`` (a share
  only once its ``.../replication`` says ``inherited: false``); PUT
  ``actions/<id>/sendupdate`` (202) starts an update in the background: a ZFS
  snapshot of the project or share, sent in full the first time and
  incrementally after (``zfs send -p``, properties included; with
  ``include_snaps``, the default, a share's other snapshots too: ``-R``/``-I``), received by the
  peer into the package ``<id>``. GET shows ``state: 'sending'`` and
  ``last_result: '<unknown>'`` meanwhile, then ``state: 'idle'`` and
  ``last_result: 'success'`` or ``'failed'`` (the replication service off on
  either side fails it). PUT ``actions/<id>/cancelupdate`` (202) stops the
  running update (its ``zfs send``/``receive`` killed): it ends ``idle`` with
  ``last_result: 'canceled'`` and its snapshot gone; with no update running
  it is refused, 409 ``EAK_NAS_REPL_BADSTATE`` "operation illegal for state",
  as the appliance's API guide shows for a package's cancelupdate. DELETE
  removes the action and its snapshots, not what the peer received.
- ``.../projects/<p>/{filesystems|luns}/<share>/replication``: GET/PUT ``{inherited}``.

Target side: ``sources`` lists the peers that sent packages, ``sources/<name>/packages``
their packages; PUT ``.../packages/<id>/sever`` ``{projname}`` turns a package
into a local project (its LUNs get LU numbers of this appliance; 409 if the
project exists); DELETE ``.../packages/<id>`` drops it. A package's shares are
not exported until severed.

Test hook: ``hold_updates()`` makes every update from then on wait, once its
package exists on the peer and before any byte is sent (state ``sending``),
until ``release_updates()`` or a cancelupdate: an update as long as a test
needs, as a large LUN's is on a real appliance.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from shoal.hosts import transfer
from tests.emulators.zfssa import values
from tests.emulators.zfssa.appliance import Appliance
from tests.emulators.zfssa.faults import (
    ApiError,
    exists,
    invalid,
    missing_arg,
    not_found,
    unknown_arg,
)
from tests.emulators.zfssa.zpool import EMU, PACKAGES, flush

REPLICATION_PORT = 216
PEERS: dict[str, Appliance] = {}  # replication address -> emulator, in this process
PEERS_LOCK = threading.Lock()
_addresses = itertools.count(1)


def new_address() -> str:
    """A loopback address of its own for an emulator's replication (nothing listens on it:
    the transfer is joined in this process)."""
    n = next(_addresses)
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


@dataclass
class Target:
    id: str
    label: str
    hostname: str
    peer: Appliance

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "hostname": self.hostname, "asn": self.peer.asn,
                "address": f"{self.hostname}:{REPLICATION_PORT}", "href": f"/api/storage/v1/replication/targets/{self.id}",
                "actions": 0}


@dataclass
class Action:
    id: str
    pool: str
    project: str
    share: str | None
    target: Target
    target_pool: str
    include_snaps: bool = True  # the appliance's default: a share's other snapshots travel too
    state: str = "idle"
    last_result: str = "<unknown>"
    last_sync: str = ""
    snapshots: list[str] = field(default_factory=list)  # this side's replication snapshots, oldest first
    error: str = ""
    canceled: threading.Event = field(default_factory=threading.Event)  # a cancelupdate of the running update

    @property
    def owner(self) -> str:
        """Whose processes the update's `zfs send | zfs receive` are (so a cancel stops exactly those)."""
        return f"zfssa-emu-repl-{self.id}"

    @property
    def dataset_rel(self) -> str:
        return f"{self.project}/{self.share}" if self.share else self.project

    def view(self) -> dict[str, Any]:
        out = {"id": self.id, "href": f"/api/storage/v1/replication/actions/{self.id}", "pool": self.pool,
               "project": self.project, "target": self.target.label, "target_id": self.target.id,
               "target_pool": self.target_pool, "state": self.state, "last_result": self.last_result,
               "last_sync": self.last_sync, "enabled": True, "continuous": False, "include_snaps": self.include_snaps,
               "replication_of": self.dataset_rel}
        if self.share:
            out["share"] = self.share
        return out


@dataclass
class Package:
    id: str
    source: str  # the sending appliance's nodename
    source_asn: str
    dataset: str

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "href": f"/api/storage/v1/replication/sources/{self.source}/packages/{self.id}",
                "source_asn": self.source_asn, "state": "idle", "enabled": True}


class Replication:
    def __init__(self, app: Appliance):
        self.app = app
        self.address = new_address()
        self.password = ""  # set by the server: what a peer gives as root_password
        self.targets: dict[str, Target] = {}
        self.actions: dict[str, Action] = {}
        self.packages: dict[str, Package] = {}
        self.threads: list[threading.Thread] = []
        self.release = threading.Event()  # cleared by hold_updates()
        self.release.set()

    def register(self, password: str) -> None:
        self.password = password
        with PEERS_LOCK:
            PEERS[self.address] = self.app

    def unregister(self) -> None:
        self.release.set()
        for thread in self.threads:
            thread.join(timeout=600)
        with PEERS_LOCK:
            PEERS.pop(self.address, None)

    # ---- the update -----------------------------------------------------------

    def hold_updates(self) -> None:
        self.release.clear()

    def release_updates(self) -> None:
        self.release.set()

    def send_update(self, action: Action) -> None:
        action.state, action.last_result = "sending", "<unknown>"
        action.canceled.clear()
        transfer.release(action.owner)  # a cancel that came as the previous update ended
        thread = threading.Thread(target=self._update, args=(action,), name=f"zfssa-emu-repl-{action.id}", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def _update(self, action: Action) -> None:
        peer = action.target.peer
        snap, result = None, "failed"
        try:
            if not (self.app.service_online("replication") and peer.service_online("replication")):
                raise RuntimeError("the replication service is not online on both appliances")
            source = f"{self.app.pool.name}/{action.dataset_rel}"
            snap = f"{source}@zfssa-emu-repl-{len(action.snapshots) + 1}-{uuid.uuid4().hex[:6]}"
            with self.app.lock:
                for node in self.app.pool.read(source).values():
                    if node.kind == "lun" and "@" not in node.name:
                        flush(self.app.pool.volume_file(node.name))
                self.app.pool.zfs.snapshot(snap) if action.share else \
                    self.app.pool.zfs.host.run(["zfs", "snapshot", "-r", snap])
            previous = action.snapshots[-1] if action.snapshots else None
            action.snapshots.append(snap)
            # A project's stream holds its shares (-R); a share's holds its other
            # snapshots when include_snaps (-R, and -I for those made since the last update).
            whole = not action.share or action.include_snaps
            since = ["-I" if action.share and action.include_snaps else "-i", previous] if previous else []
            send = ["zfs", "send", "-p", *(["-R"] if whole else []), *since, snap]
            with peer.lock:
                package = peer.replication.receive_into(action, self.app)
            while not (self.release.wait(0.05) or action.canceled.is_set()):
                pass  # held by the test hook
            with peer.lock:
                if action.canceled.is_set():
                    raise _Canceled()
                host = self.app.pool.zfs.host
                transfer.transfer(host, send, host, ["zfs", "receive", "-F", package], owner=action.owner)
            result = "success"
        except Exception as exc:  # noqa: BLE001 - a failed update is a result, as on the appliance
            result = "failed"
            if action.canceled.is_set():  # the snapshot of an update that never arrived goes
                result = "canceled"
                if action.snapshots and action.snapshots[-1] == snap:
                    action.snapshots.pop()
                    self.app.pool.zfs.host.run(["zfs", "destroy", *([] if action.share else ["-r"]), snap],
                                               check=False)
            else:
                action.error = str(exc)
        finally:
            transfer.release(action.owner)
            with self.app.lock:  # a GET (under the lock) sees the result and the state change together
                action.last_result, action.state = result, "idle"

    def cancel_update(self, action: Action) -> None:
        action.canceled.set()
        transfer.stop(action.owner)

    def receive_into(self, action: Action, source: Appliance) -> str:
        """Where this appliance receives `action`'s stream (its package, made on the first update)."""
        base = f"{self.app.pool.name}/{PACKAGES}/{action.id}"
        if action.id not in self.packages:
            if action.target_pool != self.app.pool.name:
                raise RuntimeError(f"no pool {action.target_pool} on {self.app.nodename}")
            if not self.app.pool.exists(base) and action.share:
                self.app.pool.zfs.create(base, {EMU + "kind": "package"})
            self.packages[action.id] = Package(action.id, source.nodename, source.asn, base)
        return f"{base}/{action.share}" if action.share else base


class _Canceled(Exception):
    pass


def _repl(app: Appliance) -> Replication:
    return app.replication


# ---- source side ------------------------------------------------------------------


def list_targets(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"targets": [t.view() for t in _repl(app).targets.values()]}


def get_target(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    target = _repl(app).targets.get(args["id"])
    if target is None:
        raise not_found(f"replication target \"{args['id']}\"")
    return 200, {"target": target.view()}


def create_target(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    body = body or {}
    for key in ("hostname", "root_password", "label"):
        if key not in body:
            raise missing_arg(key)
    for key in body:
        if key not in ("hostname", "root_password", "label"):
            raise unknown_arg(key)
    with PEERS_LOCK:
        peer = PEERS.get(str(body["hostname"]).rsplit(":", 1)[0] if ":216" in str(body["hostname"]) else body["hostname"])
    if peer is None or peer is app:
        raise invalid(f"no appliance answers replication at {body['hostname']}")
    if body["root_password"] != peer.replication.password:
        raise ApiError(401, f"{body['hostname']} refused the root password")
    if any(t.label == body["label"] for t in _repl(app).targets.values()):
        raise exists(f"replication target \"{body['label']}\"")
    target = Target(str(uuid.uuid4()), body["label"], peer.replication.address, peer)
    _repl(app).targets[target.id] = target
    return 201, {"target": target.view()}


def delete_target(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    target = _repl(app).targets.get(args["id"])
    if target is None:
        raise not_found(f"replication target \"{args['id']}\"")
    if any(a.target is target for a in _repl(app).actions.values()):
        raise ApiError(403, "the replication target has actions")
    del _repl(app).targets[args["id"]]
    return 204, None


def _action(app: Appliance, action_id: str) -> Action:
    action = _repl(app).actions.get(action_id)
    if action is None:
        raise not_found(f"replication action \"{action_id}\"")
    return action


def list_actions(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"actions": [a.view() for a in _repl(app).actions.values()]}


def get_action(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"action": _action(app, args["id"]).view()}


def create_action(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    body = body or {}
    for key in ("pool", "project", "target", "target_pool"):
        if key not in body:
            raise missing_arg(key)
    for key in body:
        if key not in ("pool", "project", "target", "target_pool", "share", "enabled", "continuous", "include_snaps"):
            raise unknown_arg(key)
    app.project(body["pool"], body["project"])
    share = body.get("share")
    if share is not None:
        node = app.share(body["pool"], body["project"], share, None)
        if node.emu("repl_inherited", "true") != "false":
            raise invalid(f"share \"{share}\" inherits replication from its project: PUT {{inherited: false}} first")
    target = next((t for t in _repl(app).targets.values() if t.label == body["target"]), None)
    if target is None:
        raise invalid(f"no replication target labelled \"{body['target']}\"")
    action = Action(str(uuid.uuid4()).replace("-", "")[:16], body["pool"], body["project"], share, target,
                    str(body["target_pool"]), values.boolean(body.get("include_snaps", True), "include_snaps"))
    _repl(app).actions[action.id] = action
    return 201, {"action": action.view()}


def send_update(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    action = _action(app, args["id"])
    if action.state == "sending":
        raise ApiError(409, "an update is already in progress", "ERR_STATE_CHANGED")
    _repl(app).send_update(action)
    return 202, {"action": action.view()}


def cancel_update(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    action = _action(app, args["id"])
    if action.state != "sending":
        raise ApiError(409, "operation illegal for state", "EAK_NAS_REPL_BADSTATE")
    _repl(app).cancel_update(action)
    return 202, {"action": action.view()}


def delete_action(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    action = _action(app, args["id"])
    if action.state == "sending":
        raise ApiError(409, "an update is in progress", "ERR_STATE_CHANGED")
    del _repl(app).actions[action.id]
    for snap in reversed(action.snapshots):
        app.pool.zfs.host.run(["zfs", "destroy", *([] if action.share else ["-r"]), snap], check=False)
    return 204, None


def get_share_replication(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    node = app.share(args["pool"], args["project"], args["share"], None)
    return 200, {"replication": {"inherited": node.emu("repl_inherited", "true") != "false"}}


def set_share_replication(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    node = app.share(args["pool"], args["project"], args["share"], None)
    body = body or {}
    for key in body:
        if key != "inherited":
            raise unknown_arg(key)
    if "inherited" in body:
        inherited = values.boolean(body["inherited"], "inherited")
        app.pool.set(node.name, {EMU + "repl_inherited": str(inherited).lower()})
    return 202, {"replication": {"inherited": app.pool.node(node.name).emu("repl_inherited", "true") != "false"}}


# ---- target side ------------------------------------------------------------------


def _sources(app: Appliance) -> dict[str, list[Package]]:
    out: dict[str, list[Package]] = {}
    for package in _repl(app).packages.values():
        out.setdefault(package.source, []).append(package)
    return out


def list_sources(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    return 200, {"sources": [{"name": name, "asn": pkgs[0].source_asn, "href": f"/api/storage/v1/replication/sources/{name}",
                              "packages": [p.view() for p in pkgs]} for name, pkgs in _sources(app).items()]}


def _package(app: Appliance, source: str, package_id: str) -> Package:
    package = _repl(app).packages.get(package_id)
    if package is None or package.source != source:
        raise not_found(f"replication package \"{package_id}\" from \"{source}\"")
    return package


def list_packages(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    if args["source"] not in _sources(app):
        raise not_found(f"replication source \"{args['source']}\"")
    return 200, {"packages": [p.view() for p in _sources(app)[args["source"]]]}


def sever(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    package = _package(app, args["source"], args["package"])
    body = body or {}
    projname = values.name(body.get("projname", package.id), "project")
    for key in body:
        if key != "projname":
            raise unknown_arg(key)
    project = f"{app.pool.name}/{projname}"
    if app.pool.exists(project):
        raise exists(f"project \"{projname}\"")
    from tests.emulators.zfssa import luns

    app.pool.rename(package.dataset, project)
    app.pool.set(project, {EMU + "kind": "project", **({} if app.pool.node(project).emu("id") else
                                                       {EMU + "id": app.new_guid()[EMU + "id"]})})
    for node in app.pool.read(project, depth=1).values():
        if node.kind == "lun":  # LU numbers are this appliance's own
            app.pool.set(node.name, {EMU + "lunnumber": str(luns.next_number(app))})
    del _repl(app).packages[package.id]
    app.exports.sync()
    return 202, {"project": projname}


def delete_package(app: Appliance, args: dict, body: Any) -> tuple[int, Any]:
    package = _package(app, args["source"], args["package"])
    app.pool.destroy_dataset(package.dataset, recursive=True)
    del _repl(app).packages[package.id]
    return 204, None


R = r"/storage/v1/replication"
SHARE = r"/storage/v1/pools/(?P<pool>[^/]+)/projects/(?P<project>[^/]+)/(?:filesystems|luns)/(?P<share>[^/]+)/replication"
ROUTES = [
    ("GET", R + r"/targets", list_targets),
    ("POST", R + r"/targets", create_target),
    ("GET", R + r"/targets/(?P<id>[^/]+)", get_target),
    ("DELETE", R + r"/targets/(?P<id>[^/]+)", delete_target),
    ("GET", R + r"/actions", list_actions),
    ("POST", R + r"/actions", create_action),
    ("GET", R + r"/actions/(?P<id>[^/]+)", get_action),
    ("DELETE", R + r"/actions/(?P<id>[^/]+)", delete_action),
    ("PUT", R + r"/actions/(?P<id>[^/]+)/sendupdate", send_update),
    ("PUT", R + r"/actions/(?P<id>[^/]+)/cancelupdate", cancel_update),
    ("GET", R + r"/sources", list_sources),
    ("GET", R + r"/sources/(?P<source>[^/]+)/packages", list_packages),
    ("PUT", R + r"/sources/(?P<source>[^/]+)/packages/(?P<package>[^/]+)/sever", sever),
    ("DELETE", R + r"/sources/(?P<source>[^/]+)/packages/(?P<package>[^/]+)", delete_package),
    ("GET", SHARE, get_share_replication),
    ("PUT", SHARE, set_share_replication),
]
