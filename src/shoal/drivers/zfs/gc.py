"""Deferred destroy: data that clones still need is hidden, then collected.

ZFS cannot destroy a snapshot that has clones, nor a dataset that still has
snapshots. Shoal's volume deletes must succeed anyway, so an object that is
still needed is *hidden* instead of destroyed, and destroyed later, as soon as
the last thing that needs it is gone. All state lives on ZFS, so this works
after a restart:

- hidden dataset or zvol: the user property ``shoal:deleted=yes`` set locally;
  or a Shoal volume name ending in ``-revert`` or ``-reverted-<8 hex>`` (what
  a revert sets aside, see volumes.py).
- hidden snapshot: ``shoal:deleted=yes`` (local, or inherited from its own
  dataset), or, on a Shoal volume, a tag starting with ``clone-`` (the snapshot
  Shoal takes for create_cloned_volume: no user ever sees it, so it is hidden
  from birth).

Name rules apply only below names that carry the volume prefix (also after
unmanage's ``unmanaged-`` rename): a dataset Shoal does not own is never
collected because of its name.

A `Tree` is the state of one pool root, read with a single ``zfs get -r``
(zfs-fuse's ``zfs list`` has no ``-p`` and no ``clones`` column: clones are
found by inverting each dataset's ``origin``). `Collector.collect` walks up from
something just destroyed: a hidden snapshot without clones is destroyed, then
its dataset if that is hidden and has no snapshots left, then that dataset's
origin snapshot, and so on. `Collector.sweep` does the same from every hidden
object nothing needs (at start-up, after a crash). Destroys are never recursive:
if the tree was stale, ZFS refuses and the object simply stays hidden. A
delete's destroy that ZFS keeps refusing as busy (zfs-fuse, now and then, with
nothing of ours holding the dataset) is hidden too once a patient retry ran
out, and remembered as `pending`: the periodic check sweeps until it is gone
(after a restart, the start-up sweep finds it by its mark). So is the internal
snapshot of a clone that failed when ZFS would not destroy it either (zfs-fuse
gone mid-clone).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from shoal.hosts import Retry

from .zfs import BUSY, BUSY_PATIENTLY, Zfs, ZfsBusy, ZfsError

log = logging.getLogger(__name__)

HIDDEN = "shoal:deleted"
INTERNAL_PREFIX = "clone-"
SET_ASIDE = re.compile(r"-(revert|reverted-[0-9a-f]{8})$")
UNMANAGED_PREFIX = "unmanaged-"
TREE_PROPS = ("type", "origin", "createtxg", HIDDEN, "volsize", "referenced", "refreservation")


@dataclass
class Entry:
    name: str
    type: str  # filesystem | volume | snapshot
    origin: str | None
    txg: int
    hidden: bool
    props: dict[str, str] = field(default_factory=dict)

    @property
    def is_snapshot(self) -> bool:
        return self.type == "snapshot"


def _hidden(name: str, props: dict[str, tuple[str, str]], volume_prefix: str) -> bool:
    value, source = props.get(HIDDEN, ("-", "-"))
    dataset, _, tag = name.partition("@")
    leaf = dataset.rsplit("/", 1)[-1]
    shoal_named = leaf.startswith(volume_prefix) or leaf.startswith(UNMANAGED_PREFIX + volume_prefix)
    if tag:
        return (shoal_named and tag.startswith(INTERNAL_PREFIX)) or (
            value == "yes" and source in ("local", f"inherited from {dataset}")
        )
    return (leaf.startswith(volume_prefix) and bool(SET_ASIDE.search(leaf))) or (value == "yes" and source == "local")


class Tree:
    """One pool root as ZFS saw it a moment ago; updated in place as Shoal destroys."""

    def __init__(self, root: str, rows: dict[str, dict[str, tuple[str, str]]], volume_prefix: str):
        self.root = root
        self.entries: dict[str, Entry] = {}
        for name, props in rows.items():
            origin = props.get("origin", ("-", "-"))[0]
            txg = props.get("createtxg", ("0", "-"))[0]
            self.entries[name] = Entry(
                name=name,
                type=props.get("type", ("-", "-"))[0],
                origin=None if origin in ("-", "") else origin,
                txg=int(txg) if txg.isdigit() else 0,
                hidden=_hidden(name, props, volume_prefix),
                props={k: v for k, (v, _) in props.items()},
            )

    @classmethod
    def read(cls, zfs: Zfs, root: str, volume_prefix: str) -> Tree:
        return cls(root, zfs.get_tree(root, TREE_PROPS), volume_prefix)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def get(self, name: str) -> Entry:
        return self.entries[name]

    def datasets(self) -> list[Entry]:
        """Filesystems and zvols below the root (not the root itself)."""
        return [e for e in self.entries.values() if not e.is_snapshot and e.name != self.root]

    def snapshots(self, dataset: str | None = None) -> list[Entry]:
        """Snapshots of `dataset` (of every dataset if None), oldest first."""
        snaps = [e for e in self.entries.values() if e.is_snapshot and (dataset is None or e.name.split("@", 1)[0] == dataset)]
        return sorted(snaps, key=lambda e: e.txg)

    def clones(self, snapshot: str) -> list[str]:
        return [e.name for e in self.entries.values() if e.origin == snapshot]

    def children(self, dataset: str) -> list[str]:
        return [n for n, e in self.entries.items() if not e.is_snapshot and n.startswith(dataset + "/")]

    def needed(self, name: str) -> bool:
        """Something below the root still depends on `name`."""
        if "@" in name:
            return bool(self.clones(name))
        return bool(self.snapshots(name) or self.children(name))

    def discard(self, name: str) -> None:
        self.entries.pop(name, None)

    def mark(self, name: str) -> None:
        if name in self.entries:
            self.entries[name].hidden = True


class Collector:
    """Hides what is still needed and destroys hidden things nothing needs."""

    def __init__(self, zfs: Zfs):
        self.zfs = zfs
        self.pending: set[str] = set()  # hidden because busy, not destroyed yet

    def hide(self, tree: Tree, name: str) -> None:
        if name in tree and not tree.get(name).hidden:
            self.zfs.set(name, {HIDDEN: "yes"})
            tree.mark(name)

    def drop(self, tree: Tree, name: str) -> bool:
        """Destroy `name` if nothing needs it (True), else hide it (False); also
        hidden, for a later sweep, when ZFS still calls it busy after a patient retry."""
        if not tree.needed(name):
            try:
                if self.zfs.destroy_unless_needed(name, retry=BUSY_PATIENTLY):
                    tree.discard(name)
                    return True
            except ZfsBusy as exc:
                log.warning("%s is still busy; hidden, a later sweep destroys it: %s", name, exc)
                self.pending.add(name)
        self.hide(tree, name)
        return False

    def collect(self, tree: Tree, start: str | None, retry: Retry = BUSY) -> list[str]:
        """Walk up the origin chain from `start`, destroying each hidden
        object nothing needs any more; stop at the first one still needed,
        visible, or outside the root. Failures stop the walk (logged; the
        next walk or sweep tries again) and never fail the caller."""
        destroyed: list[str] = []
        name = start
        while name and name in tree:
            entry = tree.get(name)
            if not entry.hidden:
                break
            if not entry.is_snapshot:  # its own hidden, clone-less snapshots first
                for snap in tree.snapshots(name):
                    if snap.hidden and not tree.needed(snap.name):
                        destroyed += self._destroy(tree, snap.name, retry)
            if tree.needed(name):
                break
            up = name.split("@", 1)[0] if entry.is_snapshot else entry.origin
            done = self._destroy(tree, name, retry)
            if not done:
                break
            destroyed += done
            name = up
        return destroyed

    def _destroy(self, tree: Tree, name: str, retry: Retry = BUSY) -> list[str]:
        try:
            if not self.zfs.destroy_unless_needed(name, retry=retry):
                return []
        except ZfsBusy as exc:  # what stayed busy is tried again by each periodic check: no alarm each time
            log.info("deferred destroy of %s: still busy, will retry later: %s", name, exc)
            return []
        except ZfsError as exc:
            log.warning("deferred destroy of %s failed, will retry later: %s", name, exc)
            return []
        log.info("destroyed hidden %s: nothing depends on it any more", name)
        tree.discard(name)
        self.pending.discard(name)
        return [name]

    def sweep(self, tree: Tree, retry: Retry = BUSY) -> list[str]:
        """Collect every hidden object nothing needs (after a restart or a crash,
        and what stayed busy)."""
        destroyed: list[str] = []
        for entry in [e for e in tree.entries.values() if e.hidden]:
            if entry.name in tree and not tree.needed(entry.name):
                destroyed += self.collect(tree, entry.name, retry)
        # Gone some other way (a pool destroyed, a later delete), or needed again: nothing to wait for.
        self.pending -= {n for n in self.pending if n.startswith(tree.root + "/") and
                         (n not in tree or tree.needed(n))}
        return destroyed
