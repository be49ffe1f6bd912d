"""Which staging directories on a storage host are stale: named by a process of this machine
that does not run now (this machine's real /proc; the sweep on a real SSH host is
tests/integration/test_image_staging_sweep.py)."""

from __future__ import annotations

import dataclasses
import os
import subprocess

from shoal.services.volume import image_staging as staging


def name_of(owner: staging.Owner, rest: str = "Ab3dEf9h") -> str:
    return f"{staging.STAGING_PREFIX}{owner.token}.{rest}"


def test_a_name_says_which_process_made_it():
    me = staging.this_process()
    assert (me.machine, me.boot, me.pid) == (staging.this_machine(), staging.this_boot(), os.getpid())
    assert staging.owner_in(name_of(me)) == me
    assert staging.make_staging_dir(me) == ["mktemp", "-d", f"/var/tmp/{name_of(me, 'XXXXXXXX')}"]
    for other in ("shoal-image.Ab3dEf9h", "shoal-image.", "other.Ab3dEf9h", f"{name_of(me)}/../x"):
        assert staging.owner_in(other) is None


def test_only_directories_of_processes_of_this_machine_that_are_gone_are_stale():
    me = staging.this_process()
    ended = subprocess.Popen(["true"])
    ended.wait()
    gone = staging.Owner(me.machine, me.boot, ended.pid, 1)
    reused = dataclasses.replace(me, start=me.start + 1)  # this pid, but another process's start: the old one is gone
    earlier_boot = dataclasses.replace(me, boot="0" * 8 if me.boot != "0" * 8 else "1" * 8)
    elsewhere = dataclasses.replace(gone, machine="f" * 10 if me.machine != "f" * 10 else "e" * 10)
    names = [name_of(o) for o in (me, gone, reused, earlier_boot, elsewhere)]
    names += ["shoal-image.Ab3dEf9h", "shoal-image.notours"]  # an older Shoal's names, and not Shoal's at all
    assert staging.stale(names) == [name_of(gone), name_of(reused), name_of(earlier_boot)]
