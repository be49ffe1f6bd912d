"""Random share and volume work through the HTTP API, several operations at a time.

Each worker thread draws operations from its own seeded Random (so a seed
replays the same plan), claims the resources it acts on (two workers never act
on one resource at once: a refusal for "busy" would test nothing), and waits for
each operation to end steady, riding out a Shoal that is killed meanwhile.

The model keeps only what the API cannot tell the invariant checker: the
markers written (over NFS, over iSCSI) right before a snapshot was asked for,
and the connection info of each attachment. Everything else is re-read from
the API after every round (`Model.refresh`).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar

import httpx

from tests.integration.share_helpers import nfs_write
from tests.integration.volume_helpers import Lun, connector

from .api import Api

INITIATOR = "iqn.2026-11.org.shoal.chaos:host1"
MAX_SIZE_GB = 4
MAX_SNAPSHOTS = 2  # per share or volume: beyond, a snapshot is deleted instead (keeps the mix moving)


def share_path(server, share_id: str) -> str:
    """The export path of a share Shoal made (names come from ids: the dataset's mountpoint)."""
    return f"/{server.pool_root}/share-{share_id}"


@dataclass
class Marker:
    """Data written right before a snapshot was asked for: it must be in the snapshot."""

    name: str
    data: bytes
    verified: bool = False


@dataclass
class Model:
    shares: dict[str, int] = field(default_factory=dict)  # id -> size
    share_snaps: dict[str, str] = field(default_factory=dict)  # id -> share id
    rules: dict[str, tuple[str, str]] = field(default_factory=dict)  # rule id -> (share id, access_to)
    volumes: dict[str, int] = field(default_factory=dict)  # id -> size
    vol_snaps: dict[str, str] = field(default_factory=dict)  # id -> volume id
    attachments: dict[str, tuple[str, Lun | None]] = field(default_factory=dict)  # id -> (volume id, lun)
    markers: dict[str, Marker] = field(default_factory=dict)  # snapshot id -> marker (shares and volumes)
    busy: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open_shares(self) -> set[str]:
        """Shares with a rule for 127.0.0.1 (rw): the harness can write to them over NFS."""
        return {share for share, to in self.rules.values() if to == "127.0.0.1"}

    def with_room(self, parents, snaps: dict[str, str]) -> list[str]:
        """The parents with fewer than MAX_SNAPSHOTS snapshots."""
        counts = Counter(snaps.values())
        return [p for p in parents if counts[p] < MAX_SNAPSHOTS]

    def attached(self, volume_id: str) -> str | None:
        return next((a for a, (v, _) in self.attachments.items() if v == volume_id), None)

    def claim(self, rng: random.Random, ids) -> str | None:
        """A random free id of `ids`, claimed until release()."""
        with self.lock:
            free = sorted(i for i in ids if i not in self.busy)
            if not free:
                return None
            choice = rng.choice(free)
            self.busy.add(choice)
            return choice

    def release(self, *ids: str) -> None:
        with self.lock:
            self.busy.difference_update(ids)

    def refresh(self, state: ApiState) -> None:
        """Take what the API now lists (after a round, with no work under way)."""
        with self.lock:
            self.shares = {s["id"]: s["size"] for s in state.shares}
            self.share_snaps = {s["id"]: s["share_id"] for s in state.share_snaps}
            self.rules = {r["id"]: (r["share_id"], r["access_to"]) for r in state.rules if r["state"] == "active"}
            self.volumes = {v["id"]: v["size"] for v in state.volumes}
            self.vol_snaps = {s["id"]: s["volume_id"] for s in state.vol_snaps}
            self.attachments = {a["id"]: (a["volume_id"], self.attachments.get(a["id"], (None, None))[1])
                                for a in state.attachments if a["status"] == "attached"}
            alive = set(self.share_snaps) | set(self.vol_snaps)
            self.markers = {k: m for k, m in self.markers.items() if k in alive}
            self.busy.clear()


@dataclass
class ApiState:
    """Everything the API lists, as an admin of all projects."""

    shares: list[dict]
    share_snaps: list[dict]
    rules: list[dict]  # each with its share_id
    volumes: list[dict]
    vol_snaps: list[dict]
    attachments: list[dict]

    @classmethod
    def read(cls, api: Api) -> ApiState:
        shares = api.listing(api.share, "/shares/detail", "shares")
        rules = []
        for share in shares:
            for rule in api.listing(api.share, "/share-access-rules", "access_list", share_id=share["id"]):
                rules.append({**rule, "share_id": share["id"]})
        return cls(shares, api.listing(api.share, "/snapshots/detail", "snapshots"), rules,
                   api.listing(api.volume, "/volumes/detail", "volumes"),
                   api.listing(api.volume, "/snapshots/detail", "snapshots"),
                   api.listing(api.volume, "/attachments/detail", "attachments"))


class Refused(Exception):
    """The API answered 4xx: not an error of Shoal's, the operation did not happen."""


class Workload:
    WEIGHTS: ClassVar[dict[str, int]] = {
        "share_create": 5, "share_create_from_snapshot": 2, "share_delete": 3, "share_extend": 2,
        "share_snapshot": 4, "share_snapshot_delete": 2, "access_allow": 4, "access_deny": 2,
        "volume_create": 5, "volume_clone": 2, "volume_from_snapshot": 2, "volume_delete": 3,
        "volume_extend": 2, "volume_snapshot": 4, "volume_snapshot_delete": 2, "volume_attach": 3,
        "volume_detach": 2,
    }

    def __init__(self, api: Api, model: Model, max_resources: int, op_timeout: float):
        self.api, self.model, self.server = api, model, api.server
        self.max_resources, self.op_timeout = max_resources, op_timeout
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.failures: list[str] = []  # operations that ended in error, with why (not violations by themselves)
        self._count = 0
        self._count_lock = threading.Lock()

    # ---- running --------------------------------------------------------------------------

    def run(self, rng: random.Random, stop: threading.Event, budget: Budget) -> None:
        names, weights = zip(*self.WEIGHTS.items())
        while not stop.is_set() and budget.take():
            op = rng.choices(names, weights)[0]
            try:
                outcome = getattr(self, op)(rng) or "ok"
            except Refused as exc:
                outcome = "refused"
                self.failures.append(f"{op}: refused: {exc}")
            except (httpx.TransportError, TimeoutError) as exc:
                outcome = "interrupted"
                self.failures.append(f"{op}: interrupted: {exc!r}"[:300])
            except AssertionError as exc:  # a client (nfs-cp, qemu-img) failed
                outcome = "client-failed"
                self.failures.append(f"{op}: {str(exc)[:300]}")
            self.outcomes[(op, outcome)] += 1
            if outcome == "skipped":
                budget.give_back()
            if outcome in ("skipped", "interrupted"):  # nothing to act on, or Shoal is down: do not spin
                time.sleep(0.05 if outcome == "skipped" else 0.5)

    def _post(self, client: httpx.Client, path: str, body: dict, ok: tuple[int, ...] = (200, 202)) -> dict:
        resp = client.post(path, json=body)
        if 400 <= resp.status_code < 500:
            raise Refused(f"POST {path}: {resp.status_code} {resp.text[:200]}")
        if resp.status_code not in ok:
            raise httpx.TransportError(f"POST {path}: {resp.status_code} {resp.text[:200]}")
        return resp.json() if resp.content else {}

    def _delete(self, client: httpx.Client, path: str) -> None:
        resp = client.delete(path)
        if 400 <= resp.status_code < 500:
            raise Refused(f"DELETE {path}: {resp.status_code} {resp.text[:200]}")
        if resp.status_code not in (200, 202, 204):
            raise httpx.TransportError(f"DELETE {path}: {resp.status_code} {resp.text[:200]}")

    def _ended(self, what: str, value: dict | None, wanted: str = "available") -> str:
        status = None if value is None else value.get("status", value.get("state"))
        if status == wanted or (wanted == "gone" and value is None):
            return "ok"
        self.failures.append(f"{what}: ended {status or 'gone'}: {value}"[:400])
        return "error"

    def _full(self, kind: dict) -> bool:
        return len(kind) >= self.max_resources

    @contextmanager
    def _claimed(self, rng: random.Random, ids):
        """A random free id of `ids` (None if there is none), claimed for the block."""
        chosen = self.model.claim(rng, ids)
        try:
            yield chosen
        finally:
            if chosen is not None:
                self.model.release(chosen)

    # ---- the shapes every operation takes ----------------------------------------------------

    def _create(self, client: httpx.Client, collection: str, key: str, body: dict, into: dict) -> str:
        """POST a new resource, wait until it is steady; `into` gets its size."""
        made = self._post(client, f"/{collection}", {key: body})[key]
        with self.model.lock:
            self.model.busy.add(made["id"])
        try:
            value = self.api.wait(client, f"/{collection}/{made['id']}", self.op_timeout)
            if value is not None:
                with self.model.lock:
                    into[made["id"]] = value["size"]
            return self._ended(f"{key} {made['id']} create ({body})", value)
        finally:
            self.model.release(made["id"])

    def _remove(self, client: httpx.Client, path: str, resource: str, into: dict, action: dict | None = None,
                owner: str | None = None) -> str:
        """DELETE `path` (or POST `action` to the owner's action), wait until it is gone;
        then it leaves `into`."""
        if action is None:
            self._delete(client, path)
        else:
            self._post(client, f"{owner}/action", action)
        value = self.api.wait_gone(client, path, self.op_timeout)
        if value is None:
            with self.model.lock:
                into.pop(resource, None)
        return self._ended(f"{path} delete", value, "gone")

    def _grow(self, client: httpx.Client, path: str, resource: str, into: dict, action: dict) -> str:
        self._post(client, f"{path}/action", action)
        value = self.api.wait(client, path, self.op_timeout)
        if value is not None:
            with self.model.lock:
                into[resource] = value["size"]
        return self._ended(f"{path} {action}", value)

    def _snapshot(self, client: httpx.Client, body: dict, parent: str, into: dict, marker: Marker | None) -> str:
        snap = self._post(client, "/snapshots", {"snapshot": body})["snapshot"]
        value = self.api.wait(client, f"/snapshots/{snap['id']}", self.op_timeout)
        outcome = self._ended(f"snapshot {snap['id']} of {parent}", value)
        if outcome == "ok":
            with self.model.lock:
                into[snap["id"]] = parent
                if marker:
                    self.model.markers[snap["id"]] = marker  # acknowledged: the marker must be in it
        return outcome

    # ---- shares --------------------------------------------------------------------------

    def _new_share(self, body: dict) -> str:
        return self._create(self.api.share, "shares", "share", {"share_proto": "NFS", **body}, self.model.shares)

    def share_create(self, rng):
        if self._full(self.model.shares):
            return self.share_delete(rng)
        return self._new_share({"size": rng.randint(1, 2)})

    def share_create_from_snapshot(self, rng):
        if self._full(self.model.shares):
            return self.share_delete(rng)
        with self._claimed(rng, self.model.share_snaps) as snap:
            if snap is None:
                return "skipped"
            size = self.model.shares.get(self.model.share_snaps[snap], MAX_SIZE_GB)
            return self._new_share({"size": size, "snapshot_id": snap})

    def share_delete(self, rng):
        with self.model.lock:
            parents = set(self.model.share_snaps.values())
        with self._claimed(rng, set(self.model.shares) - parents) as share:
            if share is None:  # every share has snapshots: make one deletable later
                return self.share_snapshot_delete(rng)
            outcome = self._remove(self.api.share, f"/shares/{share}", share, self.model.shares)
            with self.model.lock:
                self.model.rules = {r: v for r, v in self.model.rules.items() if v[0] in self.model.shares}
            return outcome

    def share_extend(self, rng):
        with self._claimed(rng, [s for s, size in self.model.shares.items() if size < MAX_SIZE_GB]) as share:
            if share is None:
                return "skipped"
            return self._grow(self.api.share, f"/shares/{share}", share, self.model.shares,
                              {"extend": {"new_size": self.model.shares[share] + 1}})

    def share_snapshot(self, rng):
        with self._claimed(rng, self.model.with_room(self.model.shares, self.model.share_snaps)) as share:
            if share is None:
                return self.share_snapshot_delete(rng)
            marker = None
            if share in self.model.open_shares():
                marker = Marker(f"marker-{rng.getrandbits(48):012x}", rng.randbytes(64).hex().encode())
                written = nfs_write(self.server, share_path(self.server, share), marker.name, marker.data)
                assert written.returncode == 0, f"NFS write to share {share}: {written.stderr.strip()}"
            return self._snapshot(self.api.share, {"share_id": share}, share, self.model.share_snaps, marker)

    def share_snapshot_delete(self, rng):
        with self._claimed(rng, self.model.share_snaps) as snap:
            if snap is None:
                return "skipped"
            return self._remove(self.api.share, f"/snapshots/{snap}", snap, self.model.share_snaps)

    def access_allow(self, rng):
        with self._claimed(rng, self.model.shares) as share:
            if share is None:
                return "skipped"
            # Mostly the harness's own address (so it can write markers), else a stranger read-only.
            if share not in self.model.open_shares() and rng.random() < 0.7:
                to, level = "127.0.0.1", "rw"
            else:
                to, level = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", "ro"
            rule = self._post(self.api.share, f"/shares/{share}/action", {"allow_access": {
                "access_type": "ip", "access_to": to, "access_level": level}})["access"]
            value = self.api.wait(self.api.share, f"/share-access-rules/{rule['id']}", self.op_timeout, key="state")
            outcome = self._ended(f"access rule {rule['id']} ({to}) on {share}", value, "active")
            if outcome == "ok":
                with self.model.lock:
                    self.model.rules[rule["id"]] = (share, to)
            return outcome

    def access_deny(self, rng):
        with self.model.lock:
            by_share = {share: rule for rule, (share, _) in self.model.rules.items()}
        with self._claimed(rng, by_share) as share:
            if share is None:
                return "skipped"
            rule = by_share[share]
            return self._remove(self.api.share, f"/share-access-rules/{rule}", rule, self.model.rules,
                                action={"deny_access": {"access_id": rule}}, owner=f"/shares/{share}")

    # ---- volumes --------------------------------------------------------------------------

    def _new_volume(self, body: dict) -> str:
        return self._create(self.api.volume, "volumes", "volume", body, self.model.volumes)

    def volume_create(self, rng):
        if self._full(self.model.volumes):
            return self.volume_delete(rng)
        return self._new_volume({"size": rng.randint(1, 2)})

    def volume_clone(self, rng):
        if self._full(self.model.volumes):
            return self.volume_delete(rng)
        with self._claimed(rng, [v for v in self.model.volumes if not self.model.attached(v)]) as source:
            if source is None:
                return "skipped"
            return self._new_volume({"size": self.model.volumes[source], "source_volid": source})

    def volume_from_snapshot(self, rng):
        if self._full(self.model.volumes):
            return self.volume_delete(rng)
        with self._claimed(rng, self.model.vol_snaps) as snap:
            if snap is None:
                return "skipped"
            size = self.model.volumes.get(self.model.vol_snaps[snap], MAX_SIZE_GB)
            return self._new_volume({"size": size, "snapshot_id": snap})

    def volume_delete(self, rng):
        with self.model.lock:
            keep = set(self.model.vol_snaps.values()) | {v for v, _ in self.model.attachments.values()}
        with self._claimed(rng, set(self.model.volumes) - keep) as volume:
            if volume is None:  # every volume has snapshots or is attached: free one for later
                return self.volume_snapshot_delete(rng) if rng.random() < 0.5 else self.volume_detach(rng)
            return self._remove(self.api.volume, f"/volumes/{volume}", volume, self.model.volumes)

    def volume_extend(self, rng):
        growable = [v for v, size in self.model.volumes.items() if size < MAX_SIZE_GB and not self.model.attached(v)]
        with self._claimed(rng, growable) as volume:
            if volume is None:
                return "skipped"
            return self._grow(self.api.volume, f"/volumes/{volume}", volume, self.model.volumes,
                              {"os-extend": {"new_size": self.model.volumes[volume] + 1}})

    def volume_snapshot(self, rng):
        # Not a RemoteFS volume while attached (no LUN): its driver refuses, as Cinder's asks Nova to do it.
        candidates = [v for v in self.model.with_room(self.model.volumes, self.model.vol_snaps)
                      if not (self.model.attached(v) and self.model.attachments[self.model.attached(v)][1] is None)]
        with self._claimed(rng, candidates) as volume:
            if volume is None:
                return self.volume_snapshot_delete(rng)
            marker = None
            attachment = self.model.attached(volume)
            lun = self.model.attachments[attachment][1] if attachment else None
            if lun is not None:
                marker = Marker("lba0", rng.randbytes(4096))
                lun.write(INITIATOR, marker.data)  # acknowledged by the target before the snapshot is asked for
            return self._snapshot(self.api.volume, {"volume_id": volume, "force": attachment is not None}, volume,
                                  self.model.vol_snaps, marker)

    def volume_snapshot_delete(self, rng):
        with self._claimed(rng, self.model.vol_snaps) as snap:
            if snap is None:
                return "skipped"
            return self._remove(self.api.volume, f"/snapshots/{snap}", snap, self.model.vol_snaps)

    def volume_attach(self, rng):
        with self._claimed(rng, [v for v in self.model.volumes if not self.model.attached(v)]) as volume:
            return "skipped" if volume is None else self.attach(volume)

    def attach(self, volume: str) -> str:
        """As nova attaches: reserve an attachment, give it the host's connector, complete it;
        when the connector is refused, delete the attachment again (nova's roll-back)."""
        attachment = self._post(self.api.volume, "/attachments", {"attachment": {
            "volume_uuid": volume, "instance_uuid": None}})["attachment"]
        with self.model.lock:
            self.model.attachments[attachment["id"]] = (volume, None)
        resp = self.api.volume.put(f"/attachments/{attachment['id']}", json={"attachment": {
            "connector": connector(INITIATOR, "chaos-host")}})
        if resp.status_code != 200:
            self._delete(self.api.volume, f"/attachments/{attachment['id']}")
            with self.model.lock:
                self.model.attachments.pop(attachment["id"], None)
            kind = Refused if 400 <= resp.status_code < 500 else httpx.TransportError
            raise kind(f"PUT /attachments/{attachment['id']}: {resp.status_code} {resp.text[:200]}")
        info = resp.json()["attachment"]["connection_info"]
        # iSCSI (ZFS volumes) is reached through the LUN; an NFS file (RemoteFS) only through its file
        lun = Lun.of(info) if info and info.get("driver_volume_type") == "iscsi" else None
        with self.model.lock:
            self.model.attachments[attachment["id"]] = (volume, lun)
        self._post(self.api.volume, f"/attachments/{attachment['id']}/action", {"os-complete": None}, ok=(204,))
        return "ok"

    def volume_detach(self, rng):
        with self.model.lock:
            by_volume = {v: a for a, (v, _) in self.model.attachments.items()}
        with self._claimed(rng, by_volume) as volume:
            if volume is None:
                return "skipped"
            self._delete(self.api.volume, f"/attachments/{by_volume[volume]}")
            with self.model.lock:
                self.model.attachments.pop(by_volume[volume], None)
            return "ok"


class Budget:
    """At most `ops` operations in the whole run (None: no limit), shared by every worker."""

    def __init__(self, ops: int | None):
        self.left = ops
        self.lock = threading.Lock()

    def give_back(self) -> None:
        with self.lock:
            if self.left is not None:
                self.left += 1

    def take(self) -> bool:
        with self.lock:
            if self.left is None:
                return True
            if self.left <= 0:
                return False
            self.left -= 1
            return True
