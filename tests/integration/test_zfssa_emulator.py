"""The ZFS Storage Appliance emulator (tests/emulators/zfssa) answers the
appliance's REST API and WebDAV as §3.1-3.3 record them, and its storage is
real: ZFS datasets, snapshots and clones, tgtd targets reached with libiscsi
and qemu, ganesha exports reached with libnfs. Every test here drives the
emulator over HTTPS, verifying its certificate."""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fixtures.zfs import destroy_dataset

pytestmark = pytest.mark.integration

MiB = 1024**2
GiB = 1024**3
HOST1 = "iqn.2024-01.org.shoal.test:host1"
HOST2 = "iqn.2024-01.org.shoal.test:host2"
STRANGER = "iqn.2024-01.org.shoal.test:stranger"
CHAP_USER, CHAP_SECRET = "zfssa-emu-user", "emulator-secret-1"
_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}-{next(_names)}"


class Client:
    """A bare REST client of the emulator: Basic login to a session, TLS verified with its CA."""

    def __init__(self, appliance):
        self.appliance = appliance
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify` below
        self.http.verify = appliance.ca_file
        self.base = appliance.url + "/api"
        self.session: str | None = None

    def login(self) -> requests.Response:
        r = self.http.post(self.base + "/access/v1", auth=(self.appliance.user, self.appliance.password), timeout=60)
        if r.status_code == 201:
            self.session = r.headers["X-Auth-Session"]
        return r

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        headers = {"X-Auth-Session": self.session} if self.session else {}
        return self.http.request(method, self.base + path, json=body, headers=headers, timeout=120)

    def ok(self, method: str, path: str, body: Any = None, status: int | None = None) -> Any:
        r = self.call(method, path, body)
        expected = status or {"GET": 200, "POST": 201, "PUT": 202, "DELETE": 204}[method]
        assert r.status_code == expected, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def pool(self) -> str:
        return f"/storage/v1/pools/{self.appliance.pool}"


def fault(r: requests.Response, status: int, message: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()["fault"]
    assert body["message"] == message and body["code"] == status and body["details"], body
    return body


@pytest.fixture
def api(zfssa_appliance) -> Client:
    client = Client(zfssa_appliance)
    assert client.login().status_code == 201
    return client


@pytest.fixture
def project(api) -> str:
    """A project of its own on the emulator; deleted afterwards."""
    name = unique("p")
    api.ok("POST", f"{api.pool()}/projects", {"name": name})
    yield name
    for kind in ("luns", "filesystems"):
        r = api.call("GET", f"{api.pool()}/projects/{name}/{kind}")
        for share in r.json().get(kind, []) if r.status_code == 200 else []:
            if share["nodestroy"]:
                api.call("PUT", f"{api.pool()}/projects/{name}/{kind}/{share['name']}", {"nodestroy": False})
    api.ok("DELETE", f"{api.pool()}/projects/{name}")


@pytest.fixture
def target(api) -> dict:
    """An iSCSI target with CHAP in a target group of its own, and an initiator group holding HOST1."""
    group, tgroup = unique("ig"), unique("tg")
    api.ok("POST", "/san/v1/iscsi/initiator-groups", {"name": group, "initiators": [HOST1]})
    made = api.ok("POST", "/san/v1/iscsi/targets", {"alias": tgroup, "auth": "chap",
                                                    "targetchapuser": CHAP_USER, "targetchapsecret": CHAP_SECRET})
    iqn = made["target"]["iqn"]
    api.ok("POST", "/san/v1/iscsi/target-groups", {"name": tgroup, "targets": [iqn]})
    yield {"iqn": iqn, "group": group, "tgroup": tgroup}
    api.call("DELETE", f"/san/v1/iscsi/target-groups/{tgroup}")
    api.call("DELETE", f"/san/v1/iscsi/targets/{iqn}")
    api.call("DELETE", f"/san/v1/iscsi/initiator-groups/{group}")


def iscsi_spec(appliance, iqn: str, lun: int, initiator: str, secret: str = CHAP_SECRET) -> str:
    import json

    return "json:" + json.dumps({"driver": "raw", "file": {
        "driver": "iscsi", "transport": "tcp", "portal": appliance.iscsi_portal, "target": iqn, "lun": lun,
        "user": CHAP_USER, "password": secret, "initiator-name": initiator}})


def qemu_io(spec: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-io", "-f", "raw", "-c", command, spec], capture_output=True, text=True, timeout=120,
                          check=False)


def lun_file(appliance, project: str, lun: str) -> Path:
    dataset = appliance.zfs_dataset(project, lun)
    mountpoint = subprocess.run(["zfs", "get", "-H", "-o", "value", "mountpoint", dataset],
                                capture_output=True, text=True, check=True).stdout.strip()
    return Path(mountpoint) / "volume.raw"


def zfs_get(dataset: str, prop: str) -> str:
    return subprocess.run(["zfs", "get", "-H", "-p", "-o", "value", prop, dataset],
                          capture_output=True, text=True, check=True).stdout.strip()


# -- session, headers, errors ---------------------------------------------------------------


def test_emulator_login_gives_a_session_that_expires(zfssa_appliance):
    client = Client(zfssa_appliance)
    r = client.login()
    assert r.status_code == 201 and r.headers["X-Auth-Session"], r.text
    assert r.headers["X-Zfssa-Version"] and r.headers["X-Zfssa-Access-Api"] == "1.0"
    assert {s["name"] for s in r.json()["access"]["services"]} >= {"storage", "san", "service"}
    version = client.ok("GET", "/system/v1/version")["version"]
    assert version["nodename"] and version["asn"]

    bad = Client(zfssa_appliance)
    bad.appliance = type(zfssa_appliance)(**{**zfssa_appliance.__dict__, "password": "wrong"})
    fault(bad.login(), 401, "ERR_UNAUTHORIZED")

    zfssa_appliance.expire_sessions()
    fault(client.call("GET", "/system/v1/version"), 401, "ERR_UNAUTHORIZED")
    assert client.login().status_code == 201
    assert client.call("GET", "/system/v1/version").status_code == 200
    assert client.call("DELETE", "/access/v1").status_code == 204
    fault(client.call("GET", "/system/v1/version"), 401, "ERR_UNAUTHORIZED")


def test_emulator_refuses_as_the_appliance_does(api, project):
    luns = f"{api.pool()}/projects/{project}/luns"
    fault(api.call("POST", f"{api.pool()}/projects/missing-{project}/luns", {"name": "v", "volsize": "1g"}),
          404, "ERR_NOT_FOUND")
    fault(api.call("GET", "/storage/v1/pools/no-such-pool"), 404, "ERR_NOT_FOUND")
    fault(api.call("POST", luns, {"name": "v"}), 400, "ERR_MISSING_ARG")
    fault(api.call("POST", luns, {"name": "v", "volsize": "1g", "colour": "red"}), 400, "ERR_UNKNOWN_ARG")
    fault(api.call("POST", luns, {"name": "v", "volsize": "1g", "custom:undefined": True}), 400, "ERR_UNKNOWN_ARG")
    fault(api.call("POST", luns, {"name": "v", "volsize": "1g", "targetgroup": "no-such-group"}),
          400, "ERR_INVALID_ARG")
    api.ok("POST", luns, {"name": "v", "volsize": "64m", "sparse": True})
    fault(api.call("POST", luns, {"name": "v", "volsize": "64m"}), 409, "ERR_OBJECT_EXISTS")
    fault(api.call("GET", f"{luns}/nothing"), 404, "ERR_NOT_FOUND")
    fault(api.call("GET", f"{luns}/v/snapshots/nothing"), 404, "ERR_NOT_FOUND")
    api.ok("PUT", f"{luns}/v", {"nodestroy": True})
    fault(api.call("DELETE", f"{luns}/v"), 403, "ERR_DENIED")
    api.ok("PUT", f"{luns}/v", {"nodestroy": False})
    api.ok("DELETE", f"{luns}/v")
    fault(api.call("GET", f"{luns}/v"), 404, "ERR_NOT_FOUND")


def test_emulator_busy_bursts_and_injected_failures_change_nothing(zfssa_appliance, api, project):
    luns = f"{api.pool()}/projects/{project}/luns"
    zfssa_appliance.busy(2)
    fault(api.call("GET", luns), 503, "ERR_BUSY")
    fault(api.call("GET", luns), 503, "ERR_BUSY")
    assert api.call("GET", luns).status_code == 200

    zfssa_appliance.fail_next("POST", r"/luns$", 500)
    fault(api.call("POST", luns, {"name": "v", "volsize": "64m", "sparse": True}), 500, "ERR_INTERNAL")
    fault(api.call("GET", f"{luns}/v"), 404, "ERR_NOT_FOUND")
    api.ok("POST", luns, {"name": "v", "volsize": "64m", "sparse": True})


def test_emulator_lun_is_a_real_file_and_custom_properties_are_zfs_properties(zfssa_appliance, api, project):
    luns = f"{api.pool()}/projects/{project}/luns"
    if api.call("GET", "/storage/v1/schema/cinder_managed").status_code == 404:
        api.ok("POST", "/storage/v1/schema", {"property": "cinder_managed", "description": "Managed by Cinder",
                                              "type": "Boolean"})
    fault(api.call("POST", "/storage/v1/schema", {"property": "cinder_managed", "type": "Boolean"}),
          409, "ERR_OBJECT_EXISTS")
    lun = api.ok("POST", luns, {"name": "volume-1", "volsize": "1g", "volblocksize": "8k", "sparse": False,
                                "initiatorgroup": "com.sun.ms.vss.hg.maskAll", "targetgroup": "default",
                                "compression": "gzip", "logbias": "throughput",
                                "custom:cinder_managed": True})["lun"]
    assert lun["volsize"] == GiB and lun["volblocksize"] == 8192 and lun["sparse"] is False
    assert lun["initiatorgroup"] == ["com.sun.ms.vss.hg.maskAll"] and lun["custom:cinder_managed"] is True
    dataset = zfssa_appliance.zfs_dataset(project, "volume-1")
    assert lun_file(zfssa_appliance, project, "volume-1").stat().st_size == GiB
    assert zfs_get(dataset, "custom:cinder_managed") == "true"
    assert zfs_get(dataset, "compression") == "gzip" and zfs_get(dataset, "logbias") == "throughput"
    assert int(zfs_get(dataset, "refreservation")) == GiB  # thick: the pool holds the space

    api.ok("PUT", f"{luns}/volume-1", {"volsize": 2 * GiB, "custom:cinder_managed": False})
    again = api.ok("GET", f"{luns}/volume-1")["lun"]
    assert again["volsize"] == 2 * GiB and again["custom:cinder_managed"] is False
    assert lun_file(zfssa_appliance, project, "volume-1").stat().st_size == 2 * GiB

    api.ok("PUT", f"{luns}/volume-1", {"name": "unmanaged-volume-1"})
    assert api.ok("GET", f"{luns}/unmanaged-volume-1")["lun"]["lunguid"] == lun["lunguid"]
    fault(api.call("GET", f"{luns}/volume-1"), 404, "ERR_NOT_FOUND")

    # A LUN removed behind the appliance's back is gone from the API as well.
    destroy_dataset(zfssa_appliance.zfs_dataset(project, "unmanaged-volume-1"))
    fault(api.call("GET", f"{luns}/unmanaged-volume-1"), 404, "ERR_NOT_FOUND")


def test_emulator_lun_reaches_its_initiator_group_over_iscsi_with_chap(zfssa_appliance, api, project, target):
    luns = f"{api.pool()}/projects/{project}/luns"
    api.ok("POST", luns, {"name": "vol", "volsize": "64m", "sparse": True, "targetgroup": target["tgroup"],
                          "initiatorgroup": "com.sun.ms.vss.hg.maskAll"})
    spec = iscsi_spec(zfssa_appliance, target["iqn"], 1, HOST1)
    assert qemu_io(spec, "read 0 512").returncode != 0  # masked: nobody sees it yet

    lun = api.ok("PUT", f"{luns}/vol", {"initiatorgroup": [target["group"]]})["lun"]
    assert lun["initiatorgroup"] == [target["group"]] and len(lun["assignednumber"]) == 1
    number = lun["assignednumber"][0]
    spec = iscsi_spec(zfssa_appliance, target["iqn"], number, HOST1)
    wrote = qemu_io(spec, "write -P 0x5a 1M 1M")
    assert wrote.returncode == 0, wrote.stderr
    data = lun_file(zfssa_appliance, project, "vol").read_bytes()
    assert data[MiB:2 * MiB] == b"\x5a" * MiB and data[:MiB] == b"\0" * MiB

    refused = qemu_io(iscsi_spec(zfssa_appliance, target["iqn"], number, STRANGER), "read 0 512")
    assert "Target not found" in refused.stderr + refused.stdout
    wrong = qemu_io(iscsi_spec(zfssa_appliance, target["iqn"], number, HOST1, secret="not-the-secret"), "read 0 512")
    assert wrong.returncode != 0 and "uthentication" in wrong.stderr + wrong.stdout

    api.ok("PUT", f"{luns}/vol", {"volsize": "128m"})
    url = f"iscsi://{CHAP_USER}%{CHAP_SECRET}@{zfssa_appliance.iscsi_portal}/{target['iqn']}/{number}"
    capacity = subprocess.run(["iscsi-readcapacity16", "-s", "-i", HOST1, url],
                              capture_output=True, text=True, timeout=60, check=False)
    assert capacity.returncode == 0 and int(capacity.stdout.strip()) == 128 * MiB, capacity.stderr

    api.ok("PUT", f"{luns}/vol", {"initiatorgroup": "com.sun.ms.vss.hg.maskAll"})
    assert qemu_io(spec, "read 0 512").returncode != 0

    # Presented again, then removed behind the API's back: gone from the API and from tgtd.
    api.ok("PUT", f"{luns}/vol", {"initiatorgroup": target["group"]})
    assert qemu_io(spec, "read 0 512").returncode == 0
    zfssa_appliance.destroy_behind_back(project, "vol")
    fault(api.call("GET", f"{luns}/vol"), 404, "ERR_NOT_FOUND")
    assert qemu_io(spec, "read 0 512").returncode != 0


def test_emulator_snapshot_clone_carries_the_data(zfssa_appliance, api, project, target):
    luns = f"{api.pool()}/projects/{project}/luns"
    lun = api.ok("POST", luns, {"name": "src", "volsize": "64m", "sparse": True, "targetgroup": target["tgroup"],
                                "initiatorgroup": target["group"]})["lun"]
    spec = iscsi_spec(zfssa_appliance, target["iqn"], lun["assignednumber"][0], HOST1)
    assert qemu_io(spec, "write -P 0x11 0 1M").returncode == 0
    api.ok("POST", f"{luns}/src/snapshots", {"name": "tmp-snapshot-1"})
    fault(api.call("POST", f"{luns}/src/snapshots", {"name": "tmp-snapshot-1"}), 409, "ERR_OBJECT_EXISTS")
    assert qemu_io(spec, "write -P 0x22 0 1M").returncode == 0  # after the snapshot: not in the clone

    clone = api.ok("PUT", f"{luns}/src/snapshots/tmp-snapshot-1/clone",
                   {"project": project, "share": "copy", "nodestroy": True, "compression": "off"}, status=201)["lun"]
    assert clone["origin"] == {"pool": zfssa_appliance.pool, "project": project, "share": "src",
                               "snapshot": "tmp-snapshot-1"}
    assert api.ok("GET", f"{luns}/src/snapshots/tmp-snapshot-1")["snapshot"]["numclones"] == 1
    fault(api.call("PUT", f"{luns}/src/snapshots/tmp-snapshot-1/clone", {"project": f"no-{project}", "share": "x"}),
          404, "ERR_NOT_FOUND")
    assert zfs_get(zfssa_appliance.zfs_dataset(project, "copy"), "origin").endswith("/src@tmp-snapshot-1")

    copy = api.ok("PUT", f"{luns}/copy", {"initiatorgroup": target["group"]})["lun"]
    copy_spec = iscsi_spec(zfssa_appliance, target["iqn"], copy["assignednumber"][0], HOST1)
    read = qemu_io(copy_spec, "read -P 0x11 0 1M")
    assert read.returncode == 0 and "Pattern verification failed" not in read.stdout, read.stdout + read.stderr

    fault(api.call("DELETE", f"{luns}/src/snapshots/tmp-snapshot-1"), 403, "ERR_DENIED")  # clone has nodestroy
    api.ok("PUT", f"{luns}/copy", {"nodestroy": False})
    api.ok("DELETE", f"{luns}/src/snapshots/tmp-snapshot-1")  # takes the clone with it
    fault(api.call("GET", f"{luns}/copy"), 404, "ERR_NOT_FOUND")
    assert qemu_io(copy_spec, "read 0 512").returncode != 0


# -- filesystems: NFS and WebDAV --------------------------------------------------------------


class Dav:
    """A bare WebDAV client of the emulator's http service (Basic auth, TLS verified)."""

    def __init__(self, appliance, mountpoint: str):
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = appliance.ca_file
        self.http.auth = (appliance.user, appliance.password)
        self.root = f"https://{appliance.host}:{appliance.webdav_port}/shares{mountpoint}"

    def __call__(self, method: str, rel: str, data: bytes | None = None, **headers: str) -> requests.Response:
        return self.http.request(method, f"{self.root}/{rel}", data=data, headers=headers, timeout=120)


def nfs(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, check=False)


def test_emulator_filesystem_is_a_dataset_exported_by_ganesha(zfssa_appliance, api, project, tmp_path):
    shares = f"{api.pool()}/projects/{project}/filesystems"
    fs = api.ok("POST", shares, {"name": "nfs_share", "sharenfs": "rw", "sharedav": "rw",
                                 "root_permissions": "777", "compression": "lzjb"})["filesystem"]
    mountpoint = fs["mountpoint"]
    assert fs["sharenfs"] == "rw" and fs["root_permissions"] == "777" and fs["space_available"] > 0
    assert Path(mountpoint).is_dir() and oct(Path(mountpoint).stat().st_mode & 0o777) == "0o777"
    assert zfs_get(zfssa_appliance.zfs_dataset(project, "nfs_share"), "mountpoint") == mountpoint
    fault(api.call("POST", shares, {"name": "nfs_share"}), 409, "ERR_OBJECT_EXISTS")
    fault(api.call("POST", shares, {"name": "x", "sharenfs": "everyone please"}), 400, "ERR_INVALID_ARG")

    local = tmp_path / "payload"
    local.write_bytes(b"written over NFS\n" * 1000)
    copied = nfs("nfs-cp", str(local), zfssa_appliance.nfs_url(f"{mountpoint}/volume-1"))
    assert copied.returncode == 0, copied.stderr
    assert (Path(mountpoint) / "volume-1").read_bytes() == local.read_bytes()

    api.ok("PUT", f"{shares}/nfs_share", {"sharenfs": "ro"})
    refused = nfs("nfs-cp", str(local), zfssa_appliance.nfs_url(f"{mountpoint}/volume-2"))
    assert refused.returncode != 0 and not (Path(mountpoint) / "volume-2").exists()
    listed = nfs("nfs-ls", zfssa_appliance.nfs_url(mountpoint))
    assert listed.returncode == 0 and "volume-1" in listed.stdout, listed.stderr

    api.ok("PUT", f"{shares}/nfs_share", {"sharenfs": "rw=@127.0.0.2/32"})  # another client only
    denied = nfs("nfs-ls", zfssa_appliance.nfs_url(mountpoint))
    assert denied.returncode != 0

    api.ok("PUT", "/service/v1/services/nfs/disable")
    assert api.ok("GET", "/service/v1/services/nfs")["service"]["<status>"] == "disabled"
    api.ok("PUT", f"{shares}/nfs_share", {"sharenfs": "rw"})
    assert nfs("nfs-ls", zfssa_appliance.nfs_url(mountpoint)).returncode != 0  # service off: no exports
    api.ok("PUT", "/service/v1/services/nfs/enable")
    assert nfs("nfs-ls", zfssa_appliance.nfs_url(mountpoint)).returncode == 0


def test_emulator_webdav_serves_share_files_and_snapshots(zfssa_appliance, api, project):
    shares = f"{api.pool()}/projects/{project}/filesystems"
    fs = api.ok("POST", shares, {"name": "dav", "sharenfs": "rw", "sharedav": "rw"})["filesystem"]
    http = api.ok("GET", "/service/v1/services/http")["service"]
    assert http["<status>"] == "online" and http["https_port"] == zfssa_appliance.webdav_port
    dav = Dav(zfssa_appliance, fs["mountpoint"])
    root = Path(fs["mountpoint"])

    assert dav("PUT", "volume-1", b"A" * 4096).status_code == 201
    assert (root / "volume-1").read_bytes() == b"A" * 4096
    assert dav("GET", "volume-1").content == b"A" * 4096
    assert dav("MKCOL", "os-cinder-cache").status_code == 201
    assert dav("MKCOL", "os-cinder-cache").status_code == 405
    assert dav("GET", "os-cinder-cache").status_code == 200 and (root / "os-cinder-cache").is_dir()
    assert dav("GET", "missing-dir").status_code == 404
    assert dav("PUT", "no/such/parent", b"x").status_code == 409

    patch = (b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
             b"<D:cinder_managed>True</D:cinder_managed><D:numclones>0</D:numclones>"
             b"</D:prop></D:set></D:propertyupdate>")
    patched = dav("PROPPATCH", "volume-1", patch, Translate="F")
    assert patched.status_code == 207, patched.text
    found = dav("PROPFIND", "volume-1", Depth="0")
    assert found.status_code == 207 and "<D:cinder_managed>True</D:cinder_managed>" in found.text.replace("ns0:", "D:")
    assert dav("PROPFIND", "nothing-here", Depth="0").status_code == 404

    # A snapshot's file copied out over WebDAV, as the NFS driver's create_snapshot does.
    api.ok("POST", f"{shares}/dav/snapshots", {"name": "cinder-zfssa-nfs-snapshot-1"})
    (root / "volume-1").write_bytes(b"B" * 4096)  # changed after the snapshot
    copied = dav("COPY", ".zfs/snapshot/cinder-zfssa-nfs-snapshot-1/volume-1",
                 Destination=f"{dav.root}/snapshot-1")
    assert copied.status_code == 201, copied.text
    assert (root / "snapshot-1").read_bytes() == b"A" * 4096
    assert dav("COPY", "volume-1", Destination=f"{dav.root}/snapshot-1", Overwrite="F").status_code == 412

    moved = dav("MOVE", "volume-1", Destination=f"{dav.root}/os-cinder-cache/volume-img")
    assert moved.status_code == 201 and not (root / "volume-1").exists()
    assert "cinder_managed" in dav("PROPFIND", "os-cinder-cache/volume-img", Depth="0").text
    assert dav("DELETE", "snapshot-1").status_code == 204 and not (root / "snapshot-1").exists()
    assert dav("DELETE", "snapshot-1").status_code == 404
    api.ok("DELETE", f"{shares}/dav/snapshots/cinder-zfssa-nfs-snapshot-1")

    anonymous = requests.get(f"{dav.root}/os-cinder-cache/volume-img", verify=zfssa_appliance.ca_file, timeout=60)
    assert anonymous.status_code == 401
    api.ok("PUT", f"{shares}/dav", {"sharedav": "off"})
    assert dav("GET", "os-cinder-cache/volume-img").status_code == 403
    api.ok("PUT", f"{shares}/dav", {"sharedav": "rw"})

    zfssa_appliance.fail_next("PROPFIND", r"/volume-img$", 500)
    assert dav("PROPFIND", "os-cinder-cache/volume-img", Depth="0").status_code == 500
    assert dav("PROPFIND", "os-cinder-cache/volume-img", Depth="0").status_code == 207

    api.ok("PUT", "/service/v1/services/http/disable")
    with pytest.raises(requests.ConnectionError):
        dav("GET", "os-cinder-cache/volume-img")
    api.ok("PUT", "/service/v1/services/http/enable")
    assert dav("GET", "os-cinder-cache/volume-img").content == b"B" * 4096


# -- replication between two emulators (the migration flow of §3.8) ----------------------------


def wait_for_update(api: Client, action_id: str) -> dict:
    """Poll the action until the update is no longer in flight, as the driver does."""
    import time

    deadline = time.monotonic() + 600
    while True:
        action = api.ok("GET", f"/storage/v1/replication/actions/{action_id}")["action"]
        if action["state"] != "sending":
            return action
        assert action["last_result"] == "<unknown>"
        assert time.monotonic() < deadline, "the replication update never finished"
        time.sleep(0.2)


def test_emulator_replicates_a_lun_to_a_second_emulator(zfssa_appliance_factory, api, project, target):
    source_app, dest_app = zfssa_appliance_factory("zfssa1"), zfssa_appliance_factory("zfssa2")
    dest = Client(dest_app)
    assert dest.login().status_code == 201
    luns = f"{api.pool()}/projects/{project}/luns"
    lun = api.ok("POST", luns, {"name": "volume-m", "volsize": "64m", "sparse": True, "targetgroup": target["tgroup"],
                                "initiatorgroup": target["group"]})["lun"]
    spec = iscsi_spec(source_app, target["iqn"], lun["assignednumber"][0], HOST1)
    assert qemu_io(spec, "write -P 0x33 0 1M").returncode == 0

    label = unique("peer")
    fault(api.call("POST", "/storage/v1/replication/targets",
                   {"hostname": dest_app.replication_ip, "root_password": "wrong", "label": label}), 401, "ERR_UNAUTHORIZED")
    peer = api.ok("POST", "/storage/v1/replication/targets",
                  {"hostname": dest_app.replication_ip, "root_password": dest_app.password, "label": label})["target"]
    dest_asn = dest.ok("GET", "/system/v1/version")["version"]["asn"]
    assert peer["asn"] == dest_asn and peer["address"] == f"{dest_app.replication_ip}:216"
    assert api.ok("GET", "/service/v1/services/replication")["service"]["<status>"] == "online"

    body = {"pool": source_app.pool, "project": project, "target_pool": dest_app.pool, "target": label,
            "share": "volume-m"}
    fault(api.call("POST", "/storage/v1/replication/actions", body), 400, "ERR_INVALID_ARG")  # still inherited
    api.ok("PUT", f"{api.pool()}/projects/{project}/filesystems/volume-m/replication", {"inherited": False})
    action = api.ok("POST", "/storage/v1/replication/actions", body)["action"]
    api.ok("PUT", f"/storage/v1/replication/actions/{action['id']}/sendupdate")
    assert wait_for_update(api, action["id"])["last_result"] == "success"

    assert qemu_io(spec, "write -P 0x44 1M 1M").returncode == 0  # an incremental update carries this
    api.ok("PUT", f"/storage/v1/replication/actions/{action['id']}/sendupdate")
    assert wait_for_update(api, action["id"])["last_result"] == "success"

    # cancelupdate: refused with no update running; a running one (held by the hook) ends `canceled`
    cancel = f"/storage/v1/replication/actions/{action['id']}/cancelupdate"
    fault(api.call("PUT", cancel), 409, "EAK_NAS_REPL_BADSTATE")
    source_app.emulator.hold_updates()
    try:
        api.ok("PUT", f"/storage/v1/replication/actions/{action['id']}/sendupdate")
        assert api.ok("GET", f"/storage/v1/replication/actions/{action['id']}")["action"]["state"] == "sending"
        api.ok("PUT", cancel)
    finally:
        source_app.emulator.release_updates()
    assert wait_for_update(api, action["id"])["last_result"] == "canceled"

    dest.ok("PUT", "/service/v1/services/replication/disable")
    api.ok("PUT", f"/storage/v1/replication/actions/{action['id']}/sendupdate")
    assert wait_for_update(api, action["id"])["last_result"] == "failed"
    dest.ok("PUT", "/service/v1/services/replication/enable")
    api.ok("DELETE", f"/storage/v1/replication/actions/{action['id']}")

    sources = dest.ok("GET", "/storage/v1/replication/sources")["sources"]
    source = next(s for s in sources if s["asn"] == api.ok("GET", "/system/v1/version")["version"]["asn"])
    assert action["id"] in [p["id"] for p in source["packages"]]
    dest.ok("PUT", f"/storage/v1/replication/sources/{source['name']}/packages/{action['id']}/sever",
            {"projname": action["id"]})
    dest_project = unique("migrated")
    dest.ok("POST", f"{dest.pool()}/projects", {"name": dest_project})
    dest.ok("PUT", f"{dest.pool()}/projects/{action['id']}/filesystems/volume-m", {"project": dest_project})
    dest.ok("DELETE", f"{dest.pool()}/projects/{action['id']}")

    # The migrated LUN, presented by the second emulator, holds both writes.
    group, tgroup = unique("ig"), unique("tg")
    dest.ok("POST", "/san/v1/iscsi/initiator-groups", {"name": group, "initiators": [HOST2]})
    iqn = dest.ok("POST", "/san/v1/iscsi/targets", {"alias": tgroup, "auth": "chap", "targetchapuser": CHAP_USER,
                                                    "targetchapsecret": CHAP_SECRET})["target"]["iqn"]
    dest.ok("POST", "/san/v1/iscsi/target-groups", {"name": tgroup, "targets": [iqn]})
    moved = dest.ok("PUT", f"{dest.pool()}/projects/{dest_project}/luns/volume-m",
                    {"targetgroup": tgroup, "initiatorgroup": group})["lun"]
    assert moved["volsize"] == 64 * MiB
    dest_spec = iscsi_spec(dest_app, iqn, moved["assignednumber"][0], HOST2)
    for pattern, offset in (("0x33", "0"), ("0x44", "1M")):
        read = qemu_io(dest_spec, f"read -P {pattern} {offset} 1M")
        assert read.returncode == 0 and "Pattern verification failed" not in read.stdout, read.stdout + read.stderr

    dest.ok("PUT", f"{dest.pool()}/projects/{dest_project}/luns/volume-m", {"initiatorgroup": []})
    dest.ok("DELETE", f"{dest.pool()}/projects/{dest_project}")
    for path in (f"target-groups/{tgroup}", f"targets/{iqn}", f"initiator-groups/{group}"):
        dest.ok("DELETE", f"/san/v1/iscsi/{path}")
    api.ok("DELETE", f"/storage/v1/replication/targets/{peer['id']}")
