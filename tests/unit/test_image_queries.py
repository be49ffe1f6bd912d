"""The image list reads its query string through declared models (api/image/queries.py):
Glance's limit messages, the filters passed on, the rest taken as properties, and the
parameters in /openapi.json."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.datastructures import QueryParams

from shoal.api.image import queries
from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.queries import read
from shoal.app import create_app
from shoal.config import Settings


def call(query: str):
    return SimpleNamespace(root="image", request=SimpleNamespace(query_params=QueryParams(query)))


@pytest.mark.parametrize(("query", "words"), [
    ("limit=x", "limit param must be an integer"), ("limit=1e3", "limit param must be an integer"),
    ("limit=-1", "limit param must be positive"), (f"limit={2**63}", "limit must be <="),
])
def test_a_bad_limit_is_glances_400(query, words):
    with pytest.raises(ApiError) as caught:
        read(call(query), queries.ImageList)
    assert caught.value.code == 400 and words in caught.value.message


def test_filters_paging_and_properties_are_told_apart():
    q = read(call("limit=5&marker=m&name=n&size_min=3&os_distro=arch&created_at=gt:2020"), queries.ImageList)
    assert (q.limit, q.marker, q.name, q.size_min) == (5, "m", "n", "3")
    assert "created_at" not in queries.FILTERS and {"name", "size_min", "os_hidden"} <= set(queries.FILTERS)
    assert "os_distro" not in queries.ImageList.model_fields  # an image property to match


def test_the_document_names_the_parameters():
    paths = create_app(Settings(api={"auth": "noauth"}), start=False).openapi()["paths"]
    parameters = {p["name"]: p for p in paths["/image/v2/images"]["get"]["parameters"]}
    assert {"limit", "marker", "sort", "sort_key", "sort_dir", "tag", "name", "visibility"} <= set(parameters)
    assert parameters["limit"]["schema"]["type"] == "integer"
