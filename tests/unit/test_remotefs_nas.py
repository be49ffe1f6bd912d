"""NAS shares: mount points and commands, capacity parsing, Cinder's choice of a
share for a new volume; and the small rules beside them (secure NAS options,
provisioning specs, what manage refuses)."""

from __future__ import annotations

import hashlib

import pytest

from shoal.drivers.base import InvalidRequest
from shoal.drivers.remotefs import manage, nas, secure, specs
from shoal.drivers.remotefs.config import NasShareConfig
from shoal.drivers.remotefs.nas import Space
from shoal.drivers.remotefs.qemu_img import ImageInfo

GiB = 1024**3


def test_an_address_only_share_is_mounted_where_cinder_mounts_it():
    shares = nas.shares_of([NasShareConfig(address="10.0.0.1:/export", mount_options="vers=4.1"),
                            NasShareConfig(address="10.0.0.2:/x", path="/srv/x/")], "/var/lib/shoal/mnt")
    mounted, plain = shares["10.0.0.1:/export"], shares["10.0.0.2:/x"]
    digest = hashlib.md5(b"10.0.0.1:/export").hexdigest()
    assert mounted.directory == f"/var/lib/shoal/mnt/{digest}" and mounted.mounted_by_us
    assert nas.mount(mounted) == ["mount", "-t", "nfs", "-o", "vers=4.1", "10.0.0.1:/export", mounted.directory]
    assert plain.directory == "/srv/x" and not plain.mounted_by_us
    assert nas.mount(plain) == ["mount", "-t", "nfs", "10.0.0.2:/x", "/srv/x"]


def test_capacity_commands_and_parsing():
    assert nas.capacity("/s") == ["stat", "-f", "-c", "%S %b %a", "/s"]
    assert nas.allocated("/s") == ["du", "-sb", "--apparent-size", "--exclude", "*snapshot*", "/s"]
    assert nas.parse_capacity("4096 1000 250\n") == (4096 * 1000, 4096 * 250)
    assert nas.parse_allocated("123456\t/s\n") == 123456


def space(total_gib: float, free_gib: float, allocated_gib: float) -> Space:
    return Space(int(total_gib * GiB), int(free_gib * GiB), int(allocated_gib * GiB))


def test_reserved_percentage_keeps_a_full_share_out():
    # 85% used: fine with 10% reserved, not with 20% reserved
    assert nas.eligible(space(100, 15, 10), GiB, 10, 1.0) is True
    assert nas.eligible(space(100, 15, 10), GiB, 20, 1.0) is False


def test_over_subscription_is_counted_on_what_volumes_claim():
    # 100 GiB share, ratio 2: 200 GiB may be claimed
    assert nas.eligible(space(100, 90, 190), 9 * GiB, 0, 2.0) is True
    assert nas.eligible(space(100, 90, 190), 10 * GiB, 0, 2.0) is False  # apparent free must be MORE than the request
    assert nas.eligible(space(100, 90, 200), 0, 0, 3.0) is True
    assert nas.eligible(space(100, 90, 300), 0, 0, 3.0) is False  # over-subscribed already
    assert nas.eligible(space(0, 0, 0), 1, 0, 20.0) is False


def test_the_share_with_least_allocated_wins():
    spaces = {"a:/1": space(100, 50, 40), "b:/2": space(100, 50, 30), "c:/3": space(100, 1, 5)}
    assert nas.choose(spaces, GiB, 10, 1.0) == "b:/2"  # c is least allocated but 99% used
    # Cinder counts claims, not free blocks: with no reserve, c (99% used) still takes 80 GiB ...
    assert nas.choose(spaces, 80 * GiB, 0, 1.0) == "c:/3"
    assert nas.choose(spaces, 95 * GiB, 0, 1.0) is None  # ... but not 95: 100 - 5 claimed is not more
    assert nas.choose({"a:/1": space(100, 50, 30), "b:/2": space(100, 50, 30)}, GiB, 0, 1.0) == "a:/1"


@pytest.mark.parametrize("setting, present, new, expected", [
    ("true", False, False, (True, False)),
    ("false", True, True, (False, False)),
    ("auto", True, False, (True, False)),
    ("auto", False, True, (True, True)),
    ("auto", False, False, (False, False)),
])
def test_secure_settings_resolve_as_cinder_does(setting, present, new, expected):
    assert secure.decide(setting, present, new) == expected


def test_secure_permissions_are_owner_and_group_only():
    assert (secure.file_mode(True), secure.file_mode(False)) == (0o660, 0o666)


def test_provisioning_type_overrides_the_backend_default():
    assert specs.thick({}, sparsed_by_default=True) is False
    assert specs.thick({}, sparsed_by_default=False) is True
    assert specs.thick({"provisioning:type": "Thick"}, sparsed_by_default=True) is True
    assert specs.thick({"provisioning:type": "thin"}, sparsed_by_default=False) is False
    with pytest.raises(InvalidRequest):
        specs.thick({"provisioning:type": "fat"}, True)


def test_manage_refuses_links_chains_data_files_and_other_formats():
    assert manage.unsafe_kind("1 regular file") is None
    assert manage.unsafe_kind("1 regular empty file") is None
    assert manage.unsafe_kind("1 symbolic link") == "it is a symbolic link, not a regular file"
    assert manage.unsafe_kind("3 regular file") == "it has 2 other hard link(s)"
    raw = ImageInfo("f", "raw", GiB)
    assert manage.unsafe_image(raw) is None
    assert manage.unsafe_image(ImageInfo("f", "qcow2", GiB, backing_file="base")) == "Backing file present."
    assert manage.unsafe_image(ImageInfo("f", "qcow2", GiB, data_file="/etc/shadow")) == "External data file present."
    assert manage.unsafe_image(ImageInfo("f", "vmdk", GiB)) == "Unsupported image format: 'vmdk'."
    assert manage.is_sidecar("volume-1.info") and manage.is_sidecar("volume-1.shoal-meta")
    assert not manage.is_sidecar("volume-1")


def test_volume_locks_are_forgotten_when_nobody_holds_them(tmp_path):
    import gc

    from shoal.drivers.remotefs.config import NasShareConfig, RemoteFsBackendConfig
    from shoal.drivers.remotefs.volumes import RemoteFsVolumeDriver
    from shoal.hosts import LocalHost

    config = RemoteFsBackendConfig(driver="remotefs", shares=[NasShareConfig(address="h:/e", path=str(tmp_path))])
    driver = RemoteFsVolumeDriver("nas", config, LocalHost(), str(tmp_path))
    with driver._locked("a", "b"):
        assert set(driver._locks) == {"a", "b"}
        with driver._locked("a"):  # re-entrant for the same thread (a clone locks its source again)
            pass
    gc.collect()
    assert len(driver._locks) == 0
