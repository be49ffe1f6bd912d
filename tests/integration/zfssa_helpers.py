"""Shared by the ZFSSA driver tests: backend tables pointing at the appliance
the fixtures give (the emulator, or a real appliance named by ZFSSA_URL), and
reading and writing a volume from outside as a compute host would (qemu-img
over iscsi:// with the connection info; libnfs's nfs-cp for NFS files)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

GiB, MiB = 1024**3, 1024**2
INITIATOR_A = "iqn.2026-12.org.shoal.test:compute-a"
INITIATOR_B = "iqn.2026-12.org.shoal.test:compute-b"


def token() -> str:
    return secrets.token_hex(4)


def appliance_table(appliance) -> dict:
    return {"address": appliance.host, "rest_port": appliance.port, "user": appliance.user,
            "password": appliance.password, "ca_file": appliance.ca_file, "rest_timeout": 60, "busy_retries": 5}


def project_for(appliance, label: str) -> str:
    """The test's own project on the emulator; the configured one on a real appliance."""
    return appliance.project or f"shoal-{label}-{os.getpid()}-{token()}"


def iscsi_table(appliance, /, **extra) -> dict:
    """A `zfssa_iscsi` backend on the appliance: a project, target group and two
    initiator groups of its own (INITIATOR_A's and INITIATOR_B's), target CHAP."""
    suffix = token()
    return {
        "driver": "zfssa_iscsi", "appliance": appliance_table(appliance), "pool": appliance.pool,
        "project": project_for(appliance, "iscsi"), "target_portal": appliance.iscsi_portal,
        "target_group": f"shoal-tg-{suffix}", "target_user": "shoal-target", "target_password": "target-secret-16",
        "initiator_config": {f"shoal-ig-a-{suffix}": [{"iqn": INITIATOR_A}],
                             f"shoal-ig-b-{suffix}": [{"iqn": INITIATOR_B}]},
        **extra,
    }


def nfs_table(appliance, /, **extra) -> dict:
    """A `zfssa_nfs` backend on the appliance: a project and share of its own."""
    return {"driver": "zfssa_nfs", "appliance": appliance_table(appliance), "pool": appliance.pool,
            "project": project_for(appliance, "nfs"), "share": f"shoal-nfs-{token()}",
            "data_ip": appliance.nfs_server, "https_port": appliance.webdav_port, **extra}


def run(argv: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def pattern(path: Path, byte: int, size: int = MiB) -> Path:
    path.write_bytes(bytes([byte]) * size)
    return path


def iscsi_json(data: dict, initiator: str, size: int = MiB) -> str:
    """qemu's spec for the first `size` bytes of the LUN the connection info names, as `initiator`."""
    file = {"driver": "iscsi", "transport": "tcp", "portal": data["target_portal"], "target": data["target_iqn"],
            "lun": data["target_lun"], "initiator-name": initiator}
    if data.get("auth_method") == "CHAP":
        file.update(user=data["auth_username"], password=data["auth_password"])
    return "json:" + json.dumps({"driver": "raw", "size": size, "file": file})


def iscsi_write(data: dict, initiator: str, source: Path) -> None:
    done = run(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", str(source),
                iscsi_json(data, initiator, source.stat().st_size)])
    assert done.returncode == 0, done.stderr


def iscsi_read(data: dict, initiator: str, dest: Path, size: int = MiB) -> subprocess.CompletedProcess:
    return run(["qemu-img", "convert", "-f", "raw", "-O", "raw", iscsi_json(data, initiator, size), str(dest)])


def iscsi_size(data: dict, initiator: str) -> int:
    file = json.loads(iscsi_json(data, initiator)[5:])["file"]
    done = run(["qemu-img", "info", "--output=json", "json:" + json.dumps(file)])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["virtual-size"]


def nfs_json(server: str, path: str, size: int = MiB) -> str:
    """qemu's spec for the first `size` bytes of a file over NFS (qemu asks rpcbind
    for the ports: the emulator's ganesha, started last, is the one registered)."""
    return "json:" + json.dumps({"driver": "raw", "size": size,
                                 "file": {"driver": "nfs", "server": {"type": "inet", "host": server}, "path": path}})


def nfs_client(argv: list[str]) -> subprocess.CompletedProcess:
    """An NFS client command; a mount refused while the emulator's ganesha
    rereads its exports (it does after every read out of a share snapshot:
    the snapshot is mounted as a throw-away clone and exported) is asked again."""
    for _ in range(30):
        done = run(argv)
        if done.returncode == 0 or "MNT3ERR_ACCES" not in done.stderr:
            return done
        time.sleep(0.5)
    return done


def nfs_write(server: str, path: str, source: Path) -> None:
    done = nfs_client(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", str(source),
                       nfs_json(server, path, source.stat().st_size)])
    assert done.returncode == 0, done.stderr


def nfs_read(server: str, path: str, dest: Path, size: int = MiB) -> bytes:
    done = nfs_client(["qemu-img", "convert", "-f", "raw", "-O", "raw", nfs_json(server, path, size), str(dest)])
    assert done.returncode == 0, done.stderr
    return dest.read_bytes()


def dataset_mountpoint(dataset: str) -> Path:
    done = run(["zfs", "get", "-H", "-o", "value", "mountpoint", dataset])
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())
