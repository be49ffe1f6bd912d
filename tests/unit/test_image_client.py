"""The image-service seam (services.image_client): which backend a config chooses, and
how an external Glance's answers become Shoal's own (the parts that need no Glance;
tests/integration/test_volume_images_glance.py runs the rest against a real one)."""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest
import requests
from keystoneauth1 import exceptions as ks
from openstack import exceptions as sdk

from shoal.config import ImageConfig, Settings
from shoal.services.common import errors
from shoal.services.image_client import ImageInfo, choose_backend
from shoal.services.image_client.glance import GlanceImages, info_of
from shoal.services.volume.images import room_for

KEYSTONE = {"api": {"auth": "keystone"}, "keystone": {"auth_url": "http://keystone.invalid:5000/v3",
                                                      "password": "x"}}


def test_the_backend_a_config_chooses():
    assert Settings().image.backend == "auto"
    assert choose_backend(Settings(), None) == "builtin"  # Shoal's own Identity: no Glance to find
    assert choose_backend(Settings.model_validate({"image": {"enabled": False}}), None) is None
    assert choose_backend(Settings.model_validate({**KEYSTONE, "image": {"backend": "builtin"}}), None) == "builtin"
    assert choose_backend(Settings.model_validate({**KEYSTONE, "image": {"backend": "glance"}}), None) == "glance"


def test_glance_needs_keystone_auth():
    with pytest.raises(ValueError, match="needs api.auth = 'keystone'"):
        Settings.model_validate({"image": {"backend": "glance"}})


class Unreachable:
    class session:  # noqa: N801 - what KeystoneTokens offers: its service session
        @staticmethod
        def get_endpoint(**_):
            raise ks.ConnectFailure("refused")


def test_auto_with_a_keystone_that_does_not_answer_stops_the_start():
    with pytest.raises(RuntimeError, match='set \\[image\\] backend to "glance" or "builtin"'):
        choose_backend(Settings.model_validate(KEYSTONE), Unreachable(), ask_for=0)


def test_auto_asks_the_catalog():
    class Catalog:
        def __init__(self, found):
            self.found = found
            self.session = self

        def get_endpoint(self, service_type, interface, region_name):
            assert (service_type, interface, region_name) == ("image", "public", None)
            if not self.found:
                raise ks.EndpointNotFound()
            return "http://glance:9292"

    settings = Settings.model_validate(KEYSTONE)
    assert choose_backend(settings, Catalog(True)) == "glance"
    assert choose_backend(settings, Catalog(False)) == "builtin"


def test_a_glance_record_becomes_an_image_info():
    info = info_of({"id": "i1", "name": "deb", "status": "active", "disk_format": "qcow2", "container_format": "bare",
                    "size": 5, "virtual_size": 1 << 30, "min_disk": 2, "min_ram": None, "checksum": "c",
                    "updated_at": "2026-12-07T00:29:25Z", "os_distro": "debian", "hw_disk_bus": "scsi",
                    "owner": "p", "visibility": "private", "tags": [], "self": "/v2/images/i1", "stores": "local",
                    "os_hash_value": "h", "locations": [], "nothing": None})
    assert info.updated_at == datetime(2026, 12, 7, 0, 29, 25)  # naive UTC, as Shoal's database keeps times
    assert info.properties == {"os_distro": "debian", "hw_disk_bus": "scsi"}
    assert (info.min_disk, info.min_ram, info.virtual_size) == (2, 0, 1 << 30)


def answer(status: int, detail: str) -> sdk.HttpException:
    """What openstacksdk raises for Glance's answer."""
    response = requests.Response()
    response.status_code, response.url = status, "http://glance:9292/v2/images/i1"
    response._content = detail.encode()
    response.headers["Content-Type"] = "text/plain"
    return sdk.HttpException("x", response=response, details=detail)


@pytest.mark.parametrize(("raised", "expected"), [
    (answer(400, "bad property"), errors.Invalid),
    (answer(403, "not yours"), errors.Forbidden),
    (answer(404, "no image"), errors.NotFound),
    (answer(413, "quota"), errors.OverQuota),
    (answer(500, "boom"), errors.ServiceUnavailable),
    (ks.EndpointNotFound(), errors.ServiceUnavailable),
    (ks.ConnectFailure("refused"), errors.ServiceUnavailable),
])
def test_glance_errors_become_the_service_errors(raised, expected):
    client = GlanceImages(ImageConfig(), keystone_tokens=None)
    with pytest.raises(expected) as caught, client._calling("show the image"):
        raise raised
    assert "Glance" in str(caught.value)


# ---- conversion space, checked before use -----------------------------------------------------


def an_image(size: int) -> ImageInfo:
    return ImageInfo(id="i1", name="big", status="active", disk_format="raw", container_format="bare", size=size,
                     virtual_size=size, min_disk=0, min_ram=0, checksum="c", updated_at=None)


def test_a_glance_download_larger_than_the_free_space_is_refused_before_it_starts(tmp_path):
    client = GlanceImages(ImageConfig(), keystone_tokens=None)  # no Glance is asked: the check comes first
    too_big = shutil.disk_usage(tmp_path).free + (1 << 30)
    with pytest.raises(errors.Invalid, match="not enough space") as caught, \
            client.local_copy(None, an_image(too_big), tmp_path / "work"):
        pass
    assert "needed" in str(caught.value)
    assert not list((tmp_path / "work").iterdir())


def test_an_upload_needs_room_for_the_volumes_data_not_its_size(tmp_path):
    """A sparse volume file needs only what it holds; without a file to look at (a
    block device), its whole size."""
    size = shutil.disk_usage(tmp_path).free + (1 << 30)  # more than the disk holds, nearly all of it a hole
    volume = tmp_path / "volume"
    with open(volume, "wb") as fh:
        fh.write(b"x" * 4096)
        fh.truncate(size)
    room_for(tmp_path / "conversion", str(volume), size)
    with pytest.raises(errors.Invalid, match="not enough space in .*conversion to convert the volume"):
        room_for(tmp_path / "conversion", str(tmp_path / "no-such-device"), size)
