"""image_copy's argv builders (one per verb) and its reading of qemu-img's progress."""

from __future__ import annotations

import pytest

from shoal.services.common.image_format import ImageRejected
from shoal.services.volume import image_copy as ic
from shoal.services.volume import image_staging as staging


def test_the_copies_name_every_format_and_keep_the_target():
    assert ic.convert_onto("/img", "qcow2", "/dev/zd0", "raw") == [
        "qemu-img", "convert", "-p", "-n", "--target-is-zero", "-f", "qcow2", "-O", "raw", "/img", "/dev/zd0"]
    assert ic.convert_out("/vol", "raw", "/out.vmdk", "vmdk") == [
        "qemu-img", "convert", "-p", "-f", "raw", "-O", "vmdk", "/vol", "/out.vmdk"]
    assert ic.check("/img", "qcow2") == ["qemu-img", "check", "--output=json", "-f", "qcow2", "/img"]


def test_staging_on_a_storage_host():
    me = staging.this_process()  # named after this process, so a later start can tell it stale
    assert ic.make_staging_dir() == ["mktemp", "-d", f"/var/tmp/shoal-image.{me.token}.XXXXXXXX"]
    assert ic.free_space("/var/tmp/x") == ["df", "--output=avail", "-B1", "/var/tmp/x"]
    assert ic.write_file("/var/tmp/x/image") == ["dd", "of=/var/tmp/x/image", "bs=1M", "conv=sparse", "status=none"]
    assert ic.remove_tree("/var/tmp/x") == ["rm", "-rf", "--one-file-system", "/var/tmp/x"]


def test_qemu_formats_and_a_format_qemu_img_does_not_convert():
    assert ic.qemu_format("vhd") == "vpc"
    with pytest.raises(ImageRejected):
        ic.qemu_format("ploop")


def test_progress_reports_each_new_whole_percent_across_reads():
    seen: list[int] = []
    progress = ic.Progress(seen.append)
    for piece in (b"    (0.00/100%)\r    (12.5", b"0/100%)\r    (12.90/100%)\r", b"    (100.00/100%)\r"):
        progress(piece)
    assert seen == [0, 12, 100]
