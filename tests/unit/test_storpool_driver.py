"""The StorPool volume driver's calls, with os-brick's client made a recording
fake: `FakeClient` is os-brick's `StorPoolAPI` whose one HTTP method
(`_api_call`) records the request instead of sending it, so method signatures
and paths are the real client's (the upstream retype bug, §4.5, would raise
TypeError here). Answers and errors are scripted per API query."""

from __future__ import annotations

import tomllib

import pytest
from os_brick.initiator.storpool_utils import StorPoolAPI, StorPoolAPIError

from shoal.config import Settings
from shoal.drivers.base import DriverError, InvalidRequest, NotFoundOnBackend
from shoal.drivers.storpool.cluster_conf import ClusterConf
from shoal.drivers.storpool.config import StorPoolBackendConfig
from shoal.drivers.storpool.volumes import StorPoolVolumeDriver
from shoal.drivers.volume import Connector, ExportSpec, VolumeRef, VolumeSnapshotRef

GiB = 1024**3
V1, V2, S1 = "11111111-aaaa-4bbb-8ccc-000000000001", "22222222-aaaa-4bbb-8ccc-000000000002", "5a"
N1, N2 = f"os--volume-{V1}", f"os--volume-{V2}"


def error(name: str, transient: bool = False, status: int = 500) -> StorPoolAPIError:
    return StorPoolAPIError(status, {"error": {"name": name, "descr": f"{name} happened", "transient": transient}})


class FakeClient(StorPoolAPI):
    """Fake transport: records (method, query, body); `answers[query]` is the
    data returned, `errors[query]` a list of errors raised one per call."""

    def __init__(self):
        super().__init__("fake", 0, "token", transient_retries=0)
        self.calls: list[tuple[str, str, object]] = []
        self.answers: dict[str, object] = {}
        self.errors: dict[str, list[Exception]] = {}

    def _api_call(self, method, path, body=None):
        query = path.removeprefix("/ctrl/1.0/").removeprefix("MultiCluster/")
        self.calls.append((method, query, body))
        pending = self.errors.get(query.split("/")[0]) or self.errors.get(query)
        if pending:
            raise pending.pop(0)
        return self.answers.get(query, self.answers.get(query.split("/")[0]))

    def queries(self) -> list[str]:
        return [q for _, q, _ in self.calls]


def make(files=None, client=None, **kwargs):
    config = StorPoolBackendConfig(driver="storpool", **kwargs)
    files = files or {"SP_AUTH_TOKEN": "t", "SP_OURID": "1"}
    conf = ClusterConf(config, read=lambda section: {"SP_API_HTTP_HOST": "127.0.0.1", "SP_API_HTTP_PORT": "81",
                                                     **files, **({"SP_OURID": "7"} if section == "compute1" else {})},
                       node=lambda: "shoal-node")
    client = client or FakeClient()
    return StorPoolVolumeDriver("sp", config, conf, client, sleep=lambda s: None), client


def vol(volume_id=V1, size=1, **specs) -> VolumeRef:
    return VolumeRef(volume_id, "default", size, extra_specs=specs)


def test_the_registry_reads_a_storpool_table():
    text = '[backends.sp]\ndriver = "storpool"\ntemplate = "hybrid"\nclient_ids = { compute1 = 7 }\n'
    backend = Settings.model_validate(tomllib.loads(text)).backends["sp"]
    assert (backend.driver, backend.template, backend.replication, backend.client_ids) == \
        ("storpool", "hybrid", 3, {"compute1": 7})
    with pytest.raises(ValueError, match="api_url"):
        Settings.model_validate(tomllib.loads('[backends.sp]\ndriver = "storpool"\napi_url = "x"\n'))


# ---- create -------------------------------------------------------------------------------------


def test_create_takes_the_types_template_else_the_backends_else_replication():
    driver, client = make(template="hdd", replication=2)
    assert driver.create_volume(vol(size=2, storpool_template="ssd")).provider_location == N1
    driver.create_volume(vol(V2))
    driver2, client2 = make(replication=2)
    driver2.create_volume(vol())
    assert [c[2] for c in client.calls + client2.calls] == [
        {"name": N1, "size": 2 * GiB, "template": "ssd"},
        {"name": N2, "size": GiB, "template": "hdd"},
        {"name": N1, "size": GiB, "replication": 2},
    ]


def test_create_from_snapshot_names_its_parent():
    driver, client = make()
    driver.create_volume_from_snapshot(vol(V2, 3), VolumeSnapshotRef(S1, vol()))
    assert client.calls == [("POST", "VolumeCreate", {"name": N2, "size": 3 * GiB,
                                                      "parent": "os--snap--none--snapshot-5a"})]


def test_a_clone_in_the_same_template_is_based_on_the_source():
    driver, client = make(template="hdd")
    driver.create_cloned_volume(vol(V2, 2), vol(V1, 1, storpool_template="hdd"))
    assert client.calls == [("POST", "VolumeCreate", {"name": N2, "size": 2 * GiB, "baseOn": N1})]


def test_a_clone_into_another_template_goes_through_a_transient_snapshot():
    driver, client = make()
    driver.create_cloned_volume(vol(V2, 1, storpool_template="ssd"), vol(V1, 1))
    snap = f"os--clone--none--snapshot-{V2}"
    assert client.calls == [
        ("POST", f"VolumeSnapshot/{N1}", {"name": snap}),
        ("POST", f"SnapshotUpdate/{snap}", {"template": "ssd"}),
        ("POST", "VolumeCreate", {"name": N2, "size": GiB, "parent": snap}),
        ("POST", f"SnapshotUpdate/{snap}", {"tags": {"transient": "1.0"}}),
    ]
    # A clone out of a template into none: the snapshot gets the replication (Cinder sends template None).
    driver, client = make(replication=2)
    driver.create_cloned_volume(vol(V2, 1), vol(V1, 1, storpool_template="ssd"))
    assert client.calls[1] == ("POST", f"SnapshotUpdate/{snap}", {"replication": 2})


def test_a_failed_clone_removes_its_transient_snapshot():
    driver, client = make()
    client.errors["VolumeCreate"] = [error("insufficientResources")]
    client.errors["VolumeSnapshot"] = [error("objectExists")]  # a repeated clone finds its snapshot
    with pytest.raises(DriverError, match="insufficientResources"):
        driver.create_cloned_volume(vol(V2, 1, storpool_template="ssd"), vol(V1, 1))
    assert client.queries()[-1] == f"SnapshotDelete/os--clone--none--snapshot-{V2}"
    assert len(client.calls) == 4


# ---- delete, extend, snapshots, revert --------------------------------------------------------------


def test_delete_detaches_every_client_first_and_a_missing_volume_is_fine():
    driver, client = make()
    driver.delete_volume(vol())
    assert client.calls[:2] == [("POST", "VolumesReassign", [{"volume": N1, "detach": "all"}]),
                                ("POST", f"VolumeDelete/{N1}", None)]
    assert client.queries()[2] == f"SnapshotDelete/os--clone--none--snapshot-{V1}"  # a clone's parent, if any
    client.errors.update({q: [error("objectDoesNotExist")] for q in ("VolumesReassign", "VolumeDelete",
                                                                     "SnapshotDelete")})
    driver.delete_volume(vol())


def test_delete_of_a_snapshot_detaches_it_and_tolerates_its_absence():
    driver, client = make()
    client.errors["SnapshotDelete"] = [error("objectDoesNotExist")]
    driver.delete_snapshot(VolumeSnapshotRef(S1, vol()))
    assert client.calls == [("POST", "VolumesReassign", [{"snapshot": "os--snap--none--snapshot-5a",
                                                           "detach": "all"}]),
                            ("POST", "SnapshotDelete/os--snap--none--snapshot-5a", None)]


def test_extend_snapshot_and_revert():
    driver, client = make()
    driver.extend_volume(vol(size=1), 3)
    assert driver.create_snapshot(VolumeSnapshotRef(S1, vol(size=3))).provider_location == \
        "os--snap--none--snapshot-5a"
    client.answers["Volume"] = [{"name": N1, "size": GiB}]  # the snapshot's size, after the revert
    driver.revert_to_snapshot(VolumeSnapshotRef(S1, vol(size=3)))
    assert client.calls == [
        ("POST", f"VolumeUpdate/{N1}", {"size": 3 * GiB}),
        ("POST", f"VolumeSnapshot/{N1}", {"name": "os--snap--none--snapshot-5a"}),
        ("POST", f"VolumeRevert/{N1}", {"toSnapshot": "os--snap--none--snapshot-5a"}),
        ("GET", f"Volume/{N1}", None),
        ("POST", f"VolumeUpdate/{N1}", {"size": 3 * GiB}),  # the volume keeps its size
    ]
    with pytest.raises(InvalidRequest, match="shrink"):
        driver.extend_volume(vol(size=3), 2)


def test_errors_are_driver_errors_that_say_what_failed():
    driver, client = make()
    client.errors["VolumeUpdate"] = [error("objectDoesNotExist")]
    with pytest.raises(NotFoundOnBackend, match=f"volume_update {N1}: objectDoesNotExist"):
        driver.extend_volume(vol(), 2)


# ---- retype and migration -------------------------------------------------------------------------


def test_retype_changes_the_template_in_place():
    """The upstream call, volume_update(name, **update), raises TypeError with
    os-brick's client; the update goes as its one data argument."""
    driver, client = make()
    assert driver.retype(vol(storpool_template="hdd"), {"storpool_template": "ssd"}) is True
    assert driver.retype(vol(storpool_template="hdd"), {}) is True
    assert driver.retype(vol(storpool_template="ssd"), {"storpool_template": "ssd", "x": "y"}) is True
    assert client.calls == [("POST", f"VolumeUpdate/{N1}", {"template": "ssd"}),
                            ("POST", f"VolumeUpdate/{N1}", {"replication": 3})]
    with pytest.raises(TypeError):  # what Cinder's master does
        client.volume_update(N1, **{"template": "ssd"})


def test_retype_to_another_backend_asks_for_a_migration():
    driver, client = make()
    assert driver.retype(vol(), {"volume_backend_name": "elsewhere", "storpool_template": "ssd"}) is False
    assert client.calls == []


def test_update_migrated_volume_swaps_the_names_in_three_renames():
    driver, client = make()
    client.answers["VolumesList"] = [{"name": N1}, {"name": N2}]
    assert driver.update_migrated_volume(vol(V1), vol(V2)) is None
    middle = f"{N2}--temp--mig"
    assert client.calls[1:] == [("POST", f"VolumeUpdate/{N1}", {"rename": middle}),
                                ("POST", f"VolumeUpdate/{N2}", {"rename": N1}),
                                ("POST", f"VolumeUpdate/{middle}", {"rename": N2})]


def test_update_migrated_volume_with_the_original_gone_renames_once():
    driver, client = make()
    client.answers["VolumesList"] = [{"name": N2}]
    assert driver.update_migrated_volume(vol(V1), vol(V2)) is None
    assert client.calls[1:] == [("POST", f"VolumeUpdate/{N2}", {"rename": N1})]


def test_update_migrated_volume_without_the_new_volume_keeps_its_id():
    driver, client = make()
    client.answers["VolumesList"] = [{"name": N1}]
    assert driver.update_migrated_volume(vol(V1), vol(V2)) == V2
    assert client.queries() == ["VolumesList"]


def test_a_failed_rename_is_undone():
    driver, client = make()
    client.answers["VolumesList"] = [{"name": N1}, {"name": N2}]
    client.errors[f"VolumeUpdate/{N2}"] = [error("objectExists")]
    assert driver.update_migrated_volume(vol(V1), vol(V2)) == V2
    middle = f"{N2}--temp--mig"
    assert client.calls[1:] == [("POST", f"VolumeUpdate/{N1}", {"rename": middle}),
                                ("POST", f"VolumeUpdate/{N2}", {"rename": N1}),
                                ("POST", f"VolumeUpdate/{middle}", {"rename": N1})]  # back as it was


# ---- export, stats, problems ----------------------------------------------------------------------


def test_export_returns_cinders_connection_info():
    driver, client = make()
    client.answers["Volume"] = [{"name": N1, "size": GiB}]
    spec = ExportSpec(connectors=(Connector(host="other"), Connector(host="compute1")))
    info = driver.export(vol(), spec)
    assert (info.driver_volume_type, info.data) == ("storpool", {"client_id": 7, "volume": V1, "access_mode": "rw"})
    assert driver.export(vol(), ExportSpec(connectors=(Connector(host="shoal-node"),))).data["client_id"] == 1
    driver.unexport(vol())
    assert client.queries() == [f"Volume/{N1}"] * 2  # unexport calls nothing
    driver.validate_connector(Connector(host="compute1"))
    with pytest.raises(InvalidRequest):
        make(client_ids={"bad": -1})[0].validate_connector(Connector(host="bad"))


def test_export_of_a_missing_volume_fails_on_the_server():
    driver, client = make()
    client.errors["Volume"] = [error("objectDoesNotExist")]
    with pytest.raises(NotFoundOnBackend):
        driver.export(vol(), ExportSpec(connectors=(Connector(host="compute1"),)))


def test_pools_report_the_cluster_to_every_template():
    driver, client = make(replication=2)
    client.answers["DisksList"] = {"1": {"generationLeft": -1, "agCount": 4224, "agAllocated": 0, "agFree": 4224}}
    client.answers["VolumeTemplatesList"] = [{"name": "ssd"}]
    pools = driver.pools()
    assert [(p.name, p.free_gb, p.capabilities.get("storpool_template")) for p in pools] == \
        [("default", 1024.0, None), ("template_ssd", 1024.0, "ssd")]
    caps = pools[0].capabilities
    assert (caps["multiattach"], caps["thin_provisioning_support"], caps["storage_protocol"]) == \
        (True, True, "storpool")


def test_problems_name_the_fix():
    driver, client = make(template="gold")
    client.answers["VolumeTemplatesList"] = [{"name": "ssd"}]
    assert "template 'gold'" in driver.problems()[0]
    client.answers["VolumeTemplatesList"] = [{"name": "gold"}]
    assert driver.problems() == []
    assert "no StorPool API token" in make(files={"SP_OURID": "1"})[0].problems()[0]
    with pytest.raises(InvalidRequest):
        driver.validate_extra_specs({"provisioning:type": "thick"})


def test_manage_is_not_supported():
    driver, _ = make()
    with pytest.raises(InvalidRequest, match="not supported"):
        driver.manage_existing(vol(), {"source-name": N1})
    assert driver.manageable_volumes([]) == [] and driver.manageable_snapshots([]) == []
