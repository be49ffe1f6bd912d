"""The `.info` file in Cinder's form, the delete journal, and the names of a
volume's files."""

from __future__ import annotations

import json

import pytest

from shoal.drivers.base import InvalidRequest
from shoal.drivers.remotefs import files, info_file, journal
from shoal.drivers.remotefs.files import VolumeFiles, checked_id
from shoal.drivers.remotefs.info_file import BadInfoFile
from shoal.drivers.remotefs.journal import BadJournal, DeletePlan

# Written by Cinder's RemoteFS driver (json.dump(info, f, indent=1, sort_keys=True)).
CINDER_INFO = '{\n "4b1f": "volume-9.4b1f",\n "active": "volume-9.e2a0",\n "e2a0": "volume-9.e2a0"\n}'


def test_reads_what_cinder_wrote_and_writes_it_byte_for_byte():
    info = info_file.parse(CINDER_INFO)
    assert info == {"active": "volume-9.e2a0", "4b1f": "volume-9.4b1f", "e2a0": "volume-9.e2a0"}
    assert info_file.dumps(info) == CINDER_INFO
    assert info_file.snapshots(info) == {"4b1f": "volume-9.4b1f", "e2a0": "volume-9.e2a0"}


@pytest.mark.parametrize("text", [None, "", "  \n"])
def test_no_file_or_an_empty_one_means_no_snapshots(text):
    assert info_file.parse(text) == {}


@pytest.mark.parametrize("text", [
    "{", "[]", '{"4b1f": "volume-9.4b1f"}', '{"active": 3}', '{"active": "../volume-8"}', '{"active": ""}',
])
def test_a_damaged_info_file_is_refused(text):
    with pytest.raises(BadInfoFile):
        info_file.parse(text)


def test_writing_needs_the_active_entry():
    with pytest.raises(ValueError):
        info_file.dumps({"4b1f": "volume-9.4b1f"})


def test_the_journal_round_trips_and_refuses_garbage():
    plan = DeletePlan("4b1f", "volume-9.4b1f", "volume-9", "raw", "volume-9.e2a0")
    text = journal.dumps(plan)
    assert json.loads(text)["op"] == "delete_snapshot"
    assert journal.parse(text) == plan
    assert journal.parse(journal.dumps(DeletePlan("4b1f", "volume-9.4b1f", "volume-9", "raw", None))).higher_file is None
    for bad in ("{", '{"op": "rename"}', json.dumps({"op": "delete_snapshot", "snapshot_id": "x"}),
                journal.dumps(DeletePlan("4b1f", "../../etc/passwd", "volume-9", "raw", None))):
        with pytest.raises(BadJournal):
            journal.parse(bad)


def test_names_come_from_checked_ids():
    vf = VolumeFiles("/srv/share", "volume-9a")
    assert (vf.base, vf.info, vf.meta, vf.pending, vf.revert_tmp) == (
        "/srv/share/volume-9a", "/srv/share/volume-9a.info", "/srv/share/volume-9a.shoal-meta",
        "/srv/share/volume-9a.shoal-pending", "/srv/share/volume-9a.shoal-revert")
    assert vf.overlay("4b1f") == "volume-9a.4b1f"
    assert checked_id("0f2c8a5e-3b1d-4c1a-9e57-6a0c1d2e3f40", "volume") == "0f2c8a5e-3b1d-4c1a-9e57-6a0c1d2e3f40"
    for bad in ("", "../x", "a b", "*", "tmp-snap-1", "x" * 3, "ab/cd", "-ab"):
        with pytest.raises(InvalidRequest):
            checked_id(bad, "volume")


def test_plain_file_commands():
    assert files.list_volume_files("/s", "volume-9a") == [
        "find", "/s", "-mindepth", "1", "-maxdepth", "1", "(", "-name", "volume-9a", "-o", "-name", "volume-9a.*", ")",
        "-printf", "%f\\0"]
    assert files.move("/s/a", "/s/b") == ["mv", "-f", "-T", "--", "/s/a", "/s/b"]
    assert files.remove(["/s/a", "/s/b"]) == ["rm", "-f", "--", "/s/a", "/s/b"]
    assert files.parse_names("b\0a\0\0") == ["a", "b"]
    # the parentheses matter: without them find prints the second kind only
    assert files.list_interrupted("/s", "volume-") == [
        "find", "/s", "-mindepth", "1", "-maxdepth", "1", "(", "-name", "volume-*.shoal-pending", "-o", "-name",
        "volume-*.shoal-revert", ")", "-printf", "%f\\0"]
