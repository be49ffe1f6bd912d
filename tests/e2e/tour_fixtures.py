"""The client tour of issue 4: one Shoal with its built-in Identity, provisioned
through the unmodified `openstack` client, and the helpers the tour's modules share.
Its Shoal has two volume backends: `test` (ZFS, where the default type goes) and
`nas` (RemoteFS on a directory; a type with `volume_backend_name=nas` goes there).

`tour` (package scope, re-exported by tests/e2e/conftest.py) starts a Shoal of its
own with `auth = "identity"`, bootstraps the first admin offline (`shoal identity
bootstrap`), writes a clouds.yaml into its tmp dir, and as that admin creates two
projects and three users with `openstack project create`, `user create --password`
and `role add`:

    cloud      user    project   role
    admin      admin   admin     admin
    a-member   alice   tour-a    member
    b-member   bob     tour-b    member
    a-reader   rita    tour-a    reader

Every `openstack` call gets the cloud (`--os-cloud`, or OS_CLOUD for a batch) and
OS_CLIENT_CONFIG_FILE pointing at that file; `cinder` gets the same credentials as OS_*
variables; openstacksdk reads the same clouds.yaml. `openstack` costs 1-2 s of start-up
per process, so commands of one cloud that need no wait between them go through one
process (`Tour.osc_batch`), and waiting is done with the SDK. At the end every volume,
snapshot and share left in any project is deleted, then the users and projects, then
the server stops.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.fixtures.remotefs import backend_toml
from tests.fixtures.shoal import SHOAL, ShoalServer, running_shoal

BIN = Path(sys.executable).parent
REGION = "RegionOne"
PROJECTS = ("tour-a", "tour-b")
# cloud name -> (user, project, role); the admin comes from `shoal identity bootstrap`
ACCOUNTS = {
    "a-member": ("alice", "tour-a", "member"),
    "b-member": ("bob", "tour-b", "member"),
    "a-reader": ("rita", "tour-a", "reader"),
}
BATCH_WORD = re.compile(r"^[A-Za-z0-9_.:/=@,+-]+$")
WAIT = 90.0  # seconds for one resource to settle (zfs-fuse on a shared 2-core machine)


class CliError(AssertionError):
    pass


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CINDER_", "MANILA_"))}
    env.update(extra)
    return env


@dataclass
class Tour:
    server: ShoalServer
    clouds_file: Path
    passwords: dict[str, str]  # cloud -> password
    nas_dir: str = ""  # the RemoteFS backend's share directory (NAS_BACKEND)
    users: dict[str, str] = field(default_factory=dict)  # user name -> id
    projects: dict[str, str] = field(default_factory=dict)  # project name -> id
    _conns: dict = field(default_factory=dict)

    @property
    def auth_url(self) -> str:
        return f"{self.server.url}/identity/v3"

    def account(self, cloud: str) -> tuple[str, str, str]:
        return ("admin", "admin", "admin") if cloud == "admin" else ACCOUNTS[cloud]

    # ---- the clients -------------------------------------------------------------------

    def osc(self, cloud: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`openstack --os-cloud CLOUD ARGS`; with check, a non-zero exit is a test failure."""
        env = clean_env(OS_CLIENT_CONFIG_FILE=str(self.clouds_file))
        argv = [str(BIN / "openstack"), "--os-cloud", cloud, *args]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
        if check and result.returncode != 0:
            raise CliError(f"openstack --os-cloud {cloud} {' '.join(args)} failed ({result.returncode}):\n"
                           f"{result.stderr[-3000:]}")
        return result

    def osc_json(self, cloud: str, *args: str):
        return json.loads(self.osc(cloud, *args, "-f", "json").stdout)

    def osc_fails(self, cloud: str, *args: str) -> str:
        """Run a command that must fail; its stderr and stdout, for the caller to check the reason."""
        result = self.osc(cloud, *args, check=False)
        assert result.returncode != 0, f"openstack {' '.join(args)} as {cloud} succeeded:\n{result.stdout}"
        return result.stderr + result.stdout

    def osc_batch(self, cloud: str, *commands: list[str] | tuple[str, ...]) -> list:
        """Several `openstack` commands in one process (its interactive mode, commands on stdin):
        one start-up and one token instead of one each. Every command must succeed; the
        answer is the parsed output of those that print JSON (give them `-f json`), in order.
        (The exit status of the interactive mode says nothing; errors are read from stderr.)"""
        result = self._interactive(cloud, commands)
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert not errors, f"openstack batch as {cloud} failed:\n{result.stderr[-3000:]}"
        docs = json_documents(result.stdout)
        assert len(docs) == sum("json" in c for c in commands), f"outputs of {commands}: {result.stdout[-2000:]}"
        return docs

    def osc_batch_fails(self, cloud: str, expect: str, *commands: list[str] | tuple[str, ...]) -> str:
        """Several commands that must each fail, each with one error that says `expect`
        (e.g. "ForbiddenException: 403": the exception's name too, since a bare status can
        also stand inside a random id in the URL the error quotes); their stderr, for more checks."""
        result = self._interactive(cloud, commands)
        assert json_documents(result.stdout) == [], f"some of {commands} succeeded:\n{result.stdout[-2000:]}"
        assert result.stderr.count(expect) == len(commands), f"errors of {commands}:\n{result.stderr[-3000:]}"
        return result.stderr

    def _interactive(self, cloud: str, commands) -> subprocess.CompletedProcess:
        # The interactive mode joins the words again with single spaces (quoting is lost)
        # and cmd2 reads ; | > & as its own syntax: plain words only.
        for command in commands:
            assert all(BATCH_WORD.match(word) for word in command), f"not batchable: {command}"
        env = clean_env(OS_CLIENT_CONFIG_FILE=str(self.clouds_file), OS_CLOUD=cloud)
        script = "".join(" ".join(command) + "\n" for command in commands)
        return subprocess.run([str(BIN / "openstack")], input=script, env=env, capture_output=True, text=True,
                              timeout=60 + 60 * len(commands))

    def cinder_env(self, cloud: str) -> dict:
        user, project, _role = self.account(cloud)
        return clean_env(OS_AUTH_URL=self.auth_url, OS_USERNAME=user, OS_PASSWORD=self.passwords[cloud],
                         OS_PROJECT_NAME=project, OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
                         OS_REGION_NAME=REGION, OS_IDENTITY_API_VERSION="3", OS_AUTH_TYPE="password")

    def cinder(self, cloud: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`cinder ARGS` with CLOUD's credentials as OS_* variables (password auth)."""
        result = subprocess.run([str(BIN / "cinder"), *args], env=self.cinder_env(cloud), capture_output=True,
                                text=True, timeout=180)
        if check and result.returncode != 0:
            raise CliError(f"cinder {' '.join(args)} as {cloud} failed ({result.returncode}):\n"
                           f"{result.stderr[-3000:]}")
        return result

    def sdk(self, cloud: str):
        """An openstacksdk Connection built from the same clouds.yaml (cached per cloud)."""
        if cloud not in self._conns:
            import openstack.config
            from openstack import connection

            config = openstack.config.OpenStackConfig(config_files=[str(self.clouds_file)], vendor_files=[])
            self._conns[cloud] = connection.Connection(config=config.get_one(cloud=cloud))
        return self._conns[cloud]

    # ---- the raw API -------------------------------------------------------------------

    def token(self, cloud: str, password: str | None = None) -> httpx.Response:
        """POST /identity/v3/auth/tokens with CLOUD's user and project (password method)."""
        user, project, _role = self.account(cloud)
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"},
            "password": self.passwords[cloud] if password is None else password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
        return httpx.post(f"{self.auth_url}/auth/tokens?nocatalog", json=body, timeout=30)

    def token_id(self, cloud: str) -> str:
        response = self.token(cloud)
        assert response.status_code == 201, response.text
        return response.headers["X-Subject-Token"]

    def http(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers={"X-Auth-Token": token}, timeout=30)


def json_documents(text: str) -> list:
    """The JSON documents printed one after another (what a batch of `-f json` commands prints)."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return docs
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)


def listed(tour: Tour, cloud: str, noun: str) -> tuple[set[str], set[str]]:
    """The ids `openstack NOUN list` and `openstack NOUN snapshot list` show to CLOUD (one batch)."""
    items, snaps = tour.osc_batch(cloud, [noun, "list", "-f", "json"], [noun, "snapshot", "list", "-f", "json"])
    return {i["ID"] for i in items}, {s["ID"] for s in snaps}


def assert_not_found(http: httpx.Client, paths: list[str]) -> None:
    """Each GET is 404 with the OpenStack fault body (never 403: existence does not leak)."""
    for path in paths:
        response = http.get(path)
        assert response.status_code == 404, f"{path}: {response.status_code} {response.text}"
        assert response.json()["itemNotFound"]["code"] == 404


# ---- waiting (with the SDK: no CLI start-up per poll) -----------------------------------


def wait_until(what: str, predicate, timeout: float = WAIT, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f}s"
        time.sleep(interval)


def wait_status(get, item_id: str, status: str, timeout: float = WAIT):
    """Poll `get(item_id)` (an SDK getter) until its status is `status`; an error status fails at once."""
    def settled():
        item = get(item_id)
        assert not str(item.status).startswith("error"), f"{item_id} went {item.status}"
        return item if item.status == status else None

    return wait_until(f"{item_id} to be {status}", settled, timeout)


def wait_deleted(get, item_id: str, timeout: float = WAIT) -> None:
    from openstack import exceptions

    def gone():
        try:
            item = get(item_id)
        except exceptions.NotFoundException:
            return True
        assert not str(item.status).startswith("error"), f"{item_id} went {item.status} while deleting"
        return False

    wait_until(f"{item_id} to go away", gone, timeout)


# ---- resources through the SDK (fast set-up and clean-up) ------------------------------


@dataclass(frozen=True)
class Kind:
    """The openstacksdk names of one service's resource and its snapshots."""
    proxy: str
    items: str
    get: str
    delete: str
    snapshots: str
    get_snapshot: str
    delete_snapshot: str
    parent: str  # the snapshot filter naming the resource

    def create(self, proxy, name: str):
        if self.proxy == "block_storage":
            return proxy.create_volume(size=1, name=name)
        return proxy.create_share(share_proto="NFS", size=1, name=name)

    def snapshot(self, proxy, item_id: str, name: str):
        if self.proxy == "block_storage":
            return proxy.create_snapshot(volume_id=item_id, name=name)
        return proxy.create_share_snapshot(share_id=item_id, name=name)


VOLUMES = Kind("block_storage", "volumes", "get_volume", "delete_volume", "snapshots", "get_snapshot",
               "delete_snapshot", "volume_id")
SHARES = Kind("shared_file_system", "shares", "get_share", "delete_share", "share_snapshots",
              "get_share_snapshot", "delete_share_snapshot", "share_id")


def remove(proxy, kind: Kind, item_ids: list[str]) -> None:
    """Delete the resources' snapshots, then the resources, waiting until each is gone."""
    for item_id in item_ids:
        for snap in getattr(proxy, kind.snapshots)(**{kind.parent: item_id}):
            getattr(proxy, kind.delete_snapshot)(snap, ignore_missing=True)
            wait_deleted(getattr(proxy, kind.get_snapshot), snap.id)
    for item_id in item_ids:
        getattr(proxy, kind.delete)(item_id, ignore_missing=True)
    for item_id in item_ids:
        wait_deleted(getattr(proxy, kind.get), item_id)


@contextmanager
def one_in_each_project(tour: Tour, kind: Kind, noun: str):
    """`a-NOUN` with a snapshot `a-NOUN-snap` in tour-a and `b-NOUN` in tour-b, available;
    removed afterwards. Yields their ids as .a, .a_snap and .b."""
    a, b = getattr(tour.sdk("a-member"), kind.proxy), getattr(tour.sdk("b-member"), kind.proxy)
    made: list[tuple] = []
    try:
        for proxy, name in ((a, f"a-{noun}"), (b, f"b-{noun}")):
            made.append((proxy, kind.create(proxy, name).id))
        for proxy, item_id in made:
            wait_status(getattr(proxy, kind.get), item_id, "available")
        snap = kind.snapshot(a, made[0][1], f"a-{noun}-snap")
        wait_status(getattr(a, kind.get_snapshot), snap.id, "available")
        yield SimpleNamespace(a=made[0][1], a_snap=snap.id, b=made[1][1])
    finally:
        for proxy, item_id in made:
            remove(proxy, kind, [item_id])


# ---- set-up and clean-up -----------------------------------------------------------------


def _clouds_yaml(auth_url: str, accounts: dict[str, tuple[str, str, str]], passwords: dict[str, str]) -> str:
    q = json.dumps
    lines = ["clouds:"]
    for cloud, (user, project, _role) in accounts.items():
        lines += [f"  {cloud}:", "    auth_type: password", "    auth:", f"      auth_url: {q(auth_url)}",
                  f"      username: {q(user)}", f"      password: {q(passwords[cloud])}",
                  f"      project_name: {q(project)}", "      user_domain_name: Default",
                  "      project_domain_name: Default", f"    region_name: {REGION}",
                  "    identity_api_version: 3"]
    return "\n".join(lines) + "\n"


def provision(tour: Tour) -> None:
    """Projects, users and roles, created by the admin with the `openstack` client (one batch)."""
    commands = [["project", "create", "--domain", "Default", "--description", f"client-tour-{name}", name,
                 "-f", "json"] for name in PROJECTS]
    for cloud, (user, project, _role) in ACCOUNTS.items():
        commands.append(["user", "create", "--domain", "Default", "--project", project, "--password",
                         tour.passwords[cloud], user, "-f", "json"])
    commands += [["role", "add", "--user", user, "--project", project, role]
                 for user, project, role in ACCOUNTS.values()]
    docs = tour.osc_batch("admin", *commands)
    for name, project in zip(PROJECTS, docs):
        assert project["name"] == name and project["domain_id"] == "default" and project["enabled"] is True
        tour.projects[name] = project["id"]
    for (user, project, _role), created in zip(ACCOUNTS.values(), docs[len(PROJECTS):]):
        assert created["name"] == user and created["default_project_id"] == tour.projects[project]
        assert "password" not in created
        tour.users[user] = created["id"]


def sweep(tour: Tour) -> list[str]:
    """Delete whatever the tour left in its projects (as each project's member, who owns it).
    Returns what had to be deleted, for the report; never raises."""
    left: list[str] = []
    for cloud in ("a-member", "b-member", "admin"):
        try:
            conn = tour.sdk(cloud)
            for proxy, kind in ((conn.shared_file_system, SHARES), (conn.block_storage, VOLUMES)):
                ids = [item.id for item in getattr(proxy, kind.items)()]
                left += [f"{kind.items} {item_id} of {cloud}" for item_id in ids]
                remove(proxy, kind, ids)
        except Exception as exc:  # noqa: BLE001 - a clean-up reports, it does not mask the test's failure
            left.append(f"sweep of {cloud} failed: {exc}")
    return left


NAS_BACKEND = "nas"  # the tour's second volume backend: Cinder's RemoteFS driver on a directory


@contextmanager
def nas_share(zpool: str):
    """The NAS share directory of the tour's RemoteFS backend: a dataset of the test pool with
    a 1 GiB quota, so that it never has the most free space and volumes of the default type
    stay on the ZFS backend (only a type naming `nas` puts volumes there)."""
    from tests.fixtures.zfs import destroy_dataset

    dataset = f"{zpool}/tour-nas"
    subprocess.run(["zfs", "create", "-o", "quota=1G", dataset], check=True, capture_output=True)
    try:
        mountpoint = subprocess.run(["zfs", "get", "-H", "-o", "value", "mountpoint", dataset], check=True,
                                    capture_output=True, text=True).stdout.strip()
        yield mountpoint
    finally:
        destroy_dataset(dataset)


@contextmanager
def tour_shoal(zpool: str, tmp_path_factory, name: str = "tour", extra_config: str = "", nas_dir: str = ""):
    """A tour Shoal (its own identity, clouds.yaml, projects and users) with the
    `[backends.*]` tables of `extra_config` next to its ZFS backend `test`;
    everything left in its projects is swept away at the end."""
    for tool in ("openstack", "cinder"):
        if not (BIN / tool).exists():
            pytest.skip(f"{tool} is not installed in this venv; run scripts/host-setup")
    pytest.importorskip("openstack")
    passwords = {cloud: "p" + secrets.token_urlsafe(12) for cloud in ("admin", *ACCOUNTS)}

    def bootstrap(config: Path) -> None:
        done = subprocess.run([*SHOAL, "--config", str(config), "identity", "bootstrap"], capture_output=True,
                              text=True, env={**os.environ, "SHOAL_PASSWORD": passwords["admin"]}, timeout=120)
        assert done.returncode == 0, done.stderr
        assert passwords["admin"] not in done.stdout + done.stderr

    with running_shoal(zpool, tmp_path_factory, name, auth="identity", before_start=bootstrap,
                       extra_config=extra_config) as server:
        clouds = server.state_dir / "clouds.yaml"
        accounts = {"admin": ("admin", "admin", "admin"), **ACCOUNTS}
        clouds.write_text(_clouds_yaml(f"{server.url}/identity/v3", accounts, passwords))
        clouds.chmod(0o600)
        tour = Tour(server, clouds, passwords, nas_dir=nas_dir)
        try:
            admin_project = tour.osc_json("admin", "project", "show", "admin")
            tour.projects["admin"] = admin_project["id"]
            provision(tour)
            yield tour
        finally:
            left = sweep(tour)
            if left:
                print(f"\nclient tour: cleaned up after a failure: {left}")
            if tour.users:
                tour.osc("admin", "user", "delete", *tour.users.values(), check=False)
            made = [tour.projects[p] for p in PROJECTS if p in tour.projects]
            if made:
                tour.osc("admin", "project", "delete", *made, check=False)


@pytest.fixture(scope="package")
def tour(zpool, tmp_path_factory):
    with nas_share(zpool) as nas_dir, tour_shoal(zpool, tmp_path_factory, "tour", backend_toml(NAS_BACKEND, nas_dir),
                                                 nas_dir) as tour:
        yield tour
