"""The image-service seam (services.image_client): which backend a config chooses, and
how an external Glance's answers become Shoal's own (the parts that need no Glance;
tests/integration/test_volume_images_glance.py runs the rest against a real one)."""

from __future__ import annotations

from datetime import datetime

import pytest
import requests
from keystoneauth1 import exceptions as ks
from openstack import exceptions as sdk

from shoal.config import ImageConfig, Settings
from shoal.services.common import errors
from shoal.services.image_client import choose_backend
from shoal.services.image_client.glance import GlanceImages, info_of

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
