"""Image quotas by Glance's unified-limits names, on a Shoal of its own whose defaults
are small: image_count_total = 3, image_size_total = 2 (MiB), image_stage_total = 1 (MiB).
Over a limit is Glance's 413, and nothing is kept: an upload that would pass the size
limit is cut off, its bytes removed and its image queued again."""

from __future__ import annotations

import pytest

from tests.fixtures.shoal import running_shoal

from .image_helpers import OCTETS, create, glance_error, image_client, store_files, upload

pytestmark = pytest.mark.integration
MiB = 1 << 20
LIMITS = """
[quotas.image]
image_count_total = 3
image_size_total = 2
image_stage_total = 1
"""


@pytest.fixture(scope="module")
def small_quota_server(zpool, tmp_path_factory):
    with running_shoal(zpool, tmp_path_factory, "imgquota", extra_config=LIMITS) as server:
        yield server


def test_image_quotas(small_quota_server):
    server = small_quota_server
    with image_client(server, project="quota-a") as images, image_client(server, project="quota-b") as other:
        first = create(images, name="one")
        assert upload(images, first["id"], b"\1" * MiB).status_code == 204
        usage = images.get("/info/usage").json()["usage"]
        assert usage["image_count_total"] == {"limit": 3, "usage": 1}
        assert usage["image_size_total"] == {"limit": 2, "usage": 1}

        # 1 MiB left: an upload of 1.5 MiB is cut off with 413 and leaves nothing.
        second = create(images, name="two")
        message = glance_error(upload(images, second["id"], b"\2" * (MiB + MiB // 2)), 413)
        assert "quota" in message
        assert images.get(f"/images/{second['id']}").json()["status"] == "queued"
        assert not [f for f in store_files(server) if second["id"] in f]
        assert upload(images, second["id"], b"\2" * MiB).status_code == 204

        # Full: the next upload is refused before a byte is read.
        third = create(images, name="three")
        assert "image_size_total" in glance_error(upload(images, third["id"], b"\3"), 413)
        # Staging counts apart from stored data (1 MiB may be staged): 2 MiB are cut off.
        staged = images.put(f"/images/{third['id']}/stage", content=b"\3" * (2 * MiB), headers=OCTETS)
        assert "quota" in glance_error(staged, 413)
        assert images.get(f"/images/{third['id']}").json()["status"] == "queued"
        assert not [f for f in store_files(server) if third["id"] in f]

        # Three images is the count limit; another project has its own.
        assert "image_count_total" in glance_error(images.post("/images", json={"name": "four"}), 413)
        assert create(other, name="elsewhere")["owner"] == "quota-b"
        ids = {i["id"] for i in images.get("/images", params={"owner": "quota-a"}).json()["images"]}
        assert ids == {first["id"], second["id"], third["id"]}

        # Deleting frees room.
        assert images.delete(f"/images/{first['id']}").status_code == 204
        assert upload(images, third["id"], b"\3" * 1000).status_code == 204
