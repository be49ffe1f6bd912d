"""qemu-img for the RemoteFS driver: the argv of each verb, the parsing of
`info --output=json` (output recorded from qemu-img 7.2), and the backing-file
check that keeps a chain inside its own volume."""

from __future__ import annotations

import pytest

from shoal.drivers.remotefs import qemu_img
from shoal.drivers.remotefs.qemu_img import InvalidBackingFile, chain_member, check_backing, parse_info

VOLUME = "volume-0f2c8a5e-3b1d-4c1a-9e57-6a0c1d2e3f40"
SNAP = "8d7e6f50-1a2b-4c3d-8e9f-0a1b2c3d4e5f"

OVERLAY_JSON = """{
    "backing-filename-format": "raw",
    "virtual-size": 1073741824,
    "filename": "/srv/share/volume-x.8d7e",
    "cluster-size": 65536,
    "format": "qcow2",
    "actual-size": 200704,
    "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "compression-type": "zlib",
        "lazy-refcounts": false, "refcount-bits": 16, "corrupt": false, "extended-l2": false}},
    "full-backing-filename": "/srv/share/volume-x",
    "backing-filename": "volume-x",
    "dirty-flag": false
}"""

RAW_JSON = """{"virtual-size": 2147483648, "filename": "volume-x", "format": "raw", "actual-size": 4096, "dirty-flag": false}"""

DATA_FILE_JSON = """{"virtual-size": 1048576, "filename": "ext", "format": "qcow2", "actual-size": 266240,
 "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "data-file": "/etc/shadow", "data-file-raw": true}},
 "dirty-flag": false}"""


def test_info_never_opens_the_backing_file_and_names_the_format_when_known():
    assert qemu_img.info("/s/v", "raw") == ["qemu-img", "info", "--output=json", "-U", "-f", "raw", "/s/v"]
    assert qemu_img.info("/s/v") == ["qemu-img", "info", "--output=json", "-U", "/s/v"]


def test_create_plain_preallocated_and_overlay():
    assert qemu_img.create("/s/v", "qcow2", 1024, preallocation="metadata") == [
        "qemu-img", "create", "-f", "qcow2", "-o", "preallocation=metadata", "/s/v", "1024"]
    assert qemu_img.create("/s/v.1", "qcow2", 1024, backing="v", backing_fmt="raw") == [
        "qemu-img", "create", "-f", "qcow2", "-b", "v", "-F", "raw", "/s/v.1", "1024"]
    with pytest.raises(ValueError):
        qemu_img.create("/s/v.1", "qcow2", 1024, backing="v")  # qemu probes a backing without its format
    with pytest.raises(ValueError):
        qemu_img.create("/s/v", "raw", 1, preallocation="full,backing_file=/etc/shadow")


def test_chain_verbs():
    assert qemu_img.rebase_unsafe("/s/v.2", "v", "raw") == [
        "qemu-img", "rebase", "-u", "-f", "qcow2", "-b", "v", "-F", "raw", "/s/v.2"]
    assert qemu_img.commit("/s/v.1") == ["qemu-img", "commit", "-q", "-f", "qcow2", "-d", "/s/v.1"]
    assert qemu_img.resize("/s/v", "raw", 2048, "falloc") == [
        "qemu-img", "resize", "-q", "-f", "raw", "--preallocation=falloc", "/s/v", "2048"]
    assert qemu_img.resize("/s/v.1", "qcow2", 2048) == ["qemu-img", "resize", "-q", "-f", "qcow2", "/s/v.1", "2048"]
    assert qemu_img.convert_into("/s/a.1", "qcow2", "/s/b", "raw") == [
        "qemu-img", "convert", "-n", "--target-is-zero", "-f", "qcow2", "-O", "raw", "/s/a.1", "/s/b"]


def test_parse_an_overlay():
    image = parse_info(OVERLAY_JSON)
    assert (image.format, image.virtual_size, image.actual_size) == ("qcow2", 1073741824, 200704)
    assert (image.backing_file, image.backing_format, image.data_file) == ("volume-x", "raw", None)


def test_parse_a_raw_image_and_an_external_data_file():
    image = parse_info(RAW_JSON)
    assert (image.format, image.virtual_size, image.backing_file, image.backing_format) == ("raw", 2147483648, None, None)
    assert parse_info(DATA_FILE_JSON).data_file == "/etc/shadow"


@pytest.mark.parametrize("text", ["", "qemu-img: Could not open", "[]", '{"format": "raw"}'])
def test_parse_refuses_what_is_not_an_image_description(text):
    with pytest.raises(ValueError):
        parse_info(text)


@pytest.mark.parametrize("backing", [
    VOLUME,
    f"{VOLUME}.{SNAP}",
    f"{VOLUME}.tmp-snap-{SNAP}",
    f"{VOLUME}.{SNAP.upper()}",
    f"/srv/share/{VOLUME}.{SNAP}",
    f"/var/lib/shoal/mnt/0123456789abcdef0123456789abcdef/{VOLUME}",
])
def test_the_chain_admits_the_volume_and_its_overlays(backing):
    pattern = chain_member(VOLUME, ("/srv/share",), "/var/lib/shoal/mnt")
    assert check_backing(backing, pattern) == backing.rsplit("/", 1)[-1]


@pytest.mark.parametrize("backing", [
    "/etc/shadow",
    "volume-11111111-2222-3333-4444-555555555555",  # another volume
    f"{VOLUME}1",  # a longer name that starts like this one
    f"{VOLUME}.info",
    f"{VOLUME}.shoal-pending",
    f"{VOLUME}/../etc/shadow",
    f"/other/dir/{VOLUME}",
    f"/var/lib/shoal/mnt/../../etc/{VOLUME}",
    f"json:{{\"file.filename\": \"{VOLUME}\"}}",
    f"nbd://attacker/{VOLUME}",
    f"{VOLUME}x{SNAP}",  # Cinder's unescaped '.' took any character here
])
def test_the_chain_refuses_anything_else(backing):
    pattern = chain_member(VOLUME, ("/srv/share",), "/var/lib/shoal/mnt")
    with pytest.raises(InvalidBackingFile):
        check_backing(backing, pattern)


def test_gib_up_rounds_up_and_never_to_zero():
    assert [qemu_img.gib_up(n) for n in (0, 1, qemu_img.GiB, qemu_img.GiB + 1)] == [1, 1, 1, 2]
