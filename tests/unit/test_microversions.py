"""Microversion parsing and negotiation (shoal.api.openstack.microversions).

Headers are passed as starlette's case-insensitive `Headers`, as a request
gives them.
"""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from shoal.api.openstack.errors import ApiError
from shoal.api.openstack.microversions import Version, VersionRange

LEGACY = "X-OpenStack-Manila-API-Version"
SHARE = VersionRange("shared-file-system", LEGACY, Version(2, 0), Version(2, 84))
NO_LEGACY = VersionRange("volume", None, Version(3, 0), Version(3, 70))


def negotiate(vrange: VersionRange = SHARE, **raw: str):
    return vrange.negotiate(Headers(headers=raw))


def h(**raw: str) -> dict[str, str]:
    """Header names with '-' (keyword arguments cannot hold them)."""
    return {k.replace("_", "-"): v for k, v in raw.items()}


# ---- Version -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "major", "minor"), [("2.0", 2, 0), ("2.50", 2, 50), (" 3.7 ", 3, 7), ("10.10", 10, 10)])
def test_parse(text, major, minor):
    assert Version.parse(text) == Version(major, minor)


@pytest.mark.parametrize("text", ["2.x", "02.1", "2.01", "abc", "2", "2.", ".5", "0.1", "2.1.1", "", "-2.1", "v2.1"])
def test_parse_refuses(text):
    with pytest.raises(ValueError):
        Version.parse(text)


def test_ordering_is_numeric_not_lexical():
    assert Version(2, 9) < Version(2, 10)
    assert Version(2, 10) > Version(2, 9)
    assert Version(1, 99) < Version(2, 0)
    assert sorted([Version(2, 10), Version(3, 0), Version(2, 9)]) == [Version(2, 9), Version(2, 10), Version(3, 0)]
    assert Version(2, 5) <= Version(2, 5) and Version(2, 5) >= Version(2, 5)


def test_str_and_at_least():
    assert str(Version(2, 50)) == "2.50"
    assert Version(2, 50).at_least("2.50")
    assert Version(2, 50).at_least("2.9")
    assert not Version(2, 9).at_least("2.10")


# ---- negotiate -----------------------------------------------------------------------------


def test_no_header_gives_minimum():
    version, headers = negotiate()
    assert version == Version(2, 0)
    assert headers["OpenStack-API-Version"] == "shared-file-system 2.0"


def test_legacy_header():
    version, _ = negotiate(**h(X_OpenStack_Manila_API_Version="2.40"))
    assert version == Version(2, 40)


def test_legacy_header_lowercase_name():
    version, _ = negotiate(**{"x-openstack-manila-api-version": "2.7"})
    assert version == Version(2, 7)


def test_openstack_api_version_header():
    version, _ = negotiate(**h(OpenStack_API_Version="shared-file-system 2.50"))
    assert version == Version(2, 50)


def test_openstack_api_version_is_case_insensitive():
    version, _ = negotiate(**{"openstack-api-version": "Shared-File-System 2.50"})
    assert version == Version(2, 50)


def test_openstack_api_version_picks_our_service_from_a_list():
    version, _ = negotiate(**h(OpenStack_API_Version="volume 3.60, shared-file-system 2.33, compute 2.1"))
    assert version == Version(2, 33)


def test_openstack_api_version_for_another_service_only_gives_minimum():
    version, _ = negotiate(**h(OpenStack_API_Version="volume 3.60"))
    assert version == Version(2, 0)


def test_openstack_api_version_without_legacy_header_configured():
    version, headers = negotiate(NO_LEGACY, **h(OpenStack_API_Version="volume 3.44"))
    assert version == Version(3, 44)
    assert headers == {"OpenStack-API-Version": "volume 3.44", "Vary": "OpenStack-API-Version"}


def test_legacy_header_wins_when_both_are_sent():
    version, _ = negotiate(**h(X_OpenStack_Manila_API_Version="2.10", OpenStack_API_Version="shared-file-system 2.50"))
    assert version == Version(2, 10)


@pytest.mark.parametrize("value", ["latest", "LATEST", " Latest "])
def test_latest_gives_maximum(value):
    assert negotiate(**h(X_OpenStack_Manila_API_Version=value))[0] == Version(2, 84)
    assert negotiate(**h(OpenStack_API_Version=f"shared-file-system {value.strip()}"))[0] == Version(2, 84)


@pytest.mark.parametrize("value", ["2.x", "02.1", "abc", "2", "2.1.1"])
def test_malformed_is_400(value):
    with pytest.raises(ApiError) as exc:
        negotiate(**h(X_OpenStack_Manila_API_Version=value))
    assert exc.value.code == 400
    with pytest.raises(ApiError) as exc:
        negotiate(**h(OpenStack_API_Version=f"shared-file-system {value}"))
    assert exc.value.code == 400


def test_service_without_version_is_400():
    with pytest.raises(ApiError) as exc:
        negotiate(**h(OpenStack_API_Version="shared-file-system"))
    assert exc.value.code == 400


@pytest.mark.parametrize("value", ["2.85", "3.0", "1.0", "1.99"])
def test_out_of_range_is_406_with_maximum_announced(value):
    with pytest.raises(ApiError) as exc:
        negotiate(**h(X_OpenStack_Manila_API_Version=value))
    assert exc.value.code == 406
    assert "2.0" in exc.value.message and "2.84" in exc.value.message
    assert exc.value.headers["OpenStack-API-Version"] == "shared-file-system 2.84"


@pytest.mark.parametrize("value", ["2.0", "2.84"])
def test_bounds_are_inclusive(value):
    assert negotiate(**h(X_OpenStack_Manila_API_Version=value))[0] == Version.parse(value)


def test_response_headers_echo_version_and_vary():
    _, headers = negotiate(**h(OpenStack_API_Version="shared-file-system 2.50"))
    assert headers == {
        "OpenStack-API-Version": "shared-file-system 2.50",
        LEGACY: "2.50",
        "Vary": f"OpenStack-API-Version,{LEGACY}",  # no space: clients split on the comma
    }


def test_response_headers_echo_latest_as_number():
    _, headers = negotiate(**h(X_OpenStack_Manila_API_Version="latest"))
    assert headers[LEGACY] == "2.84"
    assert headers["OpenStack-API-Version"] == "shared-file-system 2.84"
