"""Argv builders and output parsers of shoal.drivers.zfs.commands.

These are pure functions: the exact argv each verb produces is checked as data
(the real `zfs` runs in tests/integration). The parser inputs are recorded
`-H -p` outputs, including zfs-fuse's human-readable sizes.
"""

from __future__ import annotations

import pytest

from shoal.drivers.zfs import commands as zc

# ---- argv builders -------------------------------------------------------------------------


def test_create_plain():
    assert zc.create("tank/share-1") == ["zfs", "create", "tank/share-1"]


def test_create_with_parents_and_properties_in_order():
    argv = zc.create("tank/a/share-1", {"refquota": "1G", "compression": "lz4"}, parents=True)
    assert argv == ["zfs", "create", "-p", "-o", "refquota=1G", "-o", "compression=lz4", "tank/a/share-1"]


def test_create_volume_is_sparse_by_default():
    assert zc.create_volume("tank/vol-1", 1073741824) == ["zfs", "create", "-s", "-V", "1073741824", "tank/vol-1"]


def test_create_volume_thick_with_properties():
    argv = zc.create_volume("tank/vol-1", 4096, {"volblocksize": "16K"}, sparse=False)
    assert argv == ["zfs", "create", "-V", "4096", "-o", "volblocksize=16K", "tank/vol-1"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["zfs", "destroy", "tank/s"]),
        ({"recursive": True}, ["zfs", "destroy", "-r", "tank/s"]),
        ({"force": True}, ["zfs", "destroy", "-f", "tank/s"]),
        ({"recursive": True, "force": True}, ["zfs", "destroy", "-r", "-f", "tank/s"]),
    ],
)
def test_destroy(kwargs, expected):
    assert zc.destroy("tank/s", **kwargs) == expected


def test_snapshot():
    assert zc.snapshot("tank/s@snap-1") == ["zfs", "snapshot", "tank/s@snap-1"]


def test_clone_properties_before_positionals():
    assert zc.clone("tank/s@snap-1", "tank/c") == ["zfs", "clone", "tank/s@snap-1", "tank/c"]
    assert zc.clone("tank/s@snap-1", "tank/c", {"readonly": "off"}) == [
        "zfs", "clone", "-o", "readonly=off", "tank/s@snap-1", "tank/c",
    ]


def test_promote():
    assert zc.promote("tank/c") == ["zfs", "promote", "tank/c"]


def test_rollback():
    assert zc.rollback("tank/s@snap-1") == ["zfs", "rollback", "tank/s@snap-1"]
    assert zc.rollback("tank/s@snap-1", destroy_later=True) == ["zfs", "rollback", "-r", "tank/s@snap-1"]


def test_rename():
    assert zc.rename("tank/a", "tank/b") == ["zfs", "rename", "tank/a", "tank/b"]


def test_set_properties_one_call_for_all():
    assert zc.set_properties("tank/s", {"refquota": "2G"}) == ["zfs", "set", "refquota=2G", "tank/s"]
    assert zc.set_properties("tank/s", {"refquota": "2G", "readonly": "on"}) == [
        "zfs", "set", "refquota=2G", "readonly=on", "tank/s"]


def test_set_properties_refuses_none():
    with pytest.raises(ValueError):
        zc.set_properties("tank/s", {})


def test_inherit_property_before_dataset():
    assert zc.inherit("tank/s", "compression") == ["zfs", "inherit", "compression", "tank/s"]


def test_mount_and_unmount():
    assert zc.mount("tank/s") == ["zfs", "mount", "tank/s"]
    assert zc.unmount("tank/s") == ["zfs", "umount", "tank/s"]
    assert zc.unmount("tank/s", force=True) == ["zfs", "umount", "-f", "tank/s"]


def test_get_is_parsable_and_joins_properties():
    argv = zc.get(["tank/a", "tank/b"], ["used", "available"])
    assert argv == ["zfs", "get", "-H", "-p", "-o", "name,property,value", "used,available", "tank/a", "tank/b"]


def test_get_recursive():
    argv = zc.get(["tank"], ("used",), recursive=True)
    assert argv == ["zfs", "get", "-H", "-p", "-o", "name,property,value", "-r", "used", "tank"]


def test_get_depth_wins_over_recursive():
    argv = zc.get(["tank"], ["used"], recursive=True, depth=1)
    assert argv == ["zfs", "get", "-H", "-p", "-o", "name,property,value", "-d", "1", "used", "tank"]


def test_get_depth_zero_is_kept():
    # depth=0 is falsy but meaningful: only the named datasets.
    argv = zc.get(["tank"], ["used"], depth=0)
    assert argv[-4:] == ["-d", "0", "used", "tank"]


def test_list_names_defaults_to_recursive_filesystems_and_volumes():
    # No -p: zfs-fuse 0.7's `zfs list` rejects it ("invalid option 'p'").
    argv = zc.list_names("tank/shoal")
    assert argv == ["zfs", "list", "-H", "-o", "name", "-t", "filesystem,volume", "-r", "tank/shoal"]


def test_list_names_with_depth_and_types():
    argv = zc.list_names("tank/shoal", types="snapshot", depth=1)
    assert argv == ["zfs", "list", "-H", "-o", "name", "-t", "snapshot", "-d", "1", "tank/shoal"]


def test_send_full_and_incremental():
    assert zc.send("tank/s@b") == ["zfs", "send", "tank/s@b"]
    assert zc.send("tank/s@b", incremental_from="tank/s@a") == ["zfs", "send", "-i", "tank/s@a", "tank/s@b"]


def test_receive():
    assert zc.receive("tank/r") == ["zfs", "receive", "tank/r"]
    assert zc.receive("tank/r", force=True) == ["zfs", "receive", "-F", "tank/r"]


def test_zpool_get():
    assert zc.zpool_get("tank", ["size", "free"]) == ["zpool", "get", "-H", "-p", "size,free", "tank"]


def test_zpool_list():
    assert zc.zpool_list() == ["zpool", "list", "-H", "-o", "name"]


def test_builders_return_flat_lists_of_str():
    # An argv list goes to subprocess as is: no nested lists, no ints.
    for argv in (
        zc.create_volume("tank/v", 512, {"a": "b"}),
        zc.get(["tank"], ["used"], depth=2),
        zc.list_names("tank", depth=3),
    ):
        assert isinstance(argv, list)
        assert all(isinstance(item, str) for item in argv), argv


# ---- parsers -------------------------------------------------------------------------------


def test_parse_rows_splits_on_tabs_only():
    text = "tank/a\tcomment\tmy share with spaces\tlocal\n"
    assert zc.parse_rows(text) == [["tank/a", "comment", "my share with spaces", "local"]]


def test_parse_rows_skips_blank_lines_and_keeps_empty_columns():
    text = "\ntank/a\t\t-\n   \ntank/b\t1\t2\n"
    assert zc.parse_rows(text) == [["tank/a", "", "-"], ["tank/b", "1", "2"]]


def test_parse_rows_empty_output():
    assert zc.parse_rows("") == []


def test_parse_get_groups_by_dataset():
    text = (
        "tank/a\tused\t24576\n"
        "tank/a\trefquota\t1073741824\n"
        "tank/b\tused\t8192\n"
        "tank/b\tcomment\tvalue with  two  spaces\n"
    )
    assert zc.parse_get(text) == {
        "tank/a": {"used": "24576", "refquota": "1073741824"},
        "tank/b": {"used": "8192", "comment": "value with  two  spaces"},
    }


def test_parse_get_keeps_dash_values():
    assert zc.parse_get("tank/a@s\trefquota\t-\n") == {"tank/a@s": {"refquota": "-"}}


def test_parse_zpool_get_ignores_name_and_source():
    text = "tank\tsize\t10737418240\t-\ntank\tfree\t9663676416\t-\ntank\tcomment\ta b c\tlocal\n"
    assert zc.parse_zpool_get(text) == {"size": "10737418240", "free": "9663676416", "comment": "a b c"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1073741824", 1073741824),
        (" 4096\n", 4096),
        ("-", 0),
        ("none", 0),
        ("", 0),
        ("512B", 512),
        ("100K", 100 * 1024),
        ("512M", 512 * 1024**2),
        ("1.5G", 1610612736),
        ("2T", 2 * 1024**4),
        ("1P", 1024**5),
        ("1E", 1024**6),
        ("1.5g", 1610612736),
        ("0.5K", 512),
    ],
)
def test_parse_size(text, expected):
    assert zc.parse_size(text) == expected


@pytest.mark.parametrize("text", ["abc", "12X", "G", "1.5.2G", "1.5GB"])
def test_parse_size_refuses_garbage(text):
    with pytest.raises(ValueError):
        zc.parse_size(text)
