"""Helpers for the volume migration tests (tests/integration/test_volume_migration_*.py).

A Shoal of the module's own with two volume backends: `test` (ZFS, volumes
exported over iSCSI by its tgtd) and `nas` (RemoteFS on a directory of the
test's tmp dir, which has far more room than the test pool, so a volume of no
type is placed there). A volume's data is written and read from outside as a
compute host would: over iSCSI (qemu's iscsi driver, with the CHAP account and
initiator of an attachment) on ZFS, over NFS (libnfs, from an nfs-ganesha of the
test's own exporting the share directory) on RemoteFS.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from shoal.exports.nfs import NfsClientRule, NfsExport
from tests.fixtures.remotefs import backend_toml
from tests.fixtures.shoal import running_shoal

from .volume_helpers import HOST1, STEADY_TIMEOUT, Lun, VolumeApi, _remove_leftovers, cinder, output, run, wait_until

NAS = "nas"
ZFS = "test"
MIGRATION_TIMEOUT = 600.0  # a copy of a written GiB on a busy 2-core machine


@pytest.fixture(scope="module")
def migration_server(zpool, tmp_path_factory):
    share = tmp_path_factory.mktemp("migration-nas")
    with running_shoal(zpool, tmp_path_factory, "migration", extra_config=backend_toml(NAS, share)) as server:
        server.nas_dir = Path(share)
        server.zfs_host = f"shoal@{ZFS}#{zpool}"
        server.nas_host = f"shoal@{NAS}#127.0.0.1:{share}"
        yield server


@pytest.fixture
def migrations(migration_server):
    """A Migrations client (admin of the run's project); what the test made is removed after it."""
    with cinder(migration_server) as client:
        api = Migrations(migration_server, client)
        before = api.state()
        yield api
    with cinder(migration_server) as client:  # the test may have restarted the server
        problems = _remove_leftovers(Migrations(migration_server, client), before)
    assert not problems, f"clean-up left things behind: {problems}"


def nfs_export(ganesha_factory, server):
    """The share directory over NFS from a ganesha of the test's own, started now
    (qemu's nfs:// asks rpcbind, which names the newest ganesha)."""
    ganesha = ganesha_factory()
    export = NfsExport(f"migration-{os.getpid()}-{uuid.uuid4().hex[:6]}", str(server.nas_dir), "",
                       (NfsClientRule("rw", "127.0.0.1", "rw"),))
    assert ganesha.helper.apply(export) == {}
    return ganesha


class Migrations(VolumeApi):
    """VolumeApi plus what the migration scenarios do again and again."""

    def migrate(self, volume_id: str, host: str, **flags):
        return self.action(volume_id, "os-migrate_volume", {"host": host, **flags})

    def wait_migrated(self, volume_id: str, timeout: float = MIGRATION_TIMEOUT) -> dict:
        """The volume once its migration has ended (success or error) and its status is steady."""
        def ended():
            shown = self.volume(volume_id)
            if shown and shown["migration_status"] in ("success", "error") and \
                    shown["status"] in ("available", "in-use", "error"):
                return shown
            return None
        return wait_until(ended, timeout=timeout, what=f"the migration of {volume_id} to end")

    def data_url(self, volume_id: str):
        """Attach as HOST1 and yield (a qemu-img source for the volume's data, its format)."""
        attachment = self.attach(volume_id, HOST1)
        info = attachment["connection_info"]
        if info["driver_volume_type"] == "iscsi":
            return attachment, Lun.of(info).qemu_spec(HOST1), "raw"
        data = info["data"]
        export = data["export"].split(":", 1)[1]
        return attachment, f"nfs://127.0.0.1{export}/{data['name']}", data.get("format", "raw")

    def write(self, volume_id: str, reference: Path) -> None:
        """The reference image's bytes onto the volume, from outside."""
        attachment, url, fmt = self.data_url(volume_id)
        try:
            result = run(["qemu-img", "convert", "-n", "-f", "raw", "-O", fmt, str(reference), url], timeout=600)
            assert result.returncode == 0, output(result)
        finally:
            self.detach(attachment["id"])

    def holds(self, volume_id: str, reference: Path) -> None:
        """The volume's data, read from outside, is the reference's byte for byte."""
        attachment, url, fmt = self.data_url(volume_id)
        try:
            result = run(["qemu-img", "compare", "-f", "raw", "-F", fmt, str(reference), url], timeout=900)
            assert result.returncode == 0, output(result)
        finally:
            self.detach(attachment["id"])


def reference_image(path: Path, size: int, chunks: list[tuple[int, int]]) -> Path:
    """A sparse raw file of `size` bytes with random data at each (offset, length)."""
    with path.open("wb") as fh:
        fh.truncate(size)
        for offset, length in chunks:
            fh.seek(offset)
            fh.write(os.urandom(length))
    return path


def nas_files(server, *ids: str) -> list[str]:
    return sorted(p.name for p in server.nas_dir.iterdir() if any(i in p.name for i in ids))


def zfs_volumes(server, *ids: str) -> list[str]:
    names = subprocess.run(["zfs", "list", "-H", "-o", "name", "-r", "-t", "all", server.pool_root],
                           capture_output=True, text=True, check=True).stdout.split()
    return sorted(n for n in names if any(i in n for i in ids))


def zfs_copies_collected(server, *ids: str, timeout: float = MIGRATION_TIMEOUT) -> None:
    """No dataset of `ids` is left on the ZFS pool: each one still there is already
    marked for the driver's collector (`shoal:deleted`, set locally: zfs-fuse kept
    it busy past the delete's retries), and goes by itself (the periodic check)."""
    def collected():
        for name in zfs_volumes(server, *ids):
            mark = subprocess.run(["zfs", "get", "-H", "-o", "value,source", "shoal:deleted", name],
                                  capture_output=True, text=True, check=False)
            if mark.returncode == 0:  # else destroyed meanwhile
                assert mark.stdout.split() == ["yes", "local"], f"{name} is left, not marked for collection"
        return not zfs_volumes(server, *ids)
    wait_until(collected, timeout=timeout, what=f"the ZFS copies of {', '.join(ids)} to be collected", poll=1.0)


def processes_where(match) -> list[int]:
    """Pids of this machine's processes whose argv `match(argv)` accepts."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if match(argv):
            found.append(int(entry.name))
    return found


def copy_processes(*ids: str) -> list[int]:
    """Pids of the `qemu-img convert` processes whose arguments name one of `ids`
    (a migration's copy names the source and target volumes' data; the drivers'
    own `qemu-img info` calls are not copies)."""
    return processes_where(lambda argv: Path(argv[0]).name == "qemu-img" and "convert" in argv
                           and any(i in arg for arg in argv for i in ids))


def hidden_volumes(client, source_id: str) -> list[dict]:
    listed = client.get("/volumes/detail", params={"all_tenants": "1"}).json()["volumes"]
    return [v for v in listed if v.get("migration_status") == f"target:{source_id}"]


__all__ = [
    "STEADY_TIMEOUT",
    "Migrations",
    "cinder",
    "copy_processes",
    "hidden_volumes",
    "migration_server",
    "migrations",
    "nas_files",
    "nfs_export",
    "processes_where",
    "reference_image",
    "zfs_copies_collected",
    "zfs_volumes",
]
