"""Staging directories that image copies cut short by a crash leave on a storage host reached
over SSH are swept at Shoal's next start, and only those.

The storage host is the SSH host of tests/fixtures/ssh_replication.py: this machine through a
private sshd, so what the sweep did is seen in this machine's /var/tmp. A copy is cut short for
real: a process of its own stages on the SSH host as a copy does (image_copy.staged_on, a
half-written image inside) and is killed -9 there. While such a process runs, its directory is
kept; once it is gone, the sweep removes it. Directories of another machine's Shoal, an older
Shoal's unowned names and what is not Shoal's stay.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from shoal.hosts import SSHHost
from shoal.services.volume import image_copy, image_staging
from tests.fixtures.replication import second_zpool  # noqa: F401 - fixture
from tests.fixtures.shoal import REPO, restart_server
from tests.fixtures.ssh_replication import replica_sshd, ssh_replica_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration

COPY = """
import sys, time
from shoal.hosts import SSHHost
from shoal.services.volume import image_copy
host = SSHHost(sys.argv[1], port=int(sys.argv[2]), key_file=sys.argv[3])
with image_copy.staged_on(host, 1 << 20) as staging:
    host.run(["dd", "if=/dev/zero", f"of={staging}/image", "bs=64K", "count=16", "status=none"])
    print(staging, flush=True)
    time.sleep(600)
"""


@contextmanager
def copy_in_progress(sshd):
    """A process staging an image on the SSH host, stopped inside the copy; its staging directory."""
    process = subprocess.Popen([sys.executable, "-c", COPY, sshd.address, str(sshd.port), sshd.key_file],
                               cwd=REPO, stdout=subprocess.PIPE, text=True)
    staged = None
    try:
        staged = Path(process.stdout.readline().strip())
        assert staged.name.startswith(image_copy.STAGING_PREFIX) and (staged / "image").is_file(), staged
        yield process, staged
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        if staged is not None and staged.is_dir():
            shutil.rmtree(staged)  # what the test did not expect to be swept


def crash(process: subprocess.Popen) -> None:
    process.kill()  # -9: nothing is cleaned up on the way out
    process.wait()


@pytest.fixture
def not_stale():
    """Staging-like directories the sweep must leave: another machine's Shoal (its process
    cannot be checked from here), an older Shoal's name without an owner, and not Shoal's."""
    me = image_staging.this_process()
    other_machine = "f" * 10 if me.machine != "f" * 10 else "e" * 10
    tag = uuid.uuid4().hex[:8]
    paths = [Path(image_staging.STAGING_DIR) / name for name in (
        f"{image_staging.STAGING_PREFIX}{other_machine}-{me.boot}-1-1.{tag}",
        f"{image_staging.STAGING_PREFIX}{tag}",
        f"shoal-imagery.{tag}",
    )]
    for path in paths:
        path.mkdir()
        (path / "image").write_bytes(b"keep")
    yield paths
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def test_a_crashed_copy_is_swept_and_a_running_one_kept(replica_sshd, not_stale):
    storage_host = SSHHost(replica_sshd.address, port=replica_sshd.port, key_file=replica_sshd.key_file)
    with closing(storage_host), copy_in_progress(replica_sshd) as (running, kept), \
            copy_in_progress(replica_sshd) as (crashed, swept):
        crash(crashed)
        removed = image_staging.sweep(storage_host)
        assert not swept.exists()
        assert str(kept) not in removed and (kept / "image").is_file()  # its process still copies
        assert all((path / "image").read_bytes() == b"keep" for path in not_stale)
        crash(running)
        image_staging.sweep(storage_host)
        assert not kept.exists()
    assert all(path.is_dir() for path in not_stale)


def test_a_start_of_shoal_sweeps_its_storage_hosts(ssh_replica_server, replica_sshd, not_stale):
    server = ssh_replica_server.server
    with copy_in_progress(replica_sshd) as (_running, kept), copy_in_progress(replica_sshd) as (crashed, swept):
        crash(crashed)
        restart_server(server)  # its `remote` backend's commands run on the SSH host
        deadline = time.monotonic() + 120  # the sweep runs in the background, after the start
        while swept.exists():
            assert time.monotonic() < deadline, f"{swept} was not swept at start: {os.listdir(swept)}"
            time.sleep(0.2)
        # The sweep logs what it removed once it is done with all of it: just after.
        while "staging directories of image copies cut short on" not in (server.state_dir / "shoal.log").read_text():
            assert time.monotonic() < deadline, "the sweep did not log what it removed"
            time.sleep(0.2)
        assert (kept / "image").is_file()
        assert all((path / "image").read_bytes() == b"keep" for path in not_stale)
