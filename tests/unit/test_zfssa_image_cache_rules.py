"""The ZFSSA image caches' pure rules: which entry holds an image as it is now,
which entry a volume's origin names, the cache settings, and the qemu spec and
initiator image copies use. (The caches themselves are proven against the ZFSSA
emulator in tests/integration/test_zfssa_image_cache.py.)"""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from shoal.drivers.base import InvalidRequest
from shoal.drivers.registry import BackendConfig, with_driver
from shoal.drivers.volume import ImageRef
from shoal.drivers.zfssa import file_image_cache, lun_data, lun_image_cache
from shoal.drivers.zfssa.file_image_cache import FileImageCache
from shoal.drivers.zfssa.lun_image_cache import LunImageCache
from shoal.hosts import LocalHost

ACCESS = {"address": "10.0.0.5", "user": "admin", "password": "pw"}
ISCSI = {"driver": "zfssa_iscsi", "appliance": ACCESS, "pool": "pool-0", "project": "shoal",
         "target_portal": "10.0.1.5:3260"}
NFS = {"driver": "zfssa_nfs", "appliance": ACCESS, "pool": "pool-0", "data_ip": "10.0.1.5"}
IMAGE = ImageRef("0b1c2d3e-aaaa-bbbb-cccc-000000000001", "2026-12-06T10:00:00.123456", "abc123", 10**9)


def parse(table: dict):
    return TypeAdapter(BackendConfig).validate_python(with_driver(table))


def test_cache_settings_default_to_cinders_and_refuse_names_the_appliance_would():
    iscsi, nfs = parse(ISCSI), parse(NFS)
    assert iscsi.enable_local_cache and iscsi.cache_project == "os-cinder-cache"
    assert iscsi.copy_initiator is None and iscsi.copy_initiator_group == "shoal-image-copy"
    assert nfs.enable_local_cache and nfs.cache_directory == "os-cinder-cache"
    for table, key in ((ISCSI, "cache_project"), (ISCSI, "copy_initiator_group"), (NFS, "cache_directory")):
        with pytest.raises(ValidationError, match=key):
            parse({**table, key: "../etc"})


@pytest.mark.parametrize("module", [lun_image_cache, file_image_cache])
def test_an_entry_is_current_only_for_the_image_as_it_is_now(module):
    prefix = "custom:" if module is lun_image_cache else ""
    labels = {f"{prefix}image_id": IMAGE.id, f"{prefix}updated_at": IMAGE.updated_at,
              f"{prefix}image_checksum": IMAGE.checksum}
    assert module.holds(labels, IMAGE)
    assert not module.holds({**labels, f"{prefix}updated_at": "2026-12-06T10:00:01"}, IMAGE)  # metadata changed
    assert not module.holds({**labels, f"{prefix}image_checksum": "other"}, IMAGE)
    assert not module.holds({**labels, f"{prefix}image_id": "another"}, IMAGE)
    assert not module.holds({}, IMAGE)  # a fill cut short before its labels, or someone else's LUN
    no_checksum = ImageRef(IMAGE.id, IMAGE.updated_at, None, IMAGE.virtual_size)
    assert module.holds({k: v for k, v in labels.items() if "checksum" not in k}, no_checksum)


def test_which_cache_entry_an_origin_names():
    cache = LunImageCache(None, parse(ISCSI), None, None)
    image = IMAGE.id
    assert lun_image_cache.cache_lun(image) == f"os-cache-vol-{image}"
    origin = {"project": "os-cinder-cache", "share": f"os-cache-vol-{image}", "snapshot": f"image-{image}"}
    assert cache.image_of(origin) == image
    assert cache.image_of({**origin, "project": "shoal"}) is None  # a volume cloned in the volume project
    assert cache.image_of({**origin, "snapshot": "tmp-snapshot-x"}) is None
    assert cache.image_of({**origin, "share": f"deleted-ab12-os-cache-vol-{image}"}) is None  # lun_gc's
    assert cache.image_of(None) is None and cache.image_of({}) is None

    files = FileImageCache(parse(NFS), LocalHost(), None, None, None)
    assert files.path(image) == f"os-cinder-cache/volume-{image}"
    assert files.image_of(f"os-cinder-cache/volume-{image}") == image
    assert files.image_of(f"volume-{image}") is None and files.image_of(None) is None


def test_names_from_image_ids_only():
    with pytest.raises(InvalidRequest, match="cannot name"):
        lun_image_cache.cache_lun("../x")


def test_the_copys_qemu_spec_and_initiator(tmp_path, monkeypatch):
    spec = lun_data.qemu_spec("10.0.1.5:3260", "iqn.t", 3, "iqn.i", ("user", "secret"))
    assert spec.startswith("json:")
    assert json.loads(spec[5:]) == {"driver": "raw", "file": {
        "driver": "iscsi", "transport": "tcp", "portal": "10.0.1.5:3260", "target": "iqn.t", "lun": 3,
        "initiator-name": "iqn.i", "user": "user", "password": "secret"}}
    assert "password" not in lun_data.qemu_spec("p:1", "iqn.t", 1, "iqn.i", None)

    named = tmp_path / "initiatorname.iscsi"
    named.write_text("## made by open-iscsi\nInitiatorName=iqn.1993-08.org.debian:01:abc\n")
    monkeypatch.setattr(lun_data, "INITIATOR_FILE", named)
    assert lun_data.host_initiator() == "iqn.1993-08.org.debian:01:abc"
    monkeypatch.setattr(lun_data, "INITIATOR_FILE", tmp_path / "none")
    monkeypatch.setattr(lun_data.socket, "gethostname", lambda: "Compute_7.example")
    assert lun_data.host_initiator() == "iqn.2026-12.org.shoal:compute-7.example"
