"""Attach: the connection info is Cinder's `nfs` shape (the share, the active
file, its format, the mount options); any connector may attach; an image that
grew past its volume's size (a guest wrote a qcow2 header into its raw volume,
or someone resized the file) is refused; and while attached, the chain is not
changed under the guest."""

from __future__ import annotations

import subprocess

import pytest

from shoal.drivers.base import InvalidRequest
from shoal.drivers.volume import Connector, ExportSpec
from tests.fixtures.remotefs import ADDRESS, directory, snapshot_ref, volume_ref

pytestmark = pytest.mark.integration

GiB = 1024**3
HOST = Connector(ip="192.0.2.10", host="compute-1")


def test_connection_info_names_the_share_and_the_active_file(remotefs):
    driver = remotefs(qcow2_volumes=False)
    volume = volume_ref(1)
    driver.create_volume(volume)
    driver.validate_connector(Connector())  # NFS clients mount the share themselves: nothing is required
    info = driver.export(volume, ExportSpec(connectors=(HOST,)))
    assert info.driver_volume_type == "nfs"
    assert info.data == {"export": ADDRESS, "name": f"volume-{volume.id}", "format": "raw", "options": None}

    with pytest.raises(InvalidRequest, match="attached"):
        driver.create_snapshot(snapshot_ref(volume))
    with pytest.raises(InvalidRequest, match="attached"):
        driver.extend_volume(volume, 2)
    driver.unexport(volume)
    snapshot = snapshot_ref(volume)
    driver.create_snapshot(snapshot)
    info = driver.export(volume, ExportSpec(connectors=(HOST,)))
    assert (info.data["name"], info.data["format"]) == (f"volume-{volume.id}.{snapshot.id}", "qcow2")
    driver.export(volume, ExportSpec())  # detached from every host: changes are allowed again
    driver.delete_snapshot(snapshot)
    driver.delete_volume(volume)


def test_mount_options_are_handed_to_the_client(remotefs):
    driver = remotefs(mount_options="vers=4.1")
    volume = volume_ref(1)
    driver.create_volume(volume)
    assert driver.export(volume, ExportSpec()).data["options"] == "vers=4.1"
    driver.delete_volume(volume)


@pytest.mark.parametrize("config", [{}, {"qcow2_volumes": True}], ids=["raw", "qcow2"])
def test_an_image_grown_past_its_volume_is_not_attached(remotefs, config):
    driver = remotefs(**config)
    volume = volume_ref(1)
    driver.create_volume(volume)
    path = directory(driver) / f"volume-{volume.id}"
    if driver.config.qcow2_volumes:
        subprocess.run(["qemu-img", "resize", "-f", "qcow2", str(path), str(GiB + 512)], check=True, timeout=60)
    else:
        with open(path, "r+b") as fh:
            fh.truncate(GiB + 512)
    with pytest.raises(InvalidRequest, match="more than the volume's 1 GiB"):
        driver.export(volume, ExportSpec(connectors=(HOST,)))
    driver.create_snapshot(snapshot_ref(volume))  # not attached: the refusal did not count as an attach
    driver.delete_volume(volume)
