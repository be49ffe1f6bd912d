"""The lane's tooling, without a VM (this is what the normal test run and CI
check of the kernel lane): the command parses, reports "not running",
stops idempotently, and the guest recipe is valid bash keyed by its hash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LANE = REPO / "scripts" / "kernel-lane"
RECIPE = REPO / "scripts" / "kernel-lane.d" / "build-guest.sh"


def lane(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SHOAL_LANE_CACHE": str(tmp_path / "cache"), "SHOAL_LANE_RUN": str(tmp_path / "run"),
           "SHOAL_LANE_WORK": str(tmp_path / "work")}
    return subprocess.run([sys.executable, str(LANE), *args], capture_output=True, text=True, env=env, timeout=60)


def test_help_names_every_command(tmp_path):
    result = lane(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("build", "up", "test", "down", "status", "clean"):
        assert f"kernel-lane {command}" in result.stdout


def test_status_without_a_guest(tmp_path):
    result = lane(tmp_path, "status")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "not built" in result.stdout and "not running" in result.stdout


def test_down_is_idempotent(tmp_path):
    for _ in range(2):
        result = lane(tmp_path, "down")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "not running" in result.stdout


def test_unknown_command(tmp_path):
    assert lane(tmp_path, "boot").returncode == 2


def test_recipe_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(RECIPE)], capture_output=True).returncode == 0


def test_nothing_generated_is_in_the_repo():
    """Images and keys live in the cache outside the repo, never next to the recipe."""
    names = {p.name for p in (REPO / "scripts" / "kernel-lane.d").iterdir()}
    assert not names & {"root.img", "vmlinuz", "initrd.img", "id_ed25519", "id_ed25519.pub"}


def test_recipe_installs_the_remotefs_tools():
    """test_kernel_remotefs runs qemu-img/qemu-io and mount.nfs in the guest."""
    recipe = RECIPE.read_text()
    assert "apt_install nfs-common qemu-utils" in recipe
