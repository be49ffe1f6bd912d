"""scripts/tempest's pure parts, without running Tempest: tempest.conf from what a Shoal
offers, the smoke selection, the exclusion list's shape and the failure grouping."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "tests" / "tempest"


def _load(name: str, path: Path):
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


harness = _load("shoal_tempest_harness", REPO / "scripts" / "tempest")
summary = _load("shoal_tempest_summary", HERE / "subunit_summary.py")


def facts(**served) -> dict:
    probes = {name: False for name in (
        "volume_backups", "volume_manage", "snapshot_manage", "volume_groups", "volume_extensions",
        "volume_quotas", "volume_transfers", "qos_specs", "share_manage", "share_snapshot_manage",
        "share_groups", "share_replicas", "share_backups", "share_networks", "share_quotas")}
    probes.update(served)
    return {
        "volume_versions": ["3.0", "3.71"], "share_versions": ["2.0", "2.84"],
        "volume_pools": [{"capabilities": {"volume_backend_name": "test", "storage_protocol": "iSCSI",
                                           "vendor_name": "Open Source", "snapshot_support": True}}],
        "share_pools": [{"capabilities": {"share_backend_name": "test", "storage_protocol": "NFS",
                                          "snapshot_support": True, "create_share_from_snapshot_support": True,
                                          "revert_to_snapshot_support": True, "mount_snapshot_support": False,
                                          "thin_provisioning": [True], "driver_handles_share_servers": False}}],
        "share_types": ["default"], "volume_types": ["__DEFAULT__"],
        "served": probes,
    }


def options(**served) -> dict:
    return harness.tempest_options(facts(**served), "http://127.0.0.1:9", "pw", Path("/tmp/tempest.log"))


def test_conf_follows_what_the_shoal_offers():
    conf = options(volume_manage=True, snapshot_manage=True, share_manage=True, share_quotas=True)
    assert conf["identity"]["uri_v3"] == "http://127.0.0.1:9/identity/v3"
    assert conf["auth"]["use_dynamic_credentials"] is True and conf["auth"]["admin_password"] == "pw"
    assert conf["service_available"] == {"cinder": True, "manila": True, "nova": False, "glance": False,
                                         "neutron": False, "swift": False, "horizon": False, "barbican": False}
    vol, feat, share = conf["volume"], conf["volume-feature-enabled"], conf["share"]
    assert (vol["min_microversion"], vol["max_microversion"], vol["catalog_type"]) == ("3.0", "3.71", "volumev3")
    assert (share["min_api_microversion"], share["max_api_microversion"]) == ("2.0", "2.84")
    assert share["catalog_type"] == "sharev2" and share["enable_protocols"] == "nfs"
    assert feat["manage_volume"] and feat["manage_snapshot"] and not feat["backup"] and feat["volume_revert"]
    assert share["run_snapshot_tests"] and share["run_revert_to_snapshot_tests"]
    assert not share["run_mount_snapshot_tests"] and share["capability_thin_provisioned"]
    assert share["run_manage_unmanage_tests"] and not share["run_manage_unmanage_snapshot_tests"]
    assert share["multitenancy_enabled"] is False and share["default_share_type_name"] == "default"
    assert not share["run_share_group_tests"] and not share["run_replication_tests"]


def test_features_that_land_turn_their_tests_on():
    conf = options(volume_backups=True, share_groups=True, share_backups=True)
    assert conf["volume-feature-enabled"]["backup"] is True
    assert conf["share"]["run_share_group_tests"] is True
    assert conf["share"]["run_driver_assisted_backup_tests"] is True


def test_render_is_ini():
    text = harness.render({"a": {"x": True, "y": "v"}, "b": {}})
    assert text == "[a]\nx = True\ny = v\n\n[b]\n"


def test_smoke_selection_splits_the_list_by_suite():
    for suite, prefix in (("volume", "tempest.api.volume."), ("share", "manila_tempest_tests.tests.api.")):
        regex = harness.selection(suite, None, smoke=True)
        alternatives = regex.removeprefix("^(?:").removesuffix(")").split("|")
        assert alternatives and all(a.startswith(prefix) for a in alternatives)
    assert harness.selection("share", "only.this", smoke=True) == "only.this"
    assert harness.selection("volume", None, smoke=False) == harness.SUITES["volume"]


@pytest.mark.parametrize("name", ["exclusions.txt", "smoke.txt"])
def test_lists_are_regexes_and_exclusions_give_reasons(name):
    for line in (HERE / name).read_text().splitlines():
        regex, _, reason = line.partition("#")
        if not regex.strip():
            continue
        re.compile(regex.strip())
        if name == "exclusions.txt":
            assert reason.strip(), f"an exclusion without its reason: {line}"


TRACEBACK = """Traceback (most recent call last):
  File "/x/rest_client.py", line 956, in _error_checker
    raise exceptions.UnexpectedResponseCode(str(resp.status),
tempest.lib.exceptions.UnexpectedResponseCode: Unexpected response code received
Details: 405
"""


def test_first_error_is_the_exception_line_with_its_details():
    assert summary.first_error(TRACEBACK) == ("tempest.lib.exceptions.UnexpectedResponseCode: Unexpected "
                                              "response code received Details: 405")
    varying = ("AssertionError: Response is missing request ID. Response headers are: {'date': 'Sun, 06 Dec'}",
               "AssertionError: Response is missing request ID. Response headers are: {'content-length': '7'}")
    assert {summary.normalise(v) for v in varying} == {"AssertionError: Response is missing request ID."}
    assert summary.normalise("volume 7f2a1c3e-0d4b-4c2a-9a57-2b8f0e6d1c11 at http://127.0.0.1:8787/x") == \
        "volume <id> at URL/x"


def test_failure_report_groups_and_counts():
    tests = {"t.a": {"status": "fail", "error": "E1"}, "t.b": {"status": "fail", "error": "E1"},
             "t.c": {"status": "fail", "error": "E2"}, "t.d": {"status": "success", "error": ""},
             "t.e": {"status": "skip", "error": "no glance"}}
    report = harness.failure_report("volume", tests)
    assert report.index("   2  E1") < report.index("   1  E2")
    assert "   1  no glance" in report
    assert harness.counts(tests) == {"passed": 1, "failed": 3, "skipped": 1}
