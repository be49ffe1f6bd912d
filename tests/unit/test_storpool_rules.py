"""StorPool's pure rules: names from ids (os-brick's, so the connector finds
the volume), the template a volume gets, the retype decision, the free-space
arithmetic of reference §4.6, and where the API's settings and a host's
client id come from (the config files replaced by a fake reader)."""

from __future__ import annotations

import pytest

from shoal.drivers.base import DriverError, InvalidRequest
from shoal.drivers.storpool import naming, specs, stats
from shoal.drivers.storpool.cluster_conf import UNKNOWN_CLIENT_ID, ClusterConf
from shoal.drivers.storpool.config import StorPoolBackendConfig

GiB = 1024**3
VID = "0c6a1f2e-2a47-4d6b-9a57-9d3f4f2f7b10"


def config(**kwargs) -> StorPoolBackendConfig:
    return StorPoolBackendConfig(driver="storpool", **kwargs)


# ---- names -------------------------------------------------------------------------------


def test_names_follow_cinder_and_the_connector():
    assert naming.volume("os", VID) == f"os--volume-{VID}"
    assert naming.snapshot("os", "s1") == "os--snap--none--snapshot-s1"
    assert naming.clone_snapshot("sp", VID) == f"sp--clone--none--snapshot-{VID}"
    assert naming.migration_temporary(f"os--volume-{VID}") == f"os--volume-{VID}--temp--mig"


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a b", "x?json=1", "-x"])
def test_an_id_that_is_no_name_is_refused(bad):
    with pytest.raises(InvalidRequest):
        naming.volume("os", bad)


# ---- templates ---------------------------------------------------------------------------


def test_template_from_type_else_config_else_replication():
    assert specs.template({"storpool_template": "ssd"}, "hdd") == "ssd"
    assert specs.template({}, "hdd") == "hdd"
    assert specs.template({"storpool_template": " "}, None) is None
    assert specs.placement("ssd", 3) == {"template": "ssd"}
    assert specs.placement(None, 2) == {"replication": 2}
    assert specs.pool("ssd") == "template_ssd" and specs.pool(None) == "default"


def test_a_template_that_is_no_name_is_refused():
    specs.check({"storpool_template": "hybrid-2"})
    with pytest.raises(InvalidRequest):
        specs.check({"storpool_template": "a/b"})


@pytest.mark.parametrize("old, new, default, expected", [
    ({"storpool_template": "hdd"}, {"storpool_template": "ssd"}, None, {"template": "ssd"}),
    ({"storpool_template": "hdd"}, {}, "hybrid", {"template": "hybrid"}),  # the backend's template
    ({"storpool_template": "hdd"}, {}, None, {"replication": 3}),  # no template: replication
    ({}, {"storpool_template": "ssd"}, "hybrid", {"template": "ssd"}),
    ({"storpool_template": "ssd"}, {"storpool_template": "ssd", "multiattach": "<is> True"}, None, {}),
    ({}, {"volume_backend_name": "other"}, None, None),  # another backend: migrate
    ({}, {"volume_backend_name": "sp", "storpool_template": "ssd"}, None, {"template": "ssd"}),
])
def test_retype_decision(old, new, default, expected):
    assert specs.retype_update(old, new, "sp", default, 3) == expected


# ---- stats (§4.6) --------------------------------------------------------------------------


def test_free_space_arithmetic_of_the_reference():
    disks = {
        "101": {"generationLeft": -1, "agCount": 2000, "agAllocated": 500, "agFree": 1500},
        "102": {"generationLeft": -1, "agCount": 2000, "agAllocated": 1000, "agFree": 1000},
        "103": {"generationLeft": 7, "agCount": 9999, "agAllocated": 0, "agFree": 9999},  # down: not counted
    }
    space = stats.cluster_space(disks, 3)
    assert space.total == 4000 * 512 * 1024**2  # 2000 GiB
    assert space.used == 1500 * 512 * 1024**2
    # 2500 AGs of 512 MiB = 1250 GiB raw free; less 128 of every 4096+128 bytes; over 3 copies
    assert space.free / GiB == pytest.approx(1250 * 4096 / 4224 / 3)  # 404.04 GiB
    pools = stats.pools(space, [{"name": "ssd"}, {"name": "hdd"}], {"multiattach": True})
    assert [p.name for p in pools] == ["default", "template_hdd", "template_ssd"]
    assert {(p.total_gb, p.free_gb, p.allocated_gb) for p in pools} == {(2000.0, 404.04, 750.0)}
    assert pools[2].capabilities == {"multiattach": True, "storpool_template": "ssd"}
    assert "storpool_template" not in pools[0].capabilities


def test_replication_divides_only_free_space():
    disks = {"1": {"generationLeft": -1, "agCount": 4224, "agAllocated": 0, "agFree": 4224}}
    assert stats.cluster_space(disks, 1).free == pytest.approx(4096 * 512 * 1024**2)
    assert stats.cluster_space(disks, 2).free == pytest.approx(2048 * 512 * 1024**2)
    assert stats.cluster_space({}, 3) == stats.ClusterSpace(0, 0, 0)


# ---- settings and client ids (fake reader) ----------------------------------------------------


class FakeFiles:
    """A fake of os-brick's get_conf: the unnamed section overlaid by a host's."""

    def __init__(self, unnamed: dict | None, sections: dict | None = None):
        self.unnamed, self.sections = unnamed, sections or {}

    def __call__(self, section):
        if self.unnamed is None:
            return None  # no /etc/storpool.conf
        return {"SP_API_HTTP_HOST": "127.0.0.1", "SP_API_HTTP_PORT": "81", **self.unnamed,
                **self.sections.get(section or "node1", {})}


def cluster(files: FakeFiles, **kwargs) -> ClusterConf:
    return ClusterConf(config(**kwargs), read=files, node=lambda: "node1")


def test_api_settings_from_the_files_with_the_table_on_top():
    files = FakeFiles({"SP_AUTH_TOKEN": "t1", "SP_API_HTTP_HOST": "10.0.0.5"},
                      {"node1": {"SP_OPENSTACK_VOLUME_PREFIX": "cl1"}})
    api = cluster(files).api()
    assert (api.host, api.port, api.token, api.prefix) == ("10.0.0.5", 81, "t1", "cl1")
    api = cluster(files, api_host="127.0.0.2", api_port=8081, auth_token="t2", volume_prefix="x").api()
    assert (api.address, api.token, api.prefix) == ("127.0.0.2:8081", "t2", "x")


def test_without_files_the_table_alone_will_do():
    api = cluster(FakeFiles(None), api_port=9000, auth_token="t").api()
    assert (api.address, api.token, api.prefix) == ("127.0.0.1:9000", "t", "os")


def test_a_bad_port_in_the_files_is_named():
    with pytest.raises(DriverError, match="SP_API_HTTP_PORT 'x'"):
        cluster(FakeFiles({"SP_API_HTTP_PORT": "x"})).api()


def test_client_id_of_a_host():
    files = FakeFiles({"SP_OURID": "1"}, {"node1": {"SP_OURID": "11"}, "compute2": {"SP_OURID": "12"},
                                          "odd": {"SP_OURID": "x"}})
    conf = cluster(files)
    assert conf.client_id("compute2") == 12
    assert conf.client_id("node1") == conf.client_id(None) == 11  # Shoal's own host
    assert conf.client_id("unknown") == 1  # the unnamed section's (Cinder's reading)
    with pytest.raises(InvalidRequest, match="not a number"):
        conf.client_id("odd")
    assert cluster(files, our_id=5, client_ids={"compute2": 22}).client_id(None) == 5
    assert cluster(files, our_id=5, client_ids={"compute2": 22}).client_id("compute2") == 22


def test_client_id_when_none_is_known():
    assert cluster(FakeFiles({})).client_id("compute9") == UNKNOWN_CLIENT_ID  # Cinder's 65
    with pytest.raises(InvalidRequest, match="client_ids"):
        cluster(FakeFiles(None)).client_id("compute9")
