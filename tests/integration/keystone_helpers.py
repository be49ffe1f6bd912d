"""Shoal behind the test Keystone (tests/fixtures/keystone.py): its config, the
clouds.yaml of Keystone's users, and a running Shoal on the port Keystone's catalog
names (`running_keystone_shoal`), for tests/integration/test_keystone_auth.py and
the tests of an external Glance."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fixtures.keystone import Keystone, User
from tests.fixtures.shoal import (
    free_port,
    kill_ganesha,
    start_server,
    stop_server,
    stop_tgtd,
    write_config,
)

from .volume_helpers import VolumeApi

CACHE_SECONDS = 2  # Shoal trusts a validated token this long


@dataclass
class KeystoneShoal:
    url: str
    keystone: Keystone
    state_dir: Path
    pool_root: str
    clouds: Path  # clouds.yaml with one cloud per Keystone user (alice, bob, rita, admin)

    def api(self, user: User | None = None, token: str | None = None) -> httpx.Client:
        """A client of the Block Storage API on the project path of `user` (or of no one)."""
        headers = {"OpenStack-API-Version": "volume 3.71"}
        if user is not None or token is not None:
            headers["X-Auth-Token"] = token or self.keystone.token(user)
        return httpx.Client(base_url=f"{self.url}/volume/v3", headers=headers, timeout=60)


def volume_api(server: KeystoneShoal, user: User) -> VolumeApi:
    """The Block Storage API of `user`'s project, with a token of `user`."""
    client = httpx.Client(base_url=f"{server.url}/volume/v3/{user.project_id}", timeout=60,
                          headers={"X-Auth-Token": server.keystone.token(user), "OpenStack-API-Version": "volume 3.71"})
    return VolumeApi(server, client)


def write_keystone_config(path: Path, state: Path, pool_root: str, iscsi_port: int, keystone: Keystone,
                          backend_keys: str = "") -> None:
    """The test server's usual config (tests/fixtures/shoal.py) on the port that Keystone's
    catalog names, switched to keystone auth; `backend_keys` (TOML lines) go into its backend's table."""
    write_config(path, state, keystone.shoal_port, pool_root, free_port(), free_port(), iscsi_port)
    text = path.read_text().replace("[backends.test]\n", "[backends.test]\n" + backend_keys, 1)
    assert 'auth = "noauth"' in text
    service = keystone.service_user
    path.write_text(text.replace('auth = "noauth"', 'auth = "keystone"') + f"""
[keystone]
auth_url = "{keystone.url}"
username = "{service.name}"
password = "{service.password}"
project_name = "{service.project}"
cache_seconds = {CACHE_SECONDS}
""")


def write_clouds(path: Path, keystone: Keystone) -> None:
    users = {**keystone.users, "admin": keystone.admin}
    path.write_text(json.dumps({"clouds": {name: keystone.cloud(user) for name, user in users.items()}}))
    path.chmod(0o600)


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CINDER_", "MANILA_"))}
    env.update(extra)
    return env


@contextmanager
def running_keystone_shoal(keystone: Keystone, zpool: str, tmp_path_factory, name: str,
                           backend_keys: str = "") -> Iterator[KeystoneShoal]:
    """A Shoal of its own (state, dataset `<zpool>/<name>`, ports, ganesha, tgtd) with
    `api.auth = "keystone"`, stopped and cleaned up on exit."""
    from tests.fixtures.ganesha import _registrations, _restore_registrations
    from tests.fixtures.zfs import destroy_dataset

    rpcbind_before = _registrations()
    state = tmp_path_factory.mktemp(name)
    pool_root = f"{zpool}/{name}"
    subprocess.run(["zfs", "create", pool_root], check=True, capture_output=True)
    config = state / "shoal.toml"
    iscsi_port = free_port()
    process = None
    try:
        write_keystone_config(config, state, pool_root, iscsi_port, keystone, backend_keys)
        url = f"http://127.0.0.1:{keystone.shoal_port}"
        process = start_server(config, state, url)
        clouds = state / "clouds.yaml"
        write_clouds(clouds, keystone)
        yield KeystoneShoal(url, keystone, state, pool_root, clouds)
    finally:
        if process is not None:
            stop_server(process)
        kill_ganesha(state / "ganesha")
        stop_tgtd(iscsi_port)
        _restore_registrations(rpcbind_before)
        destroy_dataset(pool_root)
