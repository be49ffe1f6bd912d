"""The StorPool emulator's state: volumes, snapshots, templates, disks and
attachments, with the data kept in real ZFS.

Storage (``storage``: a sparse file in a dataset on zfs-fuse, which has no
zvols; a zvol in the kernel lane, ``zvols``):

- the emulator's root dataset is given (``<zpool>/storpool-emu-<pid>-<n>``);
- each volume owns one dataset ``<root>/d<n>`` (holding ``volume.raw``, or a zvol);
- a snapshot is a ZFS snapshot of its volume's dataset (``<ds>@s<n>``), taken
  after the attached device's buffers (and the file) were flushed;
- a volume created with ``parent`` (a snapshot) is a ZFS clone of it; one
  created with ``baseOn`` (a volume) is a clone of an anonymous, bound,
  transient snapshot of that volume (listed as StorPool lists such snapshots);
- ``VolumeRevert`` clones the snapshot into a new dataset for the volume (the
  old dataset keeps the volume's other snapshots);
- a snapshot deleted while volumes are cloned from it is hidden at once (its
  name is free again, children report its parent as theirs) and its ZFS
  snapshot goes with its last clone; datasets nobody owns go with their last
  snapshot.

Names and global ids follow ``storpool.sptypes`` (7.3.0): volume names match
``^#?[A-Za-z0-9_\\-.:]+$``, snapshot names ``^\\*?[A-Za-z0-9_\\-.:@]+$``, both
shorter than 200 characters and neither ``list`` nor ``status``; either may be
given as ``~<globalId>``; sizes are positive multiples of 512 (of 4096 for
zvols: their volblocksize); client ids are
1..4095 (os-brick sends its SP_OURID as a string, which is accepted).

Every method runs under one lock: the emulator's API calls are serialized, as
a StorPool management service applies them one by one (and zfs-fuse wants
destroys serialized anyway).
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tests.emulators.storpool.devices import DeviceError
from tests.emulators.storpool.storage import _fsync  # noqa: F401 - the zfssa emulator imports it from here

GiB = 1024**3
AG_SIZE = 512 * 1024**2  # a StorPool allocation group
OBJECT_SIZE = 32 * 1024**2  # a StorPool object
SECTOR = 512
MAX_NAME = 200
MAX_CLIENT_ID = 0x1000 - 1
VOLUME_NAME = re.compile(r"^\#?[A-Za-z0-9_\-.:]+$")
SNAPSHOT_NAME = re.compile(r"^\*?[A-Za-z0-9_\-.:@]+$")
TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
TAG_NAME = re.compile(r"^[A-Za-z0-9_\-.:]+$")
TAG_VALUE = re.compile(r"^[A-Za-z0-9_\-.:]*$")
GLOBAL_ID_REF = re.compile(r"^~([a-z0-9]+\.[a-z0-9]+\.[a-z0-9]+)$")
RESERVED_NAMES = ("list", "status")
POLICY_FIELDS = ("placeAll", "placeTail", "placeHead", "replication", "bw", "iops", "reuseServer")


class ApiError(Exception):
    """An error the StorPool emulator answers: ``{"error": {name, descr, transient}}``."""

    STATUS: ClassVar[dict[str, int]] = {"objectDoesNotExist": 404, "objectExists": 409, "busy": 409, "invalidParam": 400}

    def __init__(self, name: str, descr: str, transient: bool = False, status: int | None = None):
        super().__init__(f"{name}: {descr}")
        self.name = name
        self.descr = descr
        self.transient = transient
        self.status = status or (503 if transient else self.STATUS.get(name, 500))

    def body(self) -> dict[str, Any]:
        return {"error": {"name": self.name, "descr": self.descr, "transient": self.transient}}


def invalid(descr: str) -> ApiError:
    return ApiError("invalidParam", descr)


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


@dataclass
class Template:
    """A volume template of the StorPool emulator (``VolumeTemplateDesc``)."""

    name: str
    replication: int | str = 3
    placeAll: str = "default"
    placeTail: str = "default"
    placeHead: str = "default"
    size: int | str = "-"
    parentName: str = ""
    bw: int | str = "-"
    iops: int | str = "-"
    reuseServer: bool = False
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "parentName": self.parentName,
            "placeAll": self.placeAll, "placeTail": self.placeTail, "placeHead": self.placeHead,
            "size": self.size, "replication": self.replication, "reuseServer": self.reuseServer,
            "bw": self.bw, "iops": self.iops, "limitType": "total",
        }


@dataclass
class Disk:
    """A disk of the StorPool emulator, in 512 MiB allocation groups (``DisksList`` entry)."""

    id: int
    serverId: int
    agCount: int = 1000
    agAllocated: int = 0
    ssd: bool = False
    up: bool = True
    generationLeft: int = -1

    def to_json(self) -> dict[str, Any]:
        base = {
            "id": self.id, "serverId": self.serverId, "ssd": self.ssd,
            "model": "EMULATED-DISK", "serial": f"EMU{self.id:06d}", "description": "",
            "softEject": "off",
        }
        if not self.up:
            return {**base, "generationLeft": self.generationLeft}
        ag_free = self.agCount - self.agAllocated
        objects = self.agCount * 16
        objects_allocated = self.agAllocated * 16
        return {
            **base, "generationLeft": -1,
            "sectorsCount": self.agCount * AG_SIZE // SECTOR, "empty": self.agAllocated == 0,
            "noFua": False, "noFlush": False, "noTrim": False, "isWbc": False, "journaled": False,
            "device": f"/dev/emu{self.id}",
            "agCount": self.agCount, "agAllocated": self.agAllocated, "agFree": ag_free,
            "agFull": self.agAllocated, "agPartial": 0, "agFreeing": 0,
            "agMaxSizeFull": 0, "agMaxSizePartial": 0,
            "entriesCount": self.agCount * 1024, "entriesAllocated": self.agAllocated * 1024,
            "entriesFree": ag_free * 1024,
            "objectsCount": objects, "objectsAllocated": objects_allocated,
            "objectsFree": objects - objects_allocated,
            "objectsOnDiskSize": self.agAllocated * AG_SIZE,
            "scrubbingStartedBefore": 0, "scrubbedBytes": 0, "scrubbingBW": 0,
            "scrubbingFinishAfter": 0, "scrubbingPausedFor": 0, "scrubbingPaused": False,
            "lastScrubCompleted": 0,
        }


@dataclass(eq=False)
class Obj:
    """What a StorPool emulator volume and snapshot share (``VolumeSummaryBase``)."""

    name: str
    globalId: str
    visibleVolumeId: int
    size: int
    replication: int
    templateName: str
    placeAll: str
    placeTail: str
    placeHead: str
    parent: Snapshot | None
    bw: int | str = "-"
    iops: int | str = "-"
    reuseServer: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    creationTimestamp: int = field(default_factory=lambda: int(time.time()))
    # local attachments: client id -> "rw" | "ro"; the local device, if any
    attachments: dict[int, str] = field(default_factory=dict)
    device: str | None = None

    def parent_name(self) -> str:
        p = self.parent
        while p is not None and p.deleted:
            p = p.parent
        return p.name if p is not None else ""

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name, "globalId": self.globalId, "size": self.size,
            "replication": self.replication, "parentName": self.parent_name(),
            "templateName": self.templateName, "placeAll": self.placeAll,
            "placeTail": self.placeTail, "placeHead": self.placeHead,
            "bw": self.bw, "iops": self.iops, "limitType": "total",
            "visibleVolumeId": self.visibleVolumeId,
            "objectsCount": math.ceil(self.size / OBJECT_SIZE),
            "creationTimestamp": self.creationTimestamp, "tags": dict(self.tags),
            "reuseServer": self.reuseServer,
        }


@dataclass(eq=False)
class Volume(Obj):
    """A StorPool emulator volume: a dataset of its own (a sparse file in it, or a zvol)."""

    dataset: str = ""


@dataclass(eq=False)
class Snapshot(Obj):
    """A StorPool emulator snapshot: a ZFS snapshot of its volume's dataset."""

    zfs_name: str = ""
    onVolume: str = ""
    autoName: bool = False
    bound: bool = False
    transient: bool = False
    deleted: bool = False
    source: Volume | None = None
    attach_dataset: str | None = None  # a clone made to attach it read-only

    def summary(self) -> dict[str, Any]:
        return {
            **super().summary(), "onVolume": self.onVolume, "autoName": self.autoName,
            "bound": self.bound, "deleted": self.deleted, "transient": self.transient,
            "recoveringFromRemote": False,
        }


@dataclass
class DatasetRec:
    """A ZFS dataset of the StorPool emulator: who owns it and what hangs off it."""

    name: str
    origin: str | None
    snapshots: set[str] = field(default_factory=set)
    owned: bool = True


class Store:
    """The StorPool emulator's cluster state, kept in ZFS under `root`: `storage` keeps the
    data (storage.FileStorage, zvols.ZvolStorage), `client` attaches it on the host of the
    local client id (devices.LocalClient, zvols.ZvolClient)."""

    def __init__(self, root: str, storage: Any, location: str, cluster: str, local_client_id: int,
                 clients: set[int], client: Any):
        self.lock = threading.RLock()
        self.root = root
        self.storage = storage
        self.gid_prefix = f"{location}.{cluster}."
        self.local_client_id = local_client_id
        self.clients = set(clients) | {local_client_id}
        self.client = client
        self.generation = 1
        self._ids = itertools.count(1)
        self._ds = itertools.count(1)
        self.volumes: dict[str, Volume] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.hidden: list[Snapshot] = []  # deleted, waiting for their last clone
        self.datasets: dict[str, DatasetRec] = {}
        self.templates: dict[str, Template] = {}
        self.disks: dict[int, Disk] = {}

    # ---- helpers -------------------------------------------------------

    def _bump(self) -> dict[str, Any]:
        self.generation += 1
        return {"ok": True, "generation": self.generation}

    def _new_gid(self) -> tuple[str, int]:
        n = next(self._ids)
        return self.gid_prefix + _base36(n), n

    @property
    def mountpoint(self) -> Path:
        """Where the emulator's files are (file mode)."""
        return self.storage.mountpoint

    def _file(self, dataset: str) -> Path:
        """A volume's file (file mode)."""
        return self.storage.file(dataset)

    def _new_dataset(self, size: int, origin: str | None = None) -> str:
        name = f"{self.root}/d{next(self._ds)}"
        if origin is None:
            self.storage.create(name, size)
        else:
            self.storage.clone(origin, name, size)
        self.datasets[name] = DatasetRec(name, origin)
        return name

    def _snapshot_dataset(self, volume: Volume) -> str:
        if volume.device is not None:
            self.client.flush(volume.device)
        self.storage.sync(volume.dataset)
        name = f"{volume.dataset}@s{next(self._ds)}"
        self.storage.snapshot(name)
        self.datasets[volume.dataset].snapshots.add(name)
        return name

    def _gc(self) -> None:
        """Destroy the emulator's hidden snapshots with no clone left and unowned datasets with
        no snapshot left (a dataset a device still holds, open by someone after a
        forced detach, waits for a later pass)."""
        changed = True
        while changed:
            changed = False
            for snap in list(self.snapshots.values()):
                if snap.bound and not snap.attachments and not self._clones(snap.zfs_name) \
                        and not self._snapshot_children(snap):
                    del self.snapshots[snap.name]
                    snap.deleted = True
                    self.hidden.append(snap)
                    changed = True
            for snap in list(self.hidden):
                if not self._clones(snap.zfs_name):
                    self.storage.destroy(snap.zfs_name)
                    self.datasets[snap.zfs_name.split("@")[0]].snapshots.discard(snap.zfs_name)
                    self.hidden.remove(snap)
                    changed = True
            for rec in list(self.datasets.values()):
                if not rec.owned and not rec.snapshots and not self.storage.held(rec.name):
                    self.storage.destroy(rec.name)
                    del self.datasets[rec.name]
                    changed = True

    def _all_objs(self) -> list[tuple[Obj, bool]]:
        """The emulator's volumes and snapshots, each with whether it is a snapshot."""
        return [*((v, False) for v in self.volumes.values()), *((s, True) for s in self.snapshots.values())]

    def _clones(self, zfs_snapshot: str) -> list[DatasetRec]:
        return [rec for rec in self.datasets.values() if rec.origin == zfs_snapshot]

    def _snapshot_children(self, snap: Snapshot) -> list[Obj]:
        return [o for o, _ in self._all_objs() if o.parent is snap]

    def _resolve(self, table: dict[str, Any], ref: Any, kind: str) -> Any:
        if not isinstance(ref, str):
            raise invalid(f"Invalid {kind} name {ref!r}")
        m = GLOBAL_ID_REF.match(ref)
        if m:
            for obj in table.values():
                if obj.globalId == m.group(1):
                    return obj
        elif ref in table:
            return table[ref]
        raise ApiError("objectDoesNotExist", f"{kind} {ref} does not exist")

    def volume(self, ref: Any) -> Volume:
        return self._resolve(self.volumes, ref, "Volume")

    def snapshot(self, ref: Any) -> Snapshot:
        return self._resolve(self.snapshots, ref, "Snapshot")

    @staticmethod
    def _check_name(name: Any, regex: re.Pattern, kind: str) -> str:
        if not isinstance(name, str) or not name:
            raise invalid(f"No {kind} specified")
        if not regex.match(name):
            raise invalid(f'Invalid {kind} "{name}". Must match {regex.pattern}')
        if name in RESERVED_NAMES:
            raise invalid(f"{kind} must not be in {list(RESERVED_NAMES)}")
        if len(name) >= MAX_NAME:
            raise invalid(f"{kind} is too long. Max allowed is {MAX_NAME - 1}")
        return name

    def _check_size(self, size: Any, kind: str = "Size") -> int:
        if isinstance(size, bool) or not isinstance(size, (int, str)):
            raise invalid(f"Non-numeric {kind}: {size}")
        try:
            size = int(size)
        except ValueError:
            raise invalid(f"Non-numeric {kind}: {size}") from None
        if size < 1:
            raise invalid(f"Invalid {kind} {size}. Must be positive")
        if size % SECTOR:
            raise invalid(f"Invalid {kind} {size}. Must be a multiple of {SECTOR}")
        if size % self.storage.size_unit:
            raise invalid(f"Invalid {kind} {size}. Must be a multiple of {self.storage.size_unit} "
                          "(the emulator's zvols: their volblocksize)")
        return size

    def client_id(self, value: Any) -> int:
        """A client id as the emulator accepts it: an int, or a numeric string (os-brick's SP_OURID)."""
        if isinstance(value, bool):
            raise invalid(f"Invalid ClientID {value!r}")
        try:
            cid = int(value)
        except (TypeError, ValueError):
            raise invalid(f"Invalid ClientID {value!r}. Must be an integer") from None
        if not 1 <= cid <= MAX_CLIENT_ID:
            raise invalid(f"Invalid ClientID {cid}. Must be between 1 and {MAX_CLIENT_ID}")
        if cid not in self.clients:
            raise invalid(f"Client {cid} is not a member of the cluster")
        return cid

    def _check_unknown(self, body: dict[str, Any], allowed: set[str], kind: str) -> None:
        unknown = set(body) - allowed
        if unknown:
            raise invalid(f"{kind}: unknown field(s) {', '.join(sorted(unknown))}")

    def _policy(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "replication" in body:
            r = body["replication"]
            if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= 3:
                raise invalid(f"Invalid Replication {r!r}. Must be between 1 and 3")
            out["replication"] = r
        for key in ("placeAll", "placeTail", "placeHead"):
            if key in body:
                if not isinstance(body[key], str) or not TEMPLATE_NAME.match(body[key]):
                    raise invalid(f"Invalid PlacementGroupName {body[key]!r}")
                out[key] = body[key]
        for key in ("bw", "iops"):
            if key in body:
                if body[key] != "-" and (isinstance(body[key], bool) or not isinstance(body[key], int)
                                         or body[key] < 0):
                    raise invalid(f"Invalid {key} {body[key]!r}")
                out[key] = body[key]
        if "reuseServer" in body:
            out["reuseServer"] = bool(body["reuseServer"])
        return out

    def _template(self, name: Any) -> Template:
        if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
            raise invalid(f"Invalid VolumeTemplateName {name!r}")
        if name not in self.templates:
            raise ApiError("objectDoesNotExist", f"Template {name} does not exist")
        return self.templates[name]

    @staticmethod
    def _apply_template(obj: Obj, tpl: Template) -> None:
        obj.templateName = tpl.name
        if tpl.replication != "-":
            obj.replication = int(tpl.replication)
        obj.placeAll, obj.placeTail, obj.placeHead = tpl.placeAll, tpl.placeTail, tpl.placeHead
        obj.bw, obj.iops, obj.reuseServer = tpl.bw, tpl.iops, tpl.reuseServer

    @staticmethod
    def _tags(value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            raise invalid("tags must be an object of name: value")
        for k, v in value.items():
            if not TAG_NAME.match(k) or not isinstance(v, str) or not TAG_VALUE.match(v):
                raise invalid(f"Invalid tag {k!r}: {v!r}")
        return dict(value)

    @staticmethod
    def _merge_tags(obj: Obj, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            if v == "":
                obj.tags.pop(k, None)
            else:
                obj.tags[k] = v

    def _attached_error(self, obj: Obj, kind: str) -> ApiError:
        clients = ", ".join(str(c) for c in sorted(obj.attachments))
        return ApiError("busy", f"{kind} {obj.name} is attached to client(s) {clients}")

    # ---- volumes -------------------------------------------------------

    def volume_create(self, body: Any) -> dict[str, Any]:
        """VolumeCreate: a new volume, empty, from `parent` (clone) or `baseOn` (copy)."""
        if not isinstance(body, dict):
            raise invalid("VolumeCreate expects a JSON object (VolumeCreateDesc)")
        self._check_unknown(body, {"name", "size", "parent", "template", "baseOn", "tags", *POLICY_FIELDS},
                            "VolumeCreateDesc")
        name = self._check_name(body.get("name"), VOLUME_NAME, "VolumeName")
        if name in self.volumes:
            raise ApiError("objectExists", f"Volume {name} already exists")
        if "parent" in body and "baseOn" in body:
            raise invalid("Only one of parent and baseOn may be given")
        policy = self._policy(body)
        tags = self._tags(body["tags"]) if "tags" in body else {}
        tpl = self._template(body["template"]) if "template" in body else None
        parent = self.snapshot(body["parent"]) if "parent" in body else None
        base = self.volume(body["baseOn"]) if "baseOn" in body else None
        source: Obj | None = parent or base
        size = self._check_size(body["size"]) if "size" in body else None
        if size is None:
            if source is not None:
                size = source.size
            elif tpl is not None and tpl.size != "-":
                size = int(tpl.size)
            else:
                raise invalid("No Size specified")
        if source is not None and size < source.size:
            raise invalid(f"Size {size} is smaller than the size {source.size} of {source.name}")
        gid, vid = self._new_gid()
        result = self._bump()
        auto_name = None
        if base is not None:
            parent = self._anonymous_snapshot(base)
            auto_name = parent.name
        vol = Volume(
            name=name, globalId=gid, visibleVolumeId=vid, size=size, replication=3, templateName="",
            placeAll="default", placeTail="default", placeHead="default", parent=parent,
        )
        if source is not None:
            for key in ("replication", "templateName", "placeAll", "placeTail", "placeHead", "bw",
                        "iops", "reuseServer"):
                setattr(vol, key, getattr(source, key))
        if tpl is not None:
            self._apply_template(vol, tpl)
        for key, value in policy.items():
            setattr(vol, key, value)
        vol.tags = tags
        vol.dataset = self._new_dataset(size, parent.zfs_name if parent is not None else None)
        self.volumes[name] = vol
        result["globalId"] = gid
        if auto_name is not None:
            result["autoName"] = auto_name
        return result

    def _anonymous_snapshot(self, volume: Volume) -> Snapshot:
        gid, vid = self._new_gid()
        snap = self._make_snapshot(volume, f"*{gid}", gid, vid)
        snap.autoName = snap.bound = snap.transient = True
        return snap

    def volume_update(self, ref: Any, body: Any) -> dict[str, Any]:
        """VolumeUpdate: rename, size/sizeAdd (shrinkOk), template, policy fields, tags."""
        vol = self.volume(ref)
        if not isinstance(body, dict):
            raise invalid("VolumeUpdate expects a JSON object (VolumeUpdateDesc)")
        self._check_unknown(body, {"rename", "size", "sizeAdd", "template", "shrinkOk", "tags",
                                   *POLICY_FIELDS}, "VolumeUpdateDesc")
        new_name = None
        if "rename" in body:
            new_name = self._check_name(body["rename"], VOLUME_NAME, "VolumeName")
            if new_name != vol.name and new_name in self.volumes:
                raise ApiError("objectExists", f"Volume {new_name} already exists")
        if "size" in body and "sizeAdd" in body:
            raise invalid("Only one of size and sizeAdd may be given")
        size = None
        if "size" in body:
            size = self._check_size(body["size"])
        elif "sizeAdd" in body:
            size = vol.size + self._check_size(body["sizeAdd"], "SizeAdd")
        if size is not None and size < vol.size and not body.get("shrinkOk"):
            raise invalid(f"Refusing to shrink volume {vol.name} from {vol.size} to {size} without shrinkOk")
        tpl = self._template(body["template"]) if "template" in body else None
        policy = self._policy(body)
        tags = self._tags(body["tags"]) if "tags" in body else None
        result = self._bump()
        if tpl is not None:
            self._apply_template(vol, tpl)
        for key, value in policy.items():
            setattr(vol, key, value)
        if tags is not None:
            self._merge_tags(vol, tags)
        if size is not None and size != vol.size:
            if vol.device is not None:
                self.client.flush(vol.device)
            self.storage.resize(vol.dataset, size)
            vol.size = size
            if vol.device is not None:
                self.client.refresh_size(vol.device, size)
        if new_name is not None and new_name != vol.name:
            if vol.device is not None:
                try:
                    self.client.rename(vol.name, new_name, vol.device)
                except DeviceError as exc:
                    raise invalid(str(exc)) from None
            del self.volumes[vol.name]
            vol.name = new_name
            self.volumes[new_name] = vol
        return result

    def volume_delete(self, ref: Any) -> dict[str, Any]:
        """VolumeDelete: refused (busy) while attached; its snapshots stay."""
        vol = self.volume(ref)
        if vol.attachments:
            raise self._attached_error(vol, "Volume")
        result = self._bump()
        del self.volumes[vol.name]
        self.datasets[vol.dataset].owned = False
        self._gc()
        return result

    def volume_revert(self, ref: Any, body: Any) -> dict[str, Any]:
        """VolumeRevert: the volume's data and size become the snapshot's (detached volumes only)."""
        vol = self.volume(ref)
        if not isinstance(body, dict) or "toSnapshot" not in body:
            raise invalid("VolumeRevert expects {\"toSnapshot\": <snapshot>}")
        self._check_unknown(body, {"toSnapshot"}, "VolumeRevertDesc")
        snap = self.snapshot(body["toSnapshot"])
        chain = []
        p = vol.parent
        while p is not None:
            chain.append(p)
            p = p.parent
        if snap not in chain and snap.source is not vol:
            raise invalid(f"Snapshot {snap.name} is not a snapshot of volume {vol.name}")
        if vol.attachments:
            raise self._attached_error(vol, "Volume")
        result = self._bump()
        old = vol.dataset
        vol.dataset = self._new_dataset(snap.size, snap.zfs_name)
        vol.size = snap.size
        vol.parent = snap
        self.datasets[old].owned = False
        self._gc()
        return result

    def info(self, obj: Obj) -> dict[str, Any]:
        """VolumeGetInfo / SnapshotGetInfo: the summary plus where the emulator says its objects lie."""
        up = [d.id for d in self.disks.values() if d.up]
        objects = math.ceil(obj.size / OBJECT_SIZE)
        chains = [up[i:i + obj.replication] for i in range(0, len(up), obj.replication)] or [[]]
        per_disk = {str(d): objects * obj.replication // max(len(up), 1) for d in up}
        return {
            **obj.summary(), "disksCount": len(up), "objectsPerDisk": per_disk,
            "objectsPerChain": [{"disks": c, "count": objects // len(chains)} for c in chains],
            "objectsPerDiskSet": [{"disks": c, "count": objects // len(chains)} for c in chains],
        }

    def describe(self, obj: Obj) -> dict[str, Any]:
        """VolumeDescribe / SnapshotDescribe: the summary plus disk sets and object placement."""
        up = [d.id for d in self.disks.values() if d.up]
        sets = [up[i:i + obj.replication] for i in range(0, len(up), obj.replication)] or [[]]
        objects = math.ceil(obj.size / OBJECT_SIZE)
        return {**obj.summary(), "targetDiskSets": sets,
                "objects": [sets[i % len(sets)] for i in range(objects)]}

    def list_snapshots_of(self, ref: Any) -> list[dict[str, Any]]:
        """VolumeListSnapshots: the volume's parent chain, nearest first."""
        vol = self.volume(ref)
        out = []
        p = vol.parent
        while p is not None:
            if not p.deleted:
                out.append(p.summary())
            p = p.parent
        return out

    # ---- snapshots -----------------------------------------------------

    def _make_snapshot(self, vol: Volume, name: str, gid: str, vid: int) -> Snapshot:
        snap = Snapshot(
            name=name, globalId=gid, visibleVolumeId=vid, size=vol.size, replication=vol.replication,
            templateName=vol.templateName, placeAll=vol.placeAll, placeTail=vol.placeTail,
            placeHead=vol.placeHead, parent=vol.parent, bw=vol.bw, iops=vol.iops,
            reuseServer=vol.reuseServer, onVolume=vol.name, source=vol,
        )
        snap.zfs_name = self._snapshot_dataset(vol)
        vol.parent = snap
        self.snapshots[name] = snap
        return snap

    def snapshot_create(self, ref: Any, body: Any) -> dict[str, Any]:
        """VolumeSnapshot: the snapshot becomes the volume's parent."""
        vol = self.volume(ref)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise invalid("VolumeSnapshot expects a JSON object (VolumeSnapshotDesc)")
        self._check_unknown(body, {"name", "bind", "targetDeleteDate", "deleteAfter", "tags"},
                            "VolumeSnapshotDesc")
        gid, vid = self._new_gid()
        name = self._check_name(body["name"], SNAPSHOT_NAME, "SnapshotName") if "name" in body else f"*{gid}"
        if name in self.snapshots:
            raise ApiError("objectExists", f"Snapshot {name} already exists")
        tags = self._tags(body["tags"]) if "tags" in body else {}
        result = self._bump()
        snap = self._make_snapshot(vol, name, gid, vid)
        snap.tags = tags
        snap.bound = bool(body.get("bind", False))
        snap.autoName = "name" not in body
        result["snapshotGlobalId"] = gid
        result["snapshotVisibleVolumeId"] = vid
        if snap.autoName:
            result["autoName"] = name
        return result

    def snapshot_update(self, ref: Any, body: Any) -> dict[str, Any]:
        """SnapshotUpdate: rename, template, bind, tags, policy fields."""
        snap = self.snapshot(ref)
        if not isinstance(body, dict):
            raise invalid("SnapshotUpdate expects a JSON object (SnapshotUpdateDesc)")
        self._check_unknown(body, {"rename", "template", "bind", "targetDeleteDate", "deleteAfter",
                                   "tags", *POLICY_FIELDS}, "SnapshotUpdateDesc")
        new_name = None
        if "rename" in body:
            new_name = self._check_name(body["rename"], SNAPSHOT_NAME, "SnapshotName")
            if new_name != snap.name and new_name in self.snapshots:
                raise ApiError("objectExists", f"Snapshot {new_name} already exists")
        tpl = self._template(body["template"]) if "template" in body else None
        policy = self._policy(body)
        tags = self._tags(body["tags"]) if "tags" in body else None
        if new_name is not None and snap.device is not None:
            raise self._attached_error(snap, "Snapshot")
        result = self._bump()
        if tpl is not None:
            self._apply_template(snap, tpl)
        for key, value in policy.items():
            setattr(snap, key, value)
        if tags is not None:
            self._merge_tags(snap, tags)
        if "bind" in body:
            snap.bound = bool(body["bind"])
        if new_name is not None and new_name != snap.name:
            del self.snapshots[snap.name]
            snap.name = new_name
            snap.autoName = False
            self.snapshots[new_name] = snap
        self._gc()
        return result

    def snapshot_delete(self, ref: Any) -> dict[str, Any]:
        """SnapshotDelete: refused (busy) while attached; hidden until its last clone goes."""
        snap = self.snapshot(ref)
        if snap.attachments:
            raise self._attached_error(snap, "Snapshot")
        result = self._bump()
        del self.snapshots[snap.name]
        snap.deleted = True
        self.hidden.append(snap)
        self._gc()
        return result

    def snapshot_delete_by_id(self, gid: str) -> dict[str, Any]:
        return self.snapshot_delete(f"~{gid}")

    # ---- attachments ---------------------------------------------------

    def reassign(self, entries: Any) -> dict[str, Any]:
        """VolumesReassign(Wait): detach, then attach rw/ro; the local client id gets real devices.

        Every entry is checked before any is applied. Detaching a device that is
        open on this host answers ``busy`` "... is open at client N" unless
        ``force`` is true (then the loop device goes at its last close).
        """
        if not isinstance(entries, list):
            raise invalid("VolumesReassign expects a list of VolumeReassignDesc/SnapshotReassignDesc")
        plans = []
        for entry in entries:
            if not isinstance(entry, dict) or ("volume" in entry) == ("snapshot" in entry):
                raise invalid("Each reassign entry needs exactly one of volume and snapshot")
            is_snap = "snapshot" in entry
            if is_snap and "rw" in entry:
                raise invalid(f"Snapshot {entry['snapshot']} can only be attached read-only")
            allowed = {"snapshot", "detach", "ro", "force"} if is_snap else \
                {"volume", "detach", "ro", "rw", "force", "allowRemoteExported", "onRemoteAttached", "mcMode"}
            self._check_unknown(entry, allowed, "SnapshotReassignDesc" if is_snap else "VolumeReassignDesc")
            obj: Obj = self.snapshot(entry["snapshot"]) if is_snap else self.volume(entry["volume"])
            detach = entry.get("detach")
            if detach == "all":
                detach_ids = set(obj.attachments)
            elif detach is None:
                detach_ids = set()
            elif isinstance(detach, list):
                detach_ids = {self.client_id(c) for c in detach}
            else:
                raise invalid(f"Invalid detach {detach!r}: a list of client ids or \"all\"")
            modes: dict[int, str] = {}
            for mode in ("ro", "rw"):
                ids = entry.get(mode)
                if ids is None:
                    continue
                if not isinstance(ids, list):
                    raise invalid(f"Invalid {mode} {ids!r}: a list of client ids")
                for c in ids:
                    cid = self.client_id(c)
                    if cid in modes and modes[cid] != mode:
                        raise invalid(f"Client {cid} given both ro and rw for {obj.name}")
                    modes[cid] = mode
            force = bool(entry.get("force", False))
            local = self.local_client_id
            if obj.device is not None and not force and self.client.is_open(obj.device):
                changing = local in detach_ids or (local in modes and modes[local] != obj.attachments.get(local))
                if changing:
                    raise ApiError("busy", f"{'Snapshot' if is_snap else 'Volume'} {obj.name} "
                                           f"is open at client {local}")
            plans.append((obj, is_snap, detach_ids, modes))
        result = self._bump()
        for obj, is_snap, detach_ids, modes in plans:
            self._apply_reassign(obj, is_snap, detach_ids, modes)
        self._gc()
        return result

    def _apply_reassign(self, obj: Obj, is_snap: bool, detach_ids: set[int], modes: dict[int, str]) -> None:
        local = self.local_client_id
        for cid in detach_ids:
            obj.attachments.pop(cid, None)
        if obj.device is not None and (local not in obj.attachments
                                       or (local in modes and modes[local] != obj.attachments[local])):
            self._local_detach(obj, is_snap)
        obj.attachments.update(modes)
        if local in obj.attachments and obj.device is None:
            try:
                self._local_attach(obj, is_snap, readonly=obj.attachments[local] == "ro")
            except DeviceError as exc:
                obj.attachments.pop(local, None)
                raise ApiError("invalidParam", f"emulator could not attach {obj.name}: {exc}") from None

    def _local_attach(self, obj: Obj, is_snap: bool, readonly: bool) -> None:
        if is_snap:
            assert isinstance(obj, Snapshot)
            obj.attach_dataset = self._new_dataset(obj.size, obj.zfs_name)
            backing = self.storage.backing(obj.attach_dataset)
        else:
            assert isinstance(obj, Volume)
            backing = self.storage.backing(obj.dataset)
        try:
            obj.device = self.client.attach(backing, obj.name, obj.globalId, readonly)
        except DeviceError:
            if is_snap:
                self._drop_attach_dataset(obj)
            raise

    def _local_detach(self, obj: Obj, is_snap: bool, teardown: bool = False) -> None:
        assert obj.device is not None
        self.client.detach(obj.device, obj.name, obj.globalId, teardown=teardown)
        obj.device = None
        if is_snap:
            self._drop_attach_dataset(obj)

    def _drop_attach_dataset(self, obj: Any) -> None:
        if obj.attach_dataset is not None:
            self.datasets[obj.attach_dataset].owned = False
            obj.attach_dataset = None

    def attachments_list(self) -> list[dict[str, Any]]:
        """AttachmentsList: one entry per (volume or snapshot, client)."""
        out = []
        for obj, is_snap in self._all_objs():
            for pos, (cid, rights) in enumerate(sorted(obj.attachments.items())):
                out.append({"volume": obj.name, "snapshot": is_snap, "client": cid, "rights": rights,
                            "pos": pos, "globalId": obj.globalId})
        return out

    # ---- cluster -------------------------------------------------------

    def statuses(self) -> dict[str, Any]:
        """VolumesGetStatus: every volume and snapshot up, with its stored size."""
        out = {}
        for obj, is_snap in self._all_objs():
            stored = self._stored(obj)
            out[obj.name] = {
                **obj.summary(), "status": "up", "snapshot": is_snap, "migrating": False,
                "decreasedRedundancy": False, "balancerBlocked": False, "syncingDataBytes": 0,
                "syncingMetaObjects": 0, "downBytes": 0, "upSoonChainsCount": 0, "downDrives": [],
                "missingDrives": [], "missingTargetDrives": [], "softEjectingDrives": [],
                "storedSize": stored, "onDiskSize": stored * obj.replication,
            }
        return out

    def _stored(self, obj: Obj) -> int:
        return self.storage.stored(obj.dataset) if isinstance(obj, Volume) else 0

    def templates_status(self) -> list[dict[str, Any]]:
        """VolumeTemplatesStatus: per template counts and the cluster-wide capacity estimate."""
        up = [d for d in self.disks.values() if d.up]
        capacity = sum(d.agCount for d in up) * AG_SIZE
        free = sum(d.agCount - d.agAllocated for d in up) * AG_SIZE
        out = []
        for tpl in self.templates.values():
            vols = [v for v in self.volumes.values() if v.templateName == tpl.name]
            snaps = [s for s in self.snapshots.values() if s.templateName == tpl.name]
            repl = int(tpl.replication) if tpl.replication != "-" else 3
            size = sum(v.size for v in vols)
            stored = sum(self._stored(v) for v in vols)
            est = {"capacity": capacity // repl, "free": free // repl}
            out.append({
                "id": tpl.id, "name": tpl.name, "placeAll": tpl.placeAll, "placeTail": tpl.placeTail,
                "placeHead": tpl.placeHead, "replication": tpl.replication,
                "volumesCount": len(vols), "snapshotsCount": len(snaps), "removingSnapshotsCount": 0,
                "size": size, "totalSize": size * repl, "onDiskSize": stored * repl, "storedSize": stored,
                "availablePlaceAll": free, "availablePlaceTail": free, "availablePlaceHead": free,
                "capacityPlaceAll": capacity, "capacityPlaceTail": capacity, "capacityPlaceHead": capacity,
                "stored": {**est, "placeAll": est, "placeTail": est, "placeHead": est},
            })
        return out

    def services(self) -> dict[str, Any]:
        """ServicesList: the emulator's clients and the servers its disks are on, all running."""
        svc = {"version": "emulated", "startTime": int(time.time()), "status": "running"}
        return {
            "clusterStatus": "running",
            "mgmt": {"1": {**svc, "id": 1, "nodeId": 1, "active": True, "prio": 0}},
            "clients": {str(c): {**svc, "id": c, "nodeId": c} for c in sorted(self.clients)},
            "servers": {str(s): {**svc, "id": s, "nodeId": s, "missingDisks": [], "pendingDisks": []}
                        for s in sorted({d.serverId for d in self.disks.values()})},
            "bridges": {}, "iscsiTargets": {},
        }

    def clients_config(self) -> list[dict[str, Any]]:
        """ClientsConfigDump: every emulated client is up to date."""
        return [{"id": c, "generation": self.generation, "clientGeneration": self.generation,
                 "configStatus": "ok", "delay": 0} for c in sorted(self.clients)]

    # ---- teardown ------------------------------------------------------

    def clear(self) -> None:
        """Detach and delete everything the emulator holds (its ZFS datasets included)."""
        for obj, is_snap in self._all_objs():
            obj.attachments.clear()
            if obj.device is not None:
                self._local_detach(obj, is_snap, teardown=True)
        for snap in list(self.snapshots.values()):
            del self.snapshots[snap.name]
            snap.deleted = True
            self.hidden.append(snap)
        for vol in list(self.volumes.values()):
            del self.volumes[vol.name]
            self.datasets[vol.dataset].owned = False
        self._gc()
