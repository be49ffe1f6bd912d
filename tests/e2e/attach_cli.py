"""Attach a tour volume as a compute host would ask for it, with the unmodified
`cinder` client (attachments API, 3.44): `attachment-create --connect True`
with the host's connector hands back the connection info os-brick would get,
which the tour then opens from outside (qemu-img over iscsi:// or nfs://,
os-brick's StorPoolConnector); `attachment-delete` lets the volume go."""

from __future__ import annotations

import ast
import uuid
from contextlib import contextmanager

from tests.e2e.tour_fixtures import Tour, wait_status

ATTACH_VERSION = "3.44"


def cli_tables(text: str) -> list[dict[str, str]]:
    """The `Property | Value` tables `cinder` printed, one dict each, in order."""
    tables: list[dict[str, str]] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        key, _, value = (cell.strip() for cell in line.strip().strip("|").partition("|"))
        if (key, value) == ("Property", "Value"):
            tables.append({})
        elif tables:
            tables[-1][key] = value
    return tables


@contextmanager
def attached(tour: Tour, cloud: str, volume_id: str, connector: dict[str, str]):
    """An attachment of the volume for a made-up instance, with `connector`
    (initiator, ip, host); yields (driver_volume_type, data) of its
    connection info and deletes the attachment afterwards (the volume is
    available again)."""
    args = ["--os-volume-api-version", ATTACH_VERSION, "attachment-create", "--connect", "True"]
    for key in ("initiator", "ip", "host"):
        if connector.get(key):
            args += [f"--{key}", connector[key]]
    out = tour.cinder(cloud, *args, volume_id, str(uuid.uuid4())).stdout
    attachment, info = cli_tables(out)
    try:
        data = info["data"]
        yield info["driver_volume_type"], ast.literal_eval(data) if data.startswith("{") else data
    finally:
        tour.cinder(cloud, "--os-volume-api-version", ATTACH_VERSION, "attachment-delete", attachment["id"])
        wait_status(tour.sdk(cloud).block_storage.get_volume, volume_id, "available")


def from_snapshot_and_clone(tour: Tour, cloud: str, snapshot_id: str, source_id: str, volume_type: str,
                            prefix: str) -> tuple[str, str]:
    """`PREFIX-from-snap` (2 GiB, larger than its 1 GiB snapshot) and
    `PREFIX-clone` of the source, made in one `openstack` batch; their ids
    once both are available."""
    from_snap, clone = tour.osc_batch(
        cloud,
        ["volume", "create", "--snapshot", snapshot_id, "--size", "2", "--type", volume_type, f"{prefix}-from-snap",
         "-f", "json"],
        ["volume", "create", "--source", source_id, "--type", volume_type, f"{prefix}-clone", "-f", "json"])
    volumes = tour.sdk(cloud).block_storage
    assert wait_status(volumes.get_volume, from_snap["id"], "available").size == 2
    wait_status(volumes.get_volume, clone["id"], "available")
    return from_snap["id"], clone["id"]
