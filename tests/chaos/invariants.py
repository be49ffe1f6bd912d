"""The invariants, checked after every kill once the work has stopped.

1. Steady: every share, snapshot, access rule, volume and attachment leaves its
   transitional status (creating, deleting, extending, attaching, syncing...)
   within the settle bound.
2. Database and backend agree. The database is read through the API (admin,
   all projects), the backend from outside: `zfs get -r` of the backend's root,
   `tgtadm --op show` of Shoal's tgtd, the export files of Shoal's ganesha
   (and the RemoteFS directory). No dataset, snapshot, target or export without
   its row -- except what the ZFS volume driver keeps hidden (`shoal:deleted`,
   internal `clone-` snapshots) while a live clone still needs it -- and no row
   without its backend object unless it is in error with a reason.
3. Data written before an acknowledged snapshot is in it: a share made from
   the snapshot shows the marker file over NFS, a volume made from it shows the
   marker block over iSCSI.
4. Every export is reachable from a real client: `nfs-ls` of every share with a
   rule for 127.0.0.1, `iscsi-inq` of every attached volume as its initiator.

Exports and targets are repaired by Shoal's periodic check, so (2) and (4) are
retried until they hold or the settle bound has passed; what still fails then
is a violation.
"""

from __future__ import annotations

import random
import re
import subprocess
import time
from dataclasses import dataclass

import httpx

from shoal.exports.iscsi.tgt import parse_targets
from tests.fixtures.shoal import control_port
from tests.integration.share_helpers import nfs_ls, nfs_read
from tests.integration.volume_helpers import Lun

from .api import Api, steady
from .workload import INITIATOR, ApiState, Model, Workload, share_path
from .world import REMOTEFS_BACKEND, remotefs_dir

RETRY_EVERY = 2.0


@dataclass
class Violation:
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


# ---- the backend, read from outside -------------------------------------------------------------


def zfs_tree(root: str) -> dict[str, dict[str, str]]:
    """{name: {type, origin, shoal:deleted, mountpoint}} of everything under `root` (one `zfs get -r`)."""
    res = subprocess.run(["zfs", "get", "-r", "-H", "-o", "name,property,value",
                          "type,origin,shoal:deleted,mountpoint", root], check=False, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"zfs get -r {root}: {res.stderr.strip()}")
    tree: dict[str, dict[str, str]] = {}
    for line in res.stdout.splitlines():
        name, prop, value = line.split("\t")
        tree.setdefault(name, {})[prop] = value
    tree.pop(root, None)
    return tree


class Needs:
    """Which hidden ZFS objects a live clone still needs (so they may stay without a row)."""

    def __init__(self, tree: dict[str, dict[str, str]]):
        self.tree = tree
        self._memo: dict[str, bool] = {}

    def hidden(self, name: str) -> bool:
        tag = name.partition("@")[2]
        return self.tree[name].get("shoal:deleted") == "yes" or tag.startswith("clone-")

    def needed(self, name: str) -> bool:
        if name not in self._memo:
            self._memo[name] = False  # no cycles in ZFS, but never recurse forever
            if "@" in name:
                clones = [n for n, p in self.tree.items() if p.get("origin") == name]
                self._memo[name] = any(not self.hidden(c) or self.needed(c) for c in clones)
            else:
                self._memo[name] = any(self.needed(s) for s in self.tree if s.startswith(name + "@"))
        return self._memo[name]


def tgt_targets(server) -> list:
    res = subprocess.run(["tgtadm", "-C", str(control_port(server.iscsi_port)), "--lld", "iscsi", "--op", "show",
                          "--mode", "target"], check=False, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError(f"tgtadm show: {res.stderr.strip() or res.stdout.strip()}")
    return parse_targets(res.stdout)


def ganesha_exports(server) -> dict[str, tuple[int, str]]:
    """{export key: (Export_Id, Path)} from the export files of Shoal's ganesha."""
    found = {}
    for conf in sorted((server.state_dir / "ganesha" / "exports.d").glob("*.conf")):
        text = conf.read_text()
        export_id = re.search(r"Export_Id\s*=\s*(\d+)", text)
        path = re.search(r'Path\s*=\s*"([^"]*)"', text)
        found[conf.stem] = (int(export_id.group(1)) if export_id else -1, path.group(1) if path else "")
    return found


# ---- the checker ---------------------------------------------------------------------------------


class Checker:
    def __init__(self, api: Api, workload: Workload, model: Model, settle_timeout: float, max_verify: int,
                 remotefs: bool):
        self.api, self.workload, self.model = api, workload, model
        self.server = api.server
        self.root = self.server.pool_root
        self.settle_timeout, self.max_verify, self.remotefs = settle_timeout, max_verify, remotefs
        self.client_repairs: list[str] = []
        self.read_back = 0  # marked snapshots whose data was read back

    # ---- 1. steady ----------------------------------------------------------------------

    def settle(self) -> tuple[ApiState, list[Violation]]:
        """Finish the client's side of interrupted attaches, then wait for every status to be steady."""
        state = ApiState.read(self.api)
        for attachment in state.attachments:
            if attachment["status"] in ("attaching", "reserved"):
                self._finish_attach(attachment)
        deadline = time.monotonic() + self.settle_timeout
        while True:
            state = ApiState.read(self.api)
            moving = self.unsteady(state)
            if not moving or time.monotonic() > deadline:
                return state, [Violation("not steady", f"{m} after {self.settle_timeout:.0f}s") for m in moving]
            time.sleep(RETRY_EVERY)

    def _finish_attach(self, attachment: dict) -> None:
        """What nova does with an attach it started: complete it if it has the connection info,
        else roll it back (delete the attachment)."""
        known = self.model.attachments.get(attachment["id"])
        if known is not None and known[1] is not None:
            resp = self.api.volume.post(f"/attachments/{attachment['id']}/action", json={"os-complete": None})
            self.client_repairs.append(f"attachment {attachment['id']} completed: {resp.status_code}")
        else:
            resp = self.api.volume.delete(f"/attachments/{attachment['id']}")
            self.model.attachments.pop(attachment["id"], None)
            self.client_repairs.append(f"attachment {attachment['id']} ({attachment['status']}) rolled back: "
                                       f"{resp.status_code}")

    @staticmethod
    def unsteady(state: ApiState) -> list[str]:
        moving = [f"share {s['id']} {s['status']}" for s in state.shares if not steady(s["status"])]
        moving += [f"share {s['id']} access_rules_status {s['access_rules_status']}" for s in state.shares
                   if not steady(s.get("access_rules_status", "active"))]
        moving += [f"share snapshot {s['id']} {s['status']}" for s in state.share_snaps if not steady(s["status"])]
        moving += [f"access rule {r['id']} on {r['share_id']} {r['state']}" for r in state.rules if not steady(r["state"])]
        moving += [f"volume {v['id']} {v['status']}" for v in state.volumes if not steady(v["status"])]
        moving += [f"volume snapshot {s['id']} {s['status']}" for s in state.vol_snaps if not steady(s["status"])]
        moving += [f"attachment {a['id']} {a['status']}" for a in state.attachments if a["status"] != "attached"]
        return moving

    # ---- 2 and 4, retried until they hold ---------------------------------------------------

    def check(self, rng: random.Random) -> list[Violation]:
        state, violations = self.settle()
        deadline = time.monotonic() + self.settle_timeout
        while True:
            found = self.agreement(state) + self.reachable(state)
            if not found or time.monotonic() > deadline:
                break
            time.sleep(RETRY_EVERY)
            state = ApiState.read(self.api)
        return violations + found + self.snapshot_contents(state, rng)

    def _reason(self, kind: str, row: dict) -> bool:
        """Does an errored row say why (status_reason, or a user message)?"""
        if row.get("status_reason"):
            return True
        if kind.startswith("share"):
            resp = self.api.share.get("/messages", params={"resource_id": row["id"]})
        else:
            resp = self.api.volume.get("/messages", params={"resource_uuid": row["id"]})
        return resp.status_code == 200 and any(m.get("user_message") for m in resp.json().get("messages", []))

    def _missing(self, kind: str, row: dict, what: str) -> list[Violation]:
        if "error" in row["status"] and self._reason(kind, row):
            return []
        return [Violation("row without backend object", f"{kind} {row['id']} ({row['status']}): no {what}")]

    def agreement(self, state: ApiState) -> list[Violation]:
        out: list[Violation] = []
        tree = zfs_tree(self.root)
        needs = Needs(tree)
        zfs_volumes = [v for v in state.volumes if f"@{REMOTEFS_BACKEND}#" not in v.get("os-vol-host-attr:host", "")]
        shares = {s["id"]: s for s in state.shares}
        share_snaps = {s["id"]: s for s in state.share_snaps}
        volumes = {v["id"]: v for v in zfs_volumes}
        vol_snaps = {s["id"]: s for s in state.vol_snaps if s["volume_id"] in volumes}
        prefix = self.root + "/"

        # ZFS objects without a row
        for name in tree:
            dataset, _, tag = name.partition("@")
            leaf = dataset.removeprefix(prefix)
            if leaf.startswith("share-"):
                owner = leaf[len("share-"):]
                if not tag and owner not in shares:
                    out.append(Violation("backend object without row", f"dataset {name}"))
                elif tag and "error" in shares.get(owner, {}).get("status", ""):
                    pass  # the half-done state of a create that failed: its delete removes it
                elif tag and (not tag.startswith("snap-") or share_snaps.get(tag[5:], {}).get("share_id") != owner):
                    out.append(Violation("backend object without row", f"snapshot {name}"))
            elif leaf.startswith("volume-"):
                owner = leaf[len("volume-"):]
                if needs.hidden(name):
                    if not needs.needed(name):
                        out.append(Violation("backend object without row", f"hidden {name}: no live clone needs it"))
                elif not tag and owner not in volumes:
                    out.append(Violation("backend object without row", f"dataset {name}"))
                elif tag and (not tag.startswith("snap-") or vol_snaps.get(tag[5:], {}).get("volume_id") != owner):
                    out.append(Violation("backend object without row", f"snapshot {name}"))
            else:
                out.append(Violation("backend object without row", f"{name} (a name Shoal does not make)"))

        # rows without their ZFS object
        for share in shares.values():
            if f"{prefix}share-{share['id']}" not in tree:
                out += self._missing("share", share, "dataset")
        for snap in share_snaps.values():
            if f"{prefix}share-{snap['share_id']}@snap-{snap['id']}" not in tree:
                out += self._missing("share snapshot", snap, "ZFS snapshot")
        for volume in volumes.values():
            name = f"{prefix}volume-{volume['id']}"
            if name not in tree:
                out += self._missing("volume", volume, "dataset")
            elif needs.hidden(name):
                out.append(Violation("row without backend object", f"volume {volume['id']} ({volume['status']}): "
                                     "its dataset is hidden as deleted"))
        for snap in vol_snaps.values():
            if f"{prefix}volume-{snap['volume_id']}@snap-{snap['id']}" not in tree:
                out += self._missing("volume snapshot", snap, "ZFS snapshot")

        out += self._exports(shares, tree)
        out += self._targets(state, volumes, tree)
        if self.remotefs:
            out += self._remotefs_files(state)
        return out

    def _exports(self, shares: dict[str, dict], tree: dict) -> list[Violation]:
        out = []
        exports = ganesha_exports(self.server)
        ids: dict[int, str] = {}
        for key, (export_id, path) in exports.items():
            if key not in shares:
                out.append(Violation("backend object without row", f"ganesha export {key} ({path})"))
            if export_id in ids:
                out.append(Violation("export id clash", f"Export_Id {export_id}: {ids[export_id]} and {key}"))
            ids[export_id] = key
        for share in shares.values():
            if share["status"] != "available":
                continue
            dataset = f"{self.root}/share-{share['id']}"
            if share["id"] not in exports:
                out.append(Violation("row without backend object", f"share {share['id']} (available): no ganesha export"))
            elif dataset in tree and exports[share["id"]][1] != tree[dataset].get("mountpoint"):
                out.append(Violation("export mismatch", f"share {share['id']}: exported path {exports[share['id']][1]} "
                                     f"is not its mountpoint {tree[dataset].get('mountpoint')}"))
        return out

    def _targets(self, state: ApiState, volumes: dict[str, dict], tree: dict) -> list[Violation]:
        out = []
        connected = {a["volume_id"] for a in state.attachments if a["status"] in ("attached", "attaching")}
        targets = {t.iqn.rsplit(":", 1)[-1][len("volume-"):]: t for t in tgt_targets(self.server)
                   if t.iqn.rsplit(":", 1)[-1].startswith("volume-")}
        for t in tgt_targets(self.server):
            if not t.iqn.rsplit(":", 1)[-1].startswith("volume-"):
                out.append(Violation("backend object without row", f"iSCSI target {t.iqn} (a name Shoal does not make)"))
        for volume_id, target in targets.items():
            if volume_id not in volumes:
                out.append(Violation("backend object without row", f"iSCSI target {target.iqn}"))
            elif volume_id not in connected:
                out.append(Violation("backend object without row", f"iSCSI target {target.iqn}: volume {volume_id} "
                                     "has no attachment"))
        for volume_id in connected & set(volumes):
            target = targets.get(volume_id)
            if target is None:
                out.append(Violation("row without backend object", f"volume {volume_id} is attached: no iSCSI target"))
                continue
            lun = target.lun(1)
            mountpoint = tree.get(f"{self.root}/volume-{volume_id}", {}).get("mountpoint", "?")
            if lun is None or not (lun.backing_path or "").startswith(mountpoint + "/"):
                out.append(Violation("target mismatch", f"volume {volume_id}: LUN 1 of {target.iqn} is "
                                     f"{lun.backing_path if lun else 'missing'}, not a file in {mountpoint}"))
            if INITIATOR not in target.initiator_acl:
                out.append(Violation("target mismatch", f"volume {volume_id}: {INITIATOR} is not in the ACL of "
                                     f"{target.iqn} ({target.acl})"))
        return out

    def _remotefs_files(self, state: ApiState) -> list[Violation]:
        out = []
        directory = remotefs_dir(self.server)
        rows = {v["id"]: v for v in state.volumes if f"@{REMOTEFS_BACKEND}#" in v.get("os-vol-host-attr:host", "")}
        # dot files are the driver's own (.cinderSecureEnvIndicator), not volumes
        files = [p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")] \
            if directory.is_dir() else []
        for name in files:
            m = re.match(r"volume-([0-9a-f-]{36})", name)
            if not m or m.group(1) not in rows:
                out.append(Violation("backend object without row", f"RemoteFS file {name}"))
        for volume in rows.values():
            if f"volume-{volume['id']}" not in files:
                out += self._missing("volume", volume, "RemoteFS file")
        return out

    def reachable(self, state: ApiState) -> list[Violation]:
        out = []
        open_shares = {r["share_id"] for r in state.rules if r["access_to"] == "127.0.0.1" and r["state"] == "active"}
        for share in state.shares:
            if share["id"] in open_shares and share["status"] == "available":
                res = nfs_ls(self.server, share_path(self.server, share["id"]))
                if res.returncode != 0:
                    why = (res.stderr.strip() or res.stdout.strip() or f"exit {res.returncode}")[:200]
                    out.append(Violation("export unreachable", f"share {share['id']}: nfs-ls: {why}"))
        for attachment in state.attachments:
            known = self.model.attachments.get(attachment["id"])
            if attachment["status"] == "attached" and known is not None and known[1] is not None:
                try:  # a read, not only an inquiry: tgtd answers INQUIRY even when the backing file is dead
                    known[1].read(INITIATOR, 4096)
                except AssertionError as exc:
                    out.append(Violation("export unreachable", f"volume {attachment['volume_id']}: "
                                         f"{str(exc).strip()[:300]}"))
        return out

    # ---- 3. snapshot contents -----------------------------------------------------------------

    def snapshot_contents(self, state: ApiState, rng: random.Random) -> list[Violation]:
        """Up to `max_verify` marked snapshots of each kind (those never verified first)."""
        out = []
        share_snaps = {s["id"]: s for s in state.share_snaps if s["status"] == "available"}
        vol_snaps = {s["id"]: s for s in state.vol_snaps if s["status"] == "available"}
        for snaps, verify in ((share_snaps, self._verify_share_snapshot), (vol_snaps, self._verify_volume_snapshot)):
            marked = sorted(k for k in snaps if k in self.model.markers)
            rng.shuffle(marked)
            marked.sort(key=lambda k: self.model.markers[k].verified)
            for snap_id in marked[: self.max_verify]:
                try:
                    problem = verify(snaps[snap_id], self.model.markers[snap_id])
                except (AssertionError, TimeoutError, httpx.HTTPError, KeyError) as exc:
                    problem = f"could not be checked: {exc!r}"[:400]
                if problem:
                    out.append(Violation("snapshot lost data", f"snapshot {snap_id}: {problem}"))
                else:
                    self.model.markers[snap_id].verified = True
                    self.read_back += 1
        return out

    def _verify_share_snapshot(self, snap: dict, marker) -> str:
        api, timeout = self.api, self.settle_timeout
        resp = api.share.post("/shares", json={"share": {"share_proto": "NFS", "size": snap["size"],
                                                         "snapshot_id": snap["id"]}})
        if resp.status_code != 200:
            return f"a share from it was refused: {resp.status_code} {resp.text[:200]}"
        share = resp.json()["share"]
        try:
            made = api.wait(api.share, f"/shares/{share['id']}", timeout)
            if made is None or made["status"] != "available":
                return f"the share made from it ended {made}"
            rule = api.share.post(f"/shares/{share['id']}/action", json={"allow_access": {
                "access_type": "ip", "access_to": "127.0.0.1", "access_level": "ro"}}).json()["access"]
            api.wait(api.share, f"/share-access-rules/{rule['id']}", timeout, key="state")
            got = nfs_read(self.server, share_path(self.server, share["id"]), marker.name)
            if got.returncode != 0 or got.stdout.encode() != marker.data:
                return f"{marker.name} in share {share['id']} made from it: {got.stderr.strip() or got.stdout[:80]!r}"
            return ""
        finally:
            api.share.delete(f"/shares/{share['id']}")
            api.wait_gone(api.share, f"/shares/{share['id']}", timeout)

    def _verify_volume_snapshot(self, snap: dict, marker) -> str:
        api, timeout = self.api, self.settle_timeout
        resp = api.volume.post("/volumes", json={"volume": {"size": snap["size"], "snapshot_id": snap["id"]}})
        if resp.status_code != 202:
            return f"a volume from it was refused: {resp.status_code} {resp.text[:200]}"
        volume = resp.json()["volume"]
        attachment = None
        try:
            made = api.wait(api.volume, f"/volumes/{volume['id']}", timeout)
            if made is None or made["status"] != "available":
                return f"the volume made from it ended {made}"
            body = {"attachment": {"volume_uuid": volume["id"], "instance_uuid": None,
                                   "connector": {"initiator": INITIATOR, "ip": "127.0.0.1", "host": "chaos-check"}}}
            resp = api.volume.post("/attachments", json=body)
            if resp.status_code != 200:
                return f"attaching the volume made from it was refused: {resp.status_code} {resp.text[:200]}"
            attachment = resp.json()["attachment"]
            data = Lun.of(attachment["connection_info"]).read(INITIATOR, len(marker.data))
            return "" if data == marker.data else f"volume {volume['id']} made from it does not hold the marker block"
        finally:
            if attachment is not None:
                api.volume.delete(f"/attachments/{attachment['id']}")
            api.volume.delete(f"/volumes/{volume['id']}")
            api.wait_gone(api.volume, f"/volumes/{volume['id']}", timeout)
