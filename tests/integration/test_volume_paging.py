"""Volume and snapshot lists are paged as Cinder pages them: never more than
`[api] max_limit` items in one answer (osapi_max_limit; 3 on this Shoal of its
own), a `next` link when a page is full, also when the caller asked for no
limit or a larger one, and a `count` of everything the filters match."""

from __future__ import annotations

import pytest

from tests.fixtures.shoal import running_shoal

from .volume_helpers import VolumeApi, cinder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def five_volumes(zpool, tmp_path_factory):
    with running_shoal(zpool, tmp_path_factory, name="paging", extra_config="") as server:
        text = server.config.read_text().replace("[api]\n", "[api]\nmax_limit = 3\n", 1)
        assert "max_limit = 3" in text, "the test config has no [api] table"
        server.config.write_text(text)
        from tests.fixtures.shoal import restart_server

        restart_server(server)
        with cinder(server, version="3.45") as client:
            api = VolumeApi(server, client)
            made = [api.create_volume(1, wait=None) for _ in range(5)]
            for volume in made:
                api.wait_volume(volume["id"], "available")
            yield client, {v["id"] for v in made}
            for volume_id in {v["id"] for v in made}:
                api.delete_volume(volume_id)


def pages(client, path: str, key: str, **params) -> list[list[str]]:
    found, url = [], path
    while url:
        answer = client.get(url, params=params if url == path else None).json()
        found.append([item["id"] for item in answer[key]])
        links = [link["href"] for link in answer.get(f"{key}_links", []) if link["rel"] == "next"]
        url = links[0] if links else None  # absolute: httpx takes it as it is
    return found


def test_no_limit_pages_at_max_limit(five_volumes):
    client, ids = five_volumes
    found = pages(client, "/volumes", "volumes")
    assert [len(page) for page in found] == [3, 2]
    assert {i for page in found for i in page} == ids


def test_a_larger_limit_is_cut_to_max_limit(five_volumes):
    client, ids = five_volumes
    first = client.get("/volumes/detail", params={"limit": 50}).json()
    assert len(first["volumes"]) == 3 and first["volumes_links"][0]["rel"] == "next"


def test_count_is_of_every_match_not_of_the_page(five_volumes):
    client, ids = five_volumes
    answer = client.get("/volumes", params={"with_count": "true", "limit": 2}).json()
    assert len(answer["volumes"]) == 2 and answer["count"] == 5
