"""The ZFSSA emulator's data paths, kept in step with its configuration after
every change: iSCSI targets on its own tgtd, NFS exports on its own ganesha.

iSCSI. Each appliance target is a tgtd target of the same IQN. It carries
every LUN whose target group holds it (``default``: every target) and that is
presented to at least one initiator group, as tgtd LUN <assigned number>
backed by the LUN's file. Its ACL is the initiators of those groups
(``default``: ``ALL``). With ``auth: chap`` the target's
``targetchapuser``/``targetchapsecret`` is an incoming CHAP account bound to
it: an initiator must log in with it (what the driver hands os-brick as
``auth_username``/``auth_password``). Initiators' own CHAP settings are kept
but not enforced. tgtd has no per-initiator LUN masking: an initiator let into
a target sees every LUN the target carries, even one presented only to another
group (an appliance would hide it). Offline iSCSI service: no targets.

NFS. Each filesystem whose ``sharenfs`` is not ``off`` is one ganesha export of
its mountpoint, with one client rule per ``sharenfs`` entry (``on``/``rw``:
everyone read-write; ``ro``: everyone read-only; ``rw=@A/L:@B``: those
networks). Offline NFS service: no exports.

Shoal's own export helpers do the work where they fit: ``GaneshaHelper``
(config, SIGHUP, waiting for the reload) and ``TgtHelper`` (the daemon, its
portal, ``targets()``); multi-LUN targets are reconciled here with ``tgtadm``
run through a ``shoal.hosts`` host, as Shoal's helper runs it.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import time
from typing import Any

from shoal.exports.iscsi.tgt import TgtTarget
from shoal.exports.nfs.base import NfsClientRule, NfsExport
from shoal.hosts import Secret
from tests.emulators.zfssa.appliance import Appliance
from tests.emulators.zfssa.luns import groups_of
from tests.emulators.zfssa.zpool import VOLUME_FILE, Node
from tests.fixtures.zfs import open_under

CONTROLLER_LUN = 0
EVERYONE = ("0.0.0.0/1", "128.0.0.0/1")
RELEASE_WAIT = 5.0  # seconds ganesha gets to close the files of a removed export
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def nfs_rules(sharenfs: str) -> tuple[NfsClientRule, ...]:
    """Client rules for a sharenfs value (see the module docstring)."""
    rules: list[NfsClientRule] = []
    for option in sharenfs.split(","):
        key, _, arg = option.partition("=")
        if key in ("on", "rw", "ro") and not arg:
            # Everyone: ganesha takes no 0.0.0.0/0 (it reads it as a path), so two halves.
            for half in EVERYONE:
                rules.append(NfsClientRule(f"all-{key}-{half}", half, "ro" if key == "ro" else "rw"))
        elif key in ("rw", "ro"):
            for host in arg.split(":"):
                rules.append(NfsClientRule(f"{key}-{host}", host.lstrip("@"), key))
    # A host named twice (ro=@X and rw=@X): the later entry wins, as the appliance reads them.
    return tuple({r.address: r for r in rules}.values())


class Exports:
    def __init__(self, app: Appliance, tgt: Any, ganesha: Any):
        self.app = app
        self.tgt = tgt  # tests.fixtures.tgtd.TgtdInstance
        self.ganesha = ganesha  # tests.fixtures.ganesha.GaneshaInstance
        self.secrets: dict[str, str] = {}  # CHAP user -> secret set in tgtd (tgtd never shows them)
        self.nfs: dict[str, NfsExport] = {}  # export key -> what ganesha was given

    # ---- entry points ------------------------------------------------------

    def sync(self, exclude: str | None = None) -> None:
        """Make tgtd and ganesha match the appliance; shares at or under `exclude`
        are taken out (before a rename or a destroy of them)."""
        nodes = [n for n in self.app.pool.read().values() if n.name.count("/") == 2 and n.kind in ("lun", "filesystem")
                 and not (exclude and (n.name == exclude or n.name.startswith(exclude + "/")))]
        self._sync_tgt([n for n in nodes if n.kind == "lun"])
        self._sync_nfs([n for n in nodes if n.kind == "filesystem"])

    def take_out(self, dataset: str) -> None:
        """Unexport `dataset` and what is under it, and make sure the daemons let go of
        its files before it is renamed or destroyed. ganesha keeps files of a removed
        export open in its cache for a while; destroying a dataset under an open file
        makes zfs-fuse hold the pool busy for good (seen: "pool is busy" until
        zfs-fuse restarts). So ganesha is given a few seconds, then restarted."""
        self.sync(exclude=dataset)
        mountpoints = [n.values["mountpoint"] for n in self.app.pool.read(dataset).values()
                       if "@" not in n.name and n.values.get("mountpoint", "").startswith("/")]
        if not mountpoints:
            return
        deadline = time.monotonic() + RELEASE_WAIT
        while self._ganesha_holds(mountpoints):
            if time.monotonic() > deadline:
                self._restart_ganesha()
                break
            time.sleep(0.1)

    def _ganesha_holds(self, mountpoints: list[str]) -> list[str]:
        pid = self.ganesha.helper.pid()
        return [h for h in open_under(mountpoints) if pid is not None and h.split(" ", 1)[0] == str(pid)]

    def _restart_ganesha(self) -> None:
        pid = self.ganesha.helper.pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while self.ganesha.helper.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.05)
        self.ganesha.helper.start()  # same config, ports and exports

    def resized(self, dataset: str) -> None:
        """Make tgtd re-read the size of a LUN's file (re-open it on every target carrying it)."""
        backing = str(self.app.pool.volume_file(dataset))
        for target in self.tgt.helper.targets():
            for lun in target.luns:
                if lun.backing_path == backing:
                    args = ("--op", "update", "--mode", "logicalunit", "--tid", str(target.tid), "--lun", str(lun.lun))
                    self._adm(*args, "--params", f"online=0,path={backing}")

    def clear(self) -> None:
        """Take every target and export away (the emulator stops)."""
        self._sync_tgt([], everything=False)
        self._sync_nfs([], everything=False)

    # ---- iSCSI ---------------------------------------------------------------

    def _adm(self, *args: str, check: bool = True) -> Any:
        argv = ["tgtadm", "-C", str(self.tgt.control_port), "--lld", "iscsi", *args]
        return self.tgt.helper.host.run(argv, check=check)

    def desired_targets(self, luns: list[Node]) -> dict[str, tuple[dict[int, str], set[str], tuple[str, str] | None]]:
        """{target iqn: ({lun number: backing file}, ACL entries, CHAP (user, secret) or None)}."""
        san = self.app.san
        wanted: dict[str, tuple[dict[int, str], set[str], tuple[str, str] | None]] = {}
        for iqn, props in san.targets.items():
            numbers: dict[int, str] = {}
            acl: set[str] = set()
            for node in luns:
                groups = groups_of(node)
                group = node.emu("targetgroup", "default")
                if not groups or (group != "default" and iqn not in san.target_groups.get(group, [])):
                    continue
                numbers[int(node.emu("lunnumber", "0"))] = f"{node.values['mountpoint']}/{VOLUME_FILE}"
                for g in groups:
                    acl.update(["ALL"] if g == "default" else san.initiator_groups.get(g, []))
            chap = (props["targetchapuser"], props["targetchapsecret"]) if props.get("auth") == "chap" else None
            wanted[iqn] = (numbers, acl, chap)
        return wanted

    def _sync_tgt(self, luns: list[Node], everything: bool = True) -> None:
        online = everything and self.app.service_online("iscsi")
        wanted = self.desired_targets(luns) if online else {}
        current = {t.iqn: t for t in self.tgt.helper.targets()}
        for iqn, target in current.items():
            if iqn not in wanted:
                self._adm("--op", "delete", "--mode", "target", "--tid", str(target.tid), "--force")
                for user in target.accounts:
                    self._drop_account(user)
        for iqn, (numbers, acl, chap) in wanted.items():
            target = current.get(iqn) or self._new_target(iqn, {t.tid for t in current.values()})
            current[iqn] = target
            self._sync_luns(target, numbers)
            self._sync_acl(target, acl)
            self._sync_chap(target, chap)

    def _new_target(self, iqn: str, used: set[int]) -> TgtTarget:
        tid = next(n for n in range(1, len(used) + 2) if n not in used)
        self._adm("--op", "new", "--mode", "target", "--tid", str(tid), "-T", iqn)
        return TgtTarget(tid, iqn)

    def _sync_luns(self, target: TgtTarget, numbers: dict[int, str]) -> None:
        tid = str(target.tid)
        have = {lun.lun: lun.backing_path for lun in target.luns if lun.lun != CONTROLLER_LUN}
        for number, path in have.items():
            if numbers.get(number) != path:
                self._adm("--op", "delete", "--mode", "logicalunit", "--tid", tid, "--lun", str(number))
        for number, path in numbers.items():
            if have.get(number) != path:
                self._adm("--op", "new", "--mode", "logicalunit", "--tid", tid, "--lun", str(number),
                          "--bstype", "rdwr", "-b", path)

    def _sync_acl(self, target: TgtTarget, acl: set[str]) -> None:
        tid = str(target.tid)
        for entry in sorted(acl - set(target.acl)):  # grant first: a kept initiator never drops out
            self._adm("--op", "bind", "--mode", "target", "--tid", tid, "-I" if entry == "ALL" else "-Q", entry)
        for entry in set(target.acl) - acl:
            flag = "-Q" if entry.lower().startswith(("iqn.", "eui.", "naa.")) else "-I"
            self._adm("--op", "unbind", "--mode", "target", "--tid", tid, flag, entry)

    def _sync_chap(self, target: TgtTarget, chap: tuple[str, str] | None) -> None:
        tid = str(target.tid)
        if chap is not None:
            user, secret = chap
            if self.secrets.get(user) != secret:
                self._adm("--op", "delete", "--mode", "account", "--user", user, check=False)
                self._adm("--op", "new", "--mode", "account", "--user", user, "--password", Secret(secret))
                self.secrets[user] = secret
                target.accounts = [a for a in target.accounts if a != user]
            if user not in target.accounts:
                self._adm("--op", "bind", "--mode", "account", "--tid", tid, "--user", user)
        for user in target.accounts:
            if chap is None or user != chap[0]:
                self._adm("--op", "unbind", "--mode", "account", "--tid", tid, "--user", user, check=False)
                self._drop_account(user)

    def _drop_account(self, user: str) -> None:
        in_use = any(user in t.accounts for t in self.tgt.helper.targets())
        if not in_use:
            self._adm("--op", "delete", "--mode", "account", "--user", user, check=False)
            self.secrets.pop(user, None)

    # ---- NFS -----------------------------------------------------------------

    @staticmethod
    def export_key(dataset: str) -> str:
        readable = _UNSAFE.sub("_", dataset.split("/", 1)[1].replace("/", "."))
        return f"{readable[:100]}.{hashlib.sha1(dataset.encode()).hexdigest()[:8]}"

    def _sync_nfs(self, filesystems: list[Node], everything: bool = True) -> None:
        wanted: dict[str, NfsExport] = {}
        if everything and self.app.service_online("nfs"):
            for node in filesystems:
                sharenfs = node.emu("sharenfs", "on")
                if sharenfs != "off":
                    key = self.export_key(node.name)
                    wanted[key] = NfsExport(key, node.values["mountpoint"], node.name, nfs_rules(sharenfs))
        for key in [k for k in self.nfs if k not in wanted]:
            self.ganesha.helper.remove(self.nfs.pop(key))
        for key, export in wanted.items():
            if self.nfs.get(key) != export:
                self.ganesha.helper.apply(export)
                self.nfs[key] = export
