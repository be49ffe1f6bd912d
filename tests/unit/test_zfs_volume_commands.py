"""Argv builders and parsers the volume driver added: `zfs get` with sources,
and the file layout's host commands (find, mv)."""

from __future__ import annotations

from shoal.drivers.zfs import commands as zc
from shoal.drivers.zfs import volume_layout as vl


def test_get_sourced_recursive():
    argv = zc.get_sourced(["tank/shoal"], ["type", "origin", "shoal:deleted"], recursive=True)
    assert argv == ["zfs", "get", "-H", "-p", "-o", "name,property,value,source", "-r", "type,origin,shoal:deleted", "tank/shoal"]


def test_get_sourced_only_local_values():
    argv = zc.get_sourced(["tank/v"], ["all"], sources=["local"])
    assert argv == ["zfs", "get", "-H", "-p", "-o", "name,property,value,source", "-s", "local", "all", "tank/v"]


def test_get_sourced_depth_wins():
    assert zc.get_sourced(["t"], ["type"], recursive=True, depth=1)[-4:] == ["-d", "1", "type", "t"]


def test_parse_get_sourced_keeps_sources_and_order():
    text = (
        "tank/v\tshoal:deleted\tyes\tlocal\n"
        "tank/v@b\tshoal:deleted\tyes\tinherited from tank/v\n"
        "tank/v@a\tcreatetxg\t12\t-\n"
        "tank/w\tcomment\ta  b\tlocal\n"
    )
    parsed = zc.parse_get_sourced(text)
    assert list(parsed) == ["tank/v", "tank/v@b", "tank/v@a", "tank/w"]
    assert parsed["tank/v@b"]["shoal:deleted"] == ("yes", "inherited from tank/v")
    assert parsed["tank/w"]["comment"] == ("a  b", "local")


def test_file_layout_argv():
    assert vl.list_dir("/p/v") == ["find", "/p/v", "-mindepth", "1", "-maxdepth", "1", "-printf", "%y\\t%s\\t%P\\0"]
    assert vl.move("/p/v/disk.img", "/p/v/volume.raw") == ["mv", "-n", "-T", "--", "/p/v/disk.img", "/p/v/volume.raw"]


def test_parse_list_dir_handles_odd_names():
    text = "f\t1073741824\tdisk img\0d\t3\tsub\0f\t0\tname\twith\ttabs\0"
    assert vl.parse_list_dir(text) == [("f", 1073741824, "disk img"), ("d", 3, "sub"), ("f", 0, "name\twith\ttabs")]
    assert vl.parse_list_dir("") == []


def test_gib_up():
    assert vl.gib_up(0) == 1 and vl.gib_up(vl.GiB) == 1 and vl.gib_up(vl.GiB + 1) == 2
