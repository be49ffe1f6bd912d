"""From outside, as a compute host would: the share directory is exported by a
real nfs-ganesha (one of the test's own), and real NFS clients (qemu-img
through libnfs, nfs-cp) open the volume that the connection info names. Each
level of its qcow2 chain is reached over NFS by the relative name the level
above gives, and the chain fetched over NFS into another directory (where a
client's mount would show it) reads as the volume, not as a snapshot."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from shoal.drivers.volume import Connector, ExportSpec
from shoal.exports.nfs import NfsClientRule, NfsExport
from tests.fixtures.remotefs import active, directory, new_volume, reads, take_snapshot, write

pytestmark = pytest.mark.integration

CLIENT = Connector(ip="127.0.0.1", host="compute")


def qemu_img(*args: str) -> str:
    result = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def exported(ganesha_factory, remotefs):
    """A driver whose share directory ganesha exports to 127.0.0.1 (rw), and the server:
    one of the test's own, started last, so that rpcbind sends NFSv3 clients (qemu's
    nfs:// asks it, with no port) there rather than to a ganesha another test started."""
    ganesha = ganesha_factory()
    driver = remotefs()
    share = str(directory(driver))
    export = NfsExport(f"remotefs-{os.getpid()}-{id(driver)}", share, "", (NfsClientRule("rw", "127.0.0.1", "rw"),))
    assert ganesha.helper.apply(export) == {}
    yield driver, share, ganesha
    ganesha.helper.remove(export)


def test_a_client_opens_the_volume_and_its_chain_over_nfs(exported, tmp_path):
    driver, share, server = exported
    volume = new_volume(driver, 1, 0x91)
    first = take_snapshot(driver, volume)
    write(*active(driver, volume), 0x92, 1024**2, 4096)
    second = take_snapshot(driver, volume)
    write(*active(driver, volume), 0x93, 2 * 1024**2, 4096)

    data = driver.export(volume, ExportSpec(connectors=(CLIENT,))).data
    assert data["name"] == f"volume-{volume.id}.{second.id}" and data["format"] == "qcow2"

    # Follow the chain as a client that mounted the export would: each level is
    # opened over NFS by the name the level above gives, relative to the share.
    # (qemu's nfs:// driver takes no port parameters: it asks rpcbind, where the
    # test ganesha is registered. It also resolves a relative backing name
    # against the file's own path, not its directory -- qemu 7.2's block/nfs.c --
    # so `--backing-chain` cannot be used; a compute host mounts the share with
    # the kernel's client and opens plain paths, where relative names resolve.)
    levels, name, fmt = [], data["name"], data["format"]
    while name:
        info = json.loads(qemu_img("info", "--output=json", "-f", fmt, f"nfs://127.0.0.1{share}/{name}"))
        levels.append((name, info["format"]))
        name, fmt = info.get("backing-filename"), info.get("backing-filename-format")
        assert name is None or "/" not in name, f"backing name {name!r} would not resolve where the share is mounted"
    assert levels == [(data["name"], "qcow2"), (f"volume-{volume.id}.{first.id}", "qcow2"), (f"volume-{volume.id}", "raw")]

    # Fetch every level over NFS into a directory of the client's own (as its
    # mount would show them) and read the volume there: the chain resolves in a
    # place other than the share's directory, and holds the volume's data.
    mounted = tmp_path / "client-mount"
    mounted.mkdir()
    for name, _ in levels:
        fetched = subprocess.run(["nfs-cp", server.url(f"{share}/{name}"), str(mounted / name)],
                                 capture_output=True, text=True, timeout=120)
        assert fetched.returncode == 0, fetched.stderr
    copy = tmp_path / "as-seen-by-the-client.raw"
    qemu_img("convert", "-f", data["format"], "-O", "raw", str(mounted / data["name"]), str(copy))
    assert reads(copy, "raw", 0x91) and reads(copy, "raw", 0x92, 1024**2, 4096)
    assert reads(copy, "raw", 0x93, 2 * 1024**2, 4096) and reads(copy, "raw", 0, 3 * 1024**2, 4096)

    driver.unexport(volume)
    driver.delete_volume(volume)

