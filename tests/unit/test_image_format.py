"""services/common/image_format: the format and safety verdicts on files qemu-img makes."""

from __future__ import annotations

import subprocess

import pytest

from shoal.hosts import LocalHost
from shoal.services.common.image_format import ImageRejected, inspect_file, qemu_info

MiB = 1 << 20


def make(path, fmt, *options, size=4 * MiB):
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, *options, str(path), str(size)], check=True)
    return path


@pytest.mark.parametrize("fmt", ["qcow2", "vmdk", "vdi", "vhdx"])
def test_each_format_is_recognised_with_its_virtual_size(tmp_path, fmt):
    path = make(tmp_path / f"disk.{fmt}", fmt)
    with path.open("rb") as data:
        verdict = inspect_file(data.read, fmt)
    assert verdict.format == fmt and verdict.virtual_size == 4 * MiB
    assert qemu_info(LocalHost(), str(path), fmt)["virtual-size"] == 4 * MiB


def test_plain_data_is_raw_and_nothing_else(tmp_path):
    path = tmp_path / "plain"
    path.write_bytes(b"\x07" * MiB)
    with path.open("rb") as data:
        assert inspect_file(data.read, "raw").format == "raw"
    with path.open("rb") as data, pytest.raises(ImageRejected, match="does not match"):
        inspect_file(data.read, "qcow2")


def test_a_qcow2_declared_raw_is_refused(tmp_path):
    path = make(tmp_path / "q", "qcow2")
    with path.open("rb") as data, pytest.raises(ImageRejected, match="does not match disk_format raw"):
        inspect_file(data.read, "raw")


def test_backing_file_and_data_file_are_refused_by_both_checks(tmp_path):
    base = make(tmp_path / "base", "raw")
    backed = make(tmp_path / "backed", "qcow2", "-b", str(base), "-F", "raw")
    external = make(tmp_path / "ext", "qcow2", "-o", f"data_file={tmp_path / 'ext.data'}")
    for path in (backed, external):
        with path.open("rb") as data, pytest.raises(ImageRejected, match="not safe"):
            inspect_file(data.read, "qcow2")
        with pytest.raises(ImageRejected, match="not safe"):
            qemu_info(LocalHost(), str(path), "qcow2")


def test_qemu_img_reads_the_declared_format_only(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"not an image" * 100)
    with pytest.raises(ImageRejected, match="cannot read the image as qcow2"):
        qemu_info(LocalHost(), str(path), "qcow2")
    with pytest.raises(ImageRejected, match="cannot be read by qemu-img"):
        qemu_info(LocalHost(), str(path), "ploop")
