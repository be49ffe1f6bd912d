"""Checks from the host, through the lane's port forwards: libiscsi and
qemu-img for LIO LUNs, libnfs (NFSv4) for kernel NFS exports."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

TOOL_TIMEOUT = 120
MiB = 1024**2
GiB = 1024**3


def run(argv: list[str], timeout: float = TOOL_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def output(result: subprocess.CompletedProcess) -> str:
    return ((result.stdout or "") + (result.stderr or "")).strip()


def pattern(seed: str, size: int = MiB) -> bytes:
    """`size` recognisable bytes, different for every seed."""
    block = hashlib.sha512(seed.encode()).digest()
    out = bytearray()
    while len(out) < size:
        block = hashlib.sha512(block).digest()
        out += block
    return bytes(out[:size])


def initiator(tag: str) -> str:
    return f"iqn.1993-08.org.debian:01:lane-{tag}"


def new_id(root: str, kind: str) -> str:
    """An id that carries the test dataset's name (so its cleanup finds what it left)."""
    return f"{root.rsplit('/', 1)[-1]}-{kind}-{uuid.uuid4().hex[:6]}"


@dataclass
class Lun:
    """The LUN a connection_info points at, reached from the host at `portal`."""

    portal: str  # 127.0.0.1:<forward>
    iqn: str
    lun: int
    user: str
    password: str

    @classmethod
    def of(cls, info, reach) -> "Lun":
        """From a driver's ConnectionInfo; `reach` maps the guest portal to the host's."""
        assert info.driver_volume_type == "iscsi", info
        data = info.data
        assert data["auth_method"] == "CHAP", data
        return cls(reach(data["target_portal"]), data["target_iqn"], int(data["target_lun"]),
                   data["auth_username"], data["auth_password"])

    def url(self, secret: str | None = None, with_lun: bool = True) -> str:
        path = f"/{self.iqn}/{self.lun}" if with_lun else ""
        return f"iscsi://{self.user}%{secret or self.password}@{self.portal}{path}"

    def inq(self, initiator: str, secret: str | None = None) -> subprocess.CompletedProcess:
        return run(["iscsi-inq", "-i", initiator, self.url(secret)])

    def capacity(self, initiator: str) -> int:
        result = run(["iscsi-readcapacity16", "-s", "-i", initiator, self.url()])
        assert result.returncode == 0, f"{initiator} cannot read the capacity of {self.iqn}: {output(result)}"
        return int(result.stdout.strip())

    def qemu_spec(self, initiator: str, size: int | None = None, offset: int | None = None) -> str:
        spec: dict[str, Any] = {
            "driver": "raw",
            "file": {"driver": "iscsi", "transport": "tcp", "portal": self.portal, "target": self.iqn,
                     "lun": self.lun, "user": self.user, "password": self.password,
                     "initiator-name": initiator},
        }
        if size is not None:
            spec["size"] = size
        if offset is not None:
            spec["offset"] = offset
        return "json:" + json.dumps(spec)

    def write(self, initiator: str, data: bytes, offset: int | None = None) -> None:
        with tempfile.NamedTemporaryFile(prefix="lane-lun-") as src:
            src.write(data)
            src.flush()
            result = run(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src.name,
                          self.qemu_spec(initiator, size=len(data), offset=offset)])
        assert result.returncode == 0, f"write to {self.iqn} as {initiator} failed: {output(result)}"

    def read(self, initiator: str, size: int, offset: int | None = None) -> bytes:
        with tempfile.TemporaryDirectory(prefix="lane-lun-") as tmp:
            dst = os.path.join(tmp, "read.raw")
            result = run(["qemu-img", "convert", "-f", "raw", "-O", "raw",
                          self.qemu_spec(initiator, size=size, offset=offset), dst])
            assert result.returncode == 0, f"read of {self.iqn} as {initiator} failed: {output(result)}"
            with open(dst, "rb") as fh:
                return fh.read()


def assert_refused(lun: Lun, initiator: str, secret: str | None = None) -> str:
    result = lun.inq(initiator, secret)
    assert result.returncode != 0, f"{initiator} reached {lun.iqn} although it should not: {output(result)}"
    return output(result)


@dataclass
class Nfs:
    """The guest's kernel NFS server over NFSv4, through the forwarded 2049."""

    address: str
    port: int

    def url(self, path: str) -> str:
        return f"nfs://{self.address}{path}?version=4&nfsport={self.port}"

    def ls(self, path: str) -> subprocess.CompletedProcess:
        return run(["nfs-ls", self.url(path)])

    def cat(self, path: str) -> bytes:
        result = subprocess.run(["nfs-cat", self.url(path)], capture_output=True, timeout=TOOL_TIMEOUT)
        assert result.returncode == 0, f"nfs-cat {path} failed: {result.stderr.decode(errors='replace')}"
        return result.stdout

    def put(self, path: str, data: bytes) -> subprocess.CompletedProcess:
        """nfs-cp a file to `path`. Keep it under 1 KiB: Debian 12's libnfs 4.0.0
        fails NFSv4 writes of 4 KiB and more against the kernel server ("Failed
        to write to dest file", the file left empty), while reads of any size work."""
        with tempfile.NamedTemporaryFile(prefix="lane-nfs-") as src:
            src.write(data)
            src.flush()
            return run(["nfs-cp", src.name, self.url(path)])

    def names(self, path: str) -> list[str]:
        result = self.ls(path)
        assert result.returncode == 0, f"nfs-ls {path} failed: {output(result)}"
        return sorted(line.split()[-1] for line in result.stdout.splitlines() if line.strip()
                      and line.split()[-1] not in (".", ".."))


def export_path(location: str) -> str:
    """`10.0.2.15:/lane/k1/share-x` -> `/lane/k1/share-x`."""
    return location.split(":", 1)[1]


def wait_until(predicate, timeout: float = 30.0, what: str = "condition", poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


def delete_share(shares, share) -> float:
    """The driver's delete_share, once: on kernel ZFS + nfsd it must not answer
    'dataset is busy' after a client used the share (it did, for minutes, until
    the NFS helpers learnt to wait out the kernel's export cache: exportfs.release).
    Returns the seconds it took."""
    start = time.monotonic()
    shares.delete_share(share)
    return time.monotonic() - start
