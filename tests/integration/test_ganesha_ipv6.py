"""IPv6 access rules on a real nfs-ganesha, checked from an IPv6 client: on one
machine the client's address over the IPv6 loopback is ::1, so a rule for ::1
(or a network holding it) grants, and a rule for another IPv6 address refuses.
libnfs (`nfs-ls`, `nfs-cp` to `nfs://::1/...`) and qemu-img (its NFS driver on
host ::1, which finds the ports through rpcbind: hence a private instance,
started last) are the clients. Skipped where the machine has no IPv6 loopback."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from shoal.exports.nfs import NfsClientRule, NfsExport

pytestmark = pytest.mark.integration

_keys = itertools.count(1)
CLIENT_TIMEOUT = 60

if not shutil.which("nfs-ls") or not shutil.which("qemu-img"):
    pytest.skip("needs libnfs-utils and qemu-utils: apt-get install libnfs-utils qemu-utils", allow_module_level=True)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


if not _has_ipv6_loopback():
    pytest.skip("no IPv6 loopback (::1) on this machine (see `ip -6 addr`)", allow_module_level=True)


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)


@pytest.fixture
def server(ganesha_factory, tmp_path):
    """A private ganesha (the newest one, so rpcbind names its ports to qemu) and
    export(*rules) -> an applied export of a fresh directory, removed afterwards."""
    instance = ganesha_factory()
    made: list[NfsExport] = []

    def export(*rules: tuple[str, str]) -> NfsExport:
        directory = tmp_path / f"share{len(made)}"
        directory.mkdir()
        new = NfsExport(f"v6-{os.getpid()}-{next(_keys)}", str(directory), "",
                        tuple(NfsClientRule(f"r{i}", address, level) for i, (address, level) in enumerate(rules)))
        made.append(new)
        assert instance.helper.apply(new) == {}
        return new

    instance.export = export
    yield instance
    for done in made:
        instance.helper.remove(done)


def v6_url(server, path: str) -> str:
    """libnfs 4.0 takes an IPv6 server unbracketed (`nfs://[::1]/` is "Invalid address")."""
    return f"nfs://::1{path}?nfsport={server.nfs_port}&mountport={server.mount_port}"


def qemu_target(export_path: str, name: str) -> str:
    """qemu's NFS client on ::1 (its nfs:// URL keeps the brackets, which libnfs
    refuses; the JSON form names the host alone). It asks rpcbind for the ports."""
    return ('json:{"driver":"raw","file":{"driver":"nfs","server":{"type":"inet","host":"::1"},'
            f'"path":"{export_path}/{name}"}}}}')


def assert_refused(result: subprocess.CompletedProcess) -> None:
    assert result.returncode != 0, f"access granted although it should not be: {result.stdout}"
    assert "ACCES" in result.stderr.upper(), result.stderr


def test_a_rule_for_the_ipv6_loopback_lets_libnfs_and_qemu_in(server, tmp_path):
    granted = server.export(("::1", "rw"))
    local = tmp_path / "payload.txt"
    local.write_text("over IPv6\n")
    copied = run("nfs-cp", str(local), v6_url(server, f"{granted.path}/payload.txt"))
    assert copied.returncode == 0, copied.stderr
    assert (Path(granted.path) / "payload.txt").read_text() == "over IPv6\n"
    listing = run("nfs-ls", v6_url(server, granted.path))
    assert listing.returncode == 0 and "payload.txt" in listing.stdout, listing.stderr
    # qemu-img writes an image's bytes over NFS from ::1, and reads it back
    data = os.urandom(1 << 20)
    (tmp_path / "src.raw").write_bytes(data)
    (Path(granted.path) / "disk.raw").write_bytes(b"\0" * len(data))
    wrote = run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", str(tmp_path / "src.raw"),
                qemu_target(granted.path, "disk.raw"))
    assert wrote.returncode == 0, wrote.stderr
    assert (Path(granted.path) / "disk.raw").read_bytes() == data
    info = run("qemu-img", "info", "--output=json", qemu_target(granted.path, "disk.raw"))
    assert info.returncode == 0 and f'"virtual-size": {len(data)}' in info.stdout, info.stderr
    # the IPv6 rule does not grant the IPv4 loopback
    assert_refused(run("nfs-ls", f"nfs://127.0.0.1{granted.path}?nfsport={server.nfs_port}"
                                 f"&mountport={server.mount_port}"))


def test_a_rule_for_another_ipv6_address_keeps_the_client_out(server):
    other = server.export(("fd00::3", "rw"), ("fd00:1::/64", "rw"), ("127.0.0.1", "rw"))
    assert_refused(run("nfs-ls", v6_url(server, other.path)))
    (Path(other.path) / "disk.raw").write_bytes(b"\0" * 4096)
    refused = run("qemu-img", "info", qemu_target(other.path, "disk.raw"))
    assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused.stderr


@pytest.mark.parametrize("network", ["::/0", "::/126", "::/64"])
def test_ipv6_networks_holding_the_client_grant(server, network):
    """Each form ganesha 4.3 is written: the two halves of ::/0, the addresses of a
    three-digit prefix, a two-digit prefix as it is."""
    granted = server.export((network, "ro"))
    listing = run("nfs-ls", v6_url(server, granted.path))
    assert listing.returncode == 0, listing.stderr


def test_an_ipv6_network_without_the_client_refuses(server):
    other = server.export(("::100/120", "rw"), ("fd00::/8", "rw"))
    assert_refused(run("nfs-ls", v6_url(server, other.path)))
