"""The ZFSSA emulator's state as its handlers see it: the pool, the schema of
custom properties, the SAN configuration, the services, and the exports kept in
step with them. Every REST call runs under ``lock`` (the appliance applies
changes one by one; zfs-fuse wants destroys and renames serialized anyway)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.zfssa.faults import not_found
from tests.emulators.zfssa.zpool import EMU, Node, Pool

SHARE_KINDS = ("lun", "filesystem")


@dataclass
class Service:
    """One appliance service (iscsi, nfs, http, replication): its state and properties."""

    name: str
    status: str = "online"
    props: dict[str, Any] = field(default_factory=dict)


class Appliance:
    def __init__(self, pool: Pool, nodename: str, asn: str | None = None):
        self.pool = pool
        self.nodename = nodename
        self.asn = asn or str(uuid.uuid4())
        self.lock = threading.RLock()
        self.schema: dict[str, dict[str, str]] = {}
        self.services: dict[str, Service] = {}
        self.san: Any = None  # tests.emulators.zfssa.san.San
        self.exports: Any = None  # tests.emulators.zfssa.exports.Exports
        self.replication: Any = None  # tests.emulators.zfssa.replication.Replication
        self.peers: dict[str, Appliance] = {}  # replication peers by "<host>:<port>" address
        self.on_service_change: Any = lambda name: None  # the server applies a service switch

    # ---- lookups that answer the appliance's 404s --------------------------

    def check_pool(self, pool: str) -> None:
        if pool != self.pool.name:
            raise not_found(f"pool \"{pool}\"")

    def project(self, pool: str, project: str) -> Node:
        self.check_pool(pool)
        node = self.pool.node(f"{pool}/{project}") if "/" not in project else None
        if node is None or node.kind != "project":
            raise not_found(f"project \"{project}\"")
        return node

    def share(self, pool: str, project: str, name: str, kind: str | None) -> Node:
        """A LUN (kind 'lun'), a filesystem ('filesystem') or either (None)."""
        self.project(pool, project)
        node = self.pool.node(f"{pool}/{project}/{name}") if "/" not in name and "@" not in name else None
        if node is None or node.kind not in SHARE_KINDS or (kind and node.kind != kind):
            raise not_found(f"{'LUN' if kind == 'lun' else 'filesystem' if kind else 'share'} \"{name}\"")
        return node

    def shares(self, pool: str, project: str, kind: str) -> list[Node]:
        self.project(pool, project)
        tree = self.pool.read(f"{pool}/{project}", depth=1)
        return [n for n in tree.values() if n.kind == kind]

    def all_shares(self) -> list[Node]:
        """Every LUN and filesystem of the appliance's projects (not of unsevered packages)."""
        return [n for n in self.pool.read().values()
                if n.kind in SHARE_KINDS and n.name.count("/") == 2]

    def new_guid(self) -> dict[str, str]:
        guid = uuid.uuid4()
        return {EMU + "id": str(guid), EMU + "lunguid": "600144F0" + guid.hex[:24].upper()}

    def service_online(self, name: str) -> bool:
        svc = self.services.get(name)
        return svc is not None and svc.status == "online"
