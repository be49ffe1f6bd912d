"""A fake storage host that answers `zfs` commands from an in-memory model.

Used by the volume driver's unit tests for what this machine cannot run:
kernel OpenZFS zvols (`zfs create -V`, `volsize`, `/dev/zvol/...`). It models
only what the driver uses (create, snapshot, clone, destroy, rename, promote,
rollback, get -H -p [-r] [-s local], set, inherit) with ZFS's refusals
(dependent clones, children, newer snapshots), and records every argv so tests
can assert exact command lines. The file layout and real ZFS behaviour are
tested for real in tests/integration/.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from shoal.hosts import CommandError, CommandResult
from shoal.hosts.runner import run_with_retry


@dataclass
class Obj:
    type: str  # filesystem | volume | snapshot
    txg: int
    props: dict[str, str] = field(default_factory=dict)  # local properties
    origin: str | None = None
    data: str = ""  # stands for the contents


class FakeZfsHost:
    name = "fake"

    def __init__(self, kernel: bool = True, pool: str = "tank"):
        self.kernel = kernel
        self.calls: list[list[str]] = []
        self.objs: dict[str, Obj] = {}
        self._txg = itertools.count(1)
        self.add(pool, "filesystem")

    # ---- model helpers for tests ----------------------------------------------------------

    def add(self, name: str, type_: str = "filesystem", **props: str) -> Obj:
        obj = Obj(type_, next(self._txg), dict(props))
        self.objs[name] = obj
        return obj

    def zfs_calls(self, verb: str) -> list[list[str]]:
        return [c for c in self.calls if c[:2] == ["zfs", verb]]

    def names(self, under: str) -> set[str]:
        return {n for n in self.objs if n.startswith(under + "/") or n.startswith(under + "@")}

    # ---- Host protocol ---------------------------------------------------------------------

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None):
        def execute(args):
            self.calls.append(list(args))
            rc, out, err = self._dispatch(list(args))
            return CommandResult(tuple(args), rc, out, err, 0.0)

        return run_with_retry(execute, argv, check, retry)

    def pipe(self, producer, consumer, *, timeout=None):  # pragma: no cover - unused
        raise CommandError(CommandResult(tuple(producer), 1, "", "not modelled", 0.0))

    # ---- zfs ---------------------------------------------------------------------------------

    def _dispatch(self, argv: list[str]) -> tuple[int, str, str]:
        if argv[:2] == ["test", "-e"]:
            return (0 if self.kernel else 1), "", ""
        if argv[:2] == ["zfs", "version"]:
            return 0, "zfs-2.1.11\n", ""
        if argv[0] != "zfs":
            return 127, "", f"{argv[0]}: not modelled"
        verb, args = argv[1], argv[2:]
        try:
            return 0, getattr(self, f"_{verb}")(args) or "", ""
        except KeyError as exc:
            return 1, "", f"cannot open '{exc.args[0]}': dataset does not exist\n"
        except RuntimeError as exc:
            return 1, "", str(exc)

    @staticmethod
    def _opts(args: list[str]) -> tuple[dict[str, str], list[str], set[str]]:
        props, rest, flags = {}, [], set()
        it = iter(args)
        for a in it:
            if a == "-o":
                k, v = next(it).split("=", 1)
                props[k] = v
            elif a == "-V":
                props["volsize"] = next(it)
            elif a.startswith("-"):
                flags.add(a)
            else:
                rest.append(a)
        return props, rest, flags

    def _get_obj(self, name: str) -> Obj:
        if name not in self.objs:
            raise KeyError(name)
        return self.objs[name]

    def _create(self, args):
        props, (name,), flags = self._opts(args)
        if name in self.objs:
            raise RuntimeError(f"cannot create '{name}': dataset already exists\n")
        type_ = "volume" if "volsize" in props else "filesystem"
        if type_ == "volume":
            if not self.kernel:
                raise RuntimeError("cannot create: Function not implemented\n")
            if "-s" not in flags:
                props.setdefault("refreservation", str(int(props["volsize"]) + 65536))
        self.add(name, type_, **props)

    def _snapshot(self, args):
        (name,) = args
        ds = self._get_obj(name.split("@")[0])
        if name in self.objs:
            raise RuntimeError(f"cannot create snapshot '{name}': dataset already exists\n")
        snap = self.add(name, "snapshot")
        snap.data = ds.data
        snap.props["volsize"] = ds.props.get("volsize", "-")

    def _clone(self, args):
        props, (snap, name), _ = self._opts(args)
        src = self._get_obj(snap)
        parent = self._get_obj(snap.split("@")[0])
        obj = self.add(name, parent.type, **props)
        obj.origin, obj.data = snap, src.data
        if parent.type == "volume":
            obj.props["volsize"] = src.props["volsize"]

    def _clones(self, snap: str) -> list[str]:
        return [n for n, o in self.objs.items() if o.origin == snap]

    def _snaps(self, ds: str) -> list[str]:
        return sorted((n for n in self.objs if n.startswith(ds + "@")), key=lambda n: self.objs[n].txg)

    def _destroy(self, args):
        _, (name,), flags = self._opts(args)
        self._get_obj(name)
        if "@" in name and self._clones(name):
            raise RuntimeError(f"cannot destroy '{name}': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\n" + "\n".join(self._clones(name)) + "\n")
        if "@" not in name and (self._snaps(name) or any(n.startswith(name + "/") for n in self.objs)):
            raise RuntimeError(f"cannot destroy '{name}': volume has children\nuse '-r' to destroy the following datasets:\n")
        del self.objs[name]

    def _umount(self, args):
        raise RuntimeError("cannot unmount: not a filesystem\n")

    _mount = _umount

    def _rename(self, args):
        old, new = args
        self._get_obj(old)
        self.objs[new] = self.objs.pop(old)
        if "@" not in old:
            for snap in self._snaps(old):
                self.objs[new + snap[len(old):]] = self.objs.pop(snap)
            for o in self.objs.values():
                if o.origin and o.origin.split("@")[0] == old:
                    o.origin = new + o.origin[len(old):]
        else:
            for o in self.objs.values():
                if o.origin == old:
                    o.origin = new

    def _promote(self, args):
        (name,) = args
        clone = self._get_obj(name)
        origin_snap = clone.origin
        parent_name = origin_snap.split("@")[0]
        parent = self._get_obj(parent_name)
        cut = self.objs[origin_snap].txg
        moved = [s for s in self._snaps(parent_name) if self.objs[s].txg <= cut]
        clone.origin, parent.origin = parent.origin, name + "@" + origin_snap.split("@")[1]
        for snap in moved:
            new = name + "@" + snap.split("@")[1]
            self.objs[new] = self.objs.pop(snap)
            for o in self.objs.values():
                if o.origin == snap:
                    o.origin = new

    def _rollback(self, args):
        _, (snap,), flags = self._opts(args)
        obj = self._get_obj(snap)
        ds_name = snap.split("@")[0]
        newer = [s for s in self._snaps(ds_name) if self.objs[s].txg > obj.txg]
        if newer and "-r" not in flags:
            raise RuntimeError(f"cannot rollback to '{snap}': more recent snapshots exist\nuse '-r' to force deletion of the following snapshots:\n" + "\n".join(newer) + "\n")
        ds = self.objs[ds_name]
        ds.data = obj.data
        if ds.type == "volume":
            ds.props["volsize"] = obj.props["volsize"]

    def _set(self, args):
        *pairs, name = args
        if len(pairs) > 1 and not self.kernel:
            raise RuntimeError("too many arguments\n")  # zfs-fuse's `zfs set` takes one property
        obj = self._get_obj(name)
        for kv in pairs:
            k, v = kv.split("=", 1)
            if k == "refreservation" and v == "auto":
                v = str(int(obj.props["volsize"]) + 65536)
            if v == "none":
                obj.props.pop(k, None)
            else:
                obj.props[k] = v

    def _inherit(self, args):
        prop, name = args
        self._get_obj(name).props.pop(prop, None)

    def _value(self, name: str, prop: str) -> tuple[str, str]:
        obj = self.objs[name]
        if prop == "type":
            return obj.type, "-"
        if prop == "origin":
            return obj.origin or "-", "-"
        if prop == "createtxg":
            return str(obj.txg), "-"
        if prop == "mountpoint":
            return ("/" + name if obj.type == "filesystem" else "-"), "default"
        if prop == "mounted":
            return ("yes" if obj.type == "filesystem" else "-"), "-"
        if prop in ("referenced", "used", "available"):
            return "65536", "-"
        if prop in obj.props:
            return obj.props[prop], ("-" if prop == "volsize" else "local")
        if obj.type == "snapshot" and ":" in prop:
            parent = name.split("@")[0]
            if prop in self.objs[parent].props:
                return self.objs[parent].props[prop], f"inherited from {parent}"
        return ("0" if prop == "refreservation" else "-"), ("default" if prop == "refreservation" else "-")

    def _get(self, args):
        it = iter(args)
        recursive, sources, fields, positional = False, None, "name,property,value", []
        for a in it:
            if a == "-r":
                recursive = True
            elif a == "-s":
                sources = next(it).split(",")
            elif a == "-o":
                fields = next(it)
            elif a in ("-H", "-p"):
                continue
            else:
                positional.append(a)
        props, names = positional[0].split(","), positional[1:]
        out = []
        for name in names:
            self._get_obj(name)
            targets = [name] + (sorted(self.names(name), key=lambda n: (n.split("@")[0], self.objs[n].txg)) if recursive else [])
            for target in targets:
                wanted = props if props != ["all"] else sorted(self.objs[target].props)
                for prop in wanted:
                    value, source = self._value(target, prop)
                    if sources and source not in sources:
                        continue
                    row = [target, prop, value] + ([source] if fields.endswith("source") else [])
                    out.append("\t".join(row))
        return "\n".join(out) + "\n"


# ---- the fake keeps ZFS's refusals (so driver tests that pass on it mean something) --------


def test_fake_refuses_what_zfs_refuses():
    host = FakeZfsHost()
    host.run(["zfs", "create", "-s", "-V", "1024", "tank/v"])
    host.run(["zfs", "snapshot", "tank/v@a"])
    host.run(["zfs", "clone", "tank/v@a", "tank/c"])
    for argv, message in (
        (["zfs", "destroy", "tank/v@a"], "dependent clones"),
        (["zfs", "destroy", "tank/v"], "has children"),
        (["zfs", "destroy", "tank/nope"], "does not exist"),
    ):
        result = host.run(argv, check=False)
        assert result.returncode == 1 and message in result.stderr
    host.run(["zfs", "snapshot", "tank/v@b"])
    assert "more recent snapshots" in host.run(["zfs", "rollback", "tank/v@a"], check=False).stderr


def test_fake_promote_moves_older_snapshots_and_flips_origin():
    host = FakeZfsHost()
    host.run(["zfs", "create", "-V", "1024", "tank/v"])
    host.run(["zfs", "snapshot", "tank/v@a"])
    host.run(["zfs", "snapshot", "tank/v@b"])
    host.run(["zfs", "clone", "tank/v@a", "tank/c"])
    host.run(["zfs", "promote", "tank/c"])
    assert "tank/c@a" in host.objs and "tank/v@b" in host.objs and "tank/v@a" not in host.objs
    assert host.objs["tank/v"].origin == "tank/c@a" and host.objs["tank/c"].origin is None
