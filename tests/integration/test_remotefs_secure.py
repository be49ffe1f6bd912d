"""Secure NAS file operations and permissions, resolved as Cinder resolves
them: `auto` on a new share writes `.cinderSecureEnvIndicator` and makes
volume files 660; on a share that already holds volumes and no indicator it
means not secure (ugo+rw); an existing indicator means secure; `false` writes
nothing. Secure operations set to `true` refuse snapshots, as Cinder's NFS
driver does, and say so in problems() and the pool's capabilities."""

from __future__ import annotations

import pytest

from shoal.drivers.base import InvalidRequest
from tests.fixtures.remotefs import active, directory, new_volume, snapshot_ref

pytestmark = pytest.mark.integration

INDICATOR = ".cinderSecureEnvIndicator"


def mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_auto_on_a_new_share_is_secure_and_marks_the_share(remotefs):
    driver = remotefs()
    indicator = directory(driver) / INDICATOR
    assert indicator.exists() and mode(indicator) == 0o640
    assert (driver.secure_operations, driver.secure_permissions) == (True, True)
    volume = new_volume(driver)
    snapshot = snapshot_ref(volume)
    driver.create_snapshot(snapshot)  # auto is not an explicit 'true': snapshots still work
    share = directory(driver)
    assert {mode(share / n) for n in (f"volume-{volume.id}", f"volume-{volume.id}.{snapshot.id}",
                                      f"volume-{volume.id}.info")} == {0o660}
    driver.delete_volume(volume)


def test_auto_on_a_share_in_use_without_the_indicator_is_not_secure(remotefs, tmp_path):
    share = tmp_path / "in-use"
    share.mkdir()
    (share / "volume-0000aaaa").write_bytes(b"")  # an earlier (Cinder) volume: not a new install
    driver = remotefs(share=share)
    assert not (share / INDICATOR).exists()
    assert (driver.secure_operations, driver.secure_permissions) == (False, False)
    volume = new_volume(driver)
    assert mode(active(driver, volume)[0]) == 0o666

    (share / INDICATOR).write_text("")  # once the indicator is there, auto means secure
    again = remotefs(share=share)
    assert (again.secure_operations, again.secure_permissions) == (True, True)
    driver.delete_volume(volume)


def test_false_writes_nothing(remotefs):
    driver = remotefs(secure_file_operations="false", secure_file_permissions="FALSE")
    assert not (directory(driver) / INDICATOR).exists()
    volume = new_volume(driver)
    assert mode(active(driver, volume)[0]) == 0o666
    driver.delete_volume(volume)


def test_secure_operations_true_refuses_snapshots(remotefs):
    driver = remotefs(secure_file_operations="true")
    assert any("secure_file_operations" in p for p in driver.problems())
    [pool] = driver.pools()
    assert pool.capabilities["snapshot_support"] is False
    volume = new_volume(driver)
    with pytest.raises(InvalidRequest, match="does not take snapshots"):
        driver.create_snapshot(snapshot_ref(volume))
    driver.delete_volume(volume)
