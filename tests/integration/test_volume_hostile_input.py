"""Malformed bodies to the volume API, as a fuzzer sends them: wrong JSON types, lone
surrogates and NUL in text, numbers past 2^63, lists where objects are due, on
create, update, metadata and the actions of volumes and snapshots. Each is a 400 with
Cinder's fault body and "Invalid input received: ..." naming the field, the
connection stays usable, and nothing changes: not the volumes and snapshots the
API shows (names, sizes, statuses, metadata, flags), not the datasets on ZFS."""

from __future__ import annotations

import json

import httpx
import pytest

from .volume_helpers import (
    volume_api,  # noqa: F401 - fixture
    zfs_names,
)

pytestmark = pytest.mark.integration

HUGE = 2**63
LONE = "\ud800"


class Stock:
    def __init__(self, api, volume_id: str, snapshot_id: str):
        self.api, self.ids = api, (volume_id, snapshot_id)
        self.before = self.state()

    def state(self):
        client = self.api.client
        volumes = client.get("/volumes/detail", params={"all_tenants": 1}).json()["volumes"]
        snaps = client.get("/snapshots/detail", params={"all_tenants": 1}).json()["snapshots"]
        return (sorted((v["id"], v["status"], v["size"], v["name"], v["description"], json.dumps(v["metadata"]),
                        v["bootable"], v["multiattach"], json.dumps(v["attachments"])) for v in volumes),
                sorted((s["id"], s["status"], s["name"], s["description"], json.dumps(s["metadata"]))
                       for s in snaps),
                zfs_names(self.api.server.pool_root))

    def same(self):
        assert self.state() == self.before


@pytest.fixture
def stock(volume_api):
    volume = volume_api.create_volume(1, name="fuzz-target", metadata={"k": "v"})
    snap = volume_api.create_snapshot(volume["id"], name="fuzz-snap")
    yield Stock(volume_api, volume["id"], snap["id"])
    volume_api.delete_snapshot(snap["id"])
    volume_api.delete_volume(volume["id"])


def probes(volume_id: str, snapshot_id: str) -> list[tuple[str, str, object, str]]:
    """(method, path, body, the field the message must name) of requests that must each be refused."""
    v, a = f"/volumes/{volume_id}", f"/volumes/{volume_id}/action"
    out = []
    for field, value in (("name", 123), ("name", f"a{LONE}"), ("name", "a\x00b"), ("name", "n" * 256),
                         ("description", {"d": 1}), ("volume_type", [1]), ("availability_zone", {"z": 1}),
                         ("snapshot_id", ["x"]), ("source_volid", 7), ("imageRef", ["i"]), ("group_id", {}),
                         ("size", HUGE), ("size", -1), ("size", 1.5), ("size", "1" * 40), ("size", [1]),
                         ("metadata", {"k": LONE}), ("metadata", {"k": 1}), ("metadata", ["k"]),
                         ("multiattach", "perhaps")):
        out.append(("POST", "/volumes", {"volume": {"size": 1, field: value}}, field))
    for field, value in (("name", 5), ("description", LONE), ("metadata", {"k": "a\x00"}), ("size", 2)):
        out.append(("PUT", v, {"volume": {field: value}}, field))
    for name, arg, field in (
            ("os-extend", {"new_size": HUGE}, "new_size"), ("os-extend", {"new_size": "abc"}, "new_size"),
            ("os-extend", {}, "new_size"), ("os-extend", "2", "os-extend"),
            ("os-reset_status", {"status": ["available"]}, "status"),
            ("os-retype", {"new_type": 5}, "new_type"), ("os-retype", {"new_type": "x", "migration_policy": []},
                                                         "migration_policy"),
            ("os-set_bootable", {"bootable": "perhaps"}, "bootable"), ("os-set_bootable", {}, "bootable"),
            ("os-update_readonly_flag", {"readonly": [True]}, "readonly"),
            ("os-initialize_connection", {"connector": "iqn.x"}, "connector"),
            ("os-initialize_connection", {}, "connector"),
            ("os-attach", {"instance_uuid": {"id": 1}, "mountpoint": "/dev/vdb"}, "instance_uuid"),
            ("os-attach", {"mountpoint": LONE}, "mountpoint"),
            ("os-detach", {"attachment_id": 5}, "attachment_id"),
            ("os-terminate_connection", {"connector": [1]}, "connector"),
            ("revert", {"snapshot_id": [snapshot_id]}, "snapshot_id")):
        out.append(("POST", a, {name: arg}, field))
    for field, value in (("volume_id", 7), ("name", 5), ("description", LONE), ("metadata", {LONE: "v"}),
                         ("force", "perhaps")):
        out.append(("POST", "/snapshots", {"snapshot": {"volume_id": volume_id, field: value}}, field))
    out.append(("PUT", f"/snapshots/{snapshot_id}", {"snapshot": {"name": ["x"]}}, "name"))
    out.append(("PUT", f"/snapshots/{snapshot_id}", {"snapshot": {"status": "error"}}, "status"))
    out.append(("POST", f"/snapshots/{snapshot_id}/action", {"os-reset_status": {"status": 5}}, "status"))
    out.append(("POST", f"/snapshots/{snapshot_id}/action",
                {"os-update_snapshot_status": {"status": "error", "progress": "9" * 17}}, "progress"))
    for path in (f"{v}/metadata", f"/snapshots/{snapshot_id}/metadata"):
        for body in ({"metadata": {"k": 5}}, {"metadata": ["k"]}, {"metadata": {"k": LONE}}, {"metadata": {"": "v"}},
                     {"metadata": "k=v"}, {"metadata": None}, {}):
            out.append(("POST", path, body, "metadata"))
            out.append(("PUT", path, body, "metadata"))
        out.append(("PUT", f"{path}/k", {"meta": {"k": "a\x00"}}, "metadata"))
        out.append(("PUT", f"{path}/k", {"meta": [1]}, "meta"))
    return out


def test_hostile_bodies_are_refused_by_name_and_change_nothing(volume_api, stock):
    client = volume_api.client
    problems = []
    for method, path, body, field in probes(*stock.ids):
        try:
            resp = client.request(method, path, content=json.dumps(body), headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:  # the server dropped the connection
            problems.append(f"{method} {path} {body!r}: {exc!r}")
            continue
        fault = resp.json().get("badRequest") if resp.status_code == 400 else None
        message = (fault or {}).get("message", "")
        if not (message.startswith("Invalid input received: ") and field in message):
            problems.append(f"{method} {path} {body!r}: {resp.status_code} {resp.text[:200]}")
    assert not problems, "\n".join(problems)
    stock.same()
