"""No input gets a 5xx: schemathesis fuzzes the share and volume APIs from Shoal's OpenAPI document.

A Shoal of its own (noauth, own pool dataset, ports, ganesha and tgtd) serves
`/openapi.json`; schemathesis reads it and, for each operation on the main
collections -- shares and their actions, share snapshots, access rules, share
networks and their subnets, security services, share groups, their snapshots and
types, share replicas, share and snapshot instances, share quota sets and quota
class sets (not the default class, which every project's defaults come from),
resource locks, a share type's single extra spec (PUT) and its access actions,
volumes and their actions, volume snapshots, attachments -- sends a bounded,
derandomized set of generated requests (valid and invalid bodies, query strings,
ids), as the project's admin at the newest microversion; half of them aimed at
real resources (`Seeds`: a share, its snapshot and access rule, a visibility lock
on that rule, a private share type, a share network, a security service, a
volume, its snapshot and an attachment), the other half at
ids that do not exist. The only check is schemathesis's `not_a_server_error`: any
answer may be a 4xx, none may be a 5xx. Whatever holds data that the fuzzer
managed to create (shares, snapshots, volumes, attachments) is deleted through the
API afterwards, and the server's dataset goes with it; mere records (share
networks, security services, types, quotas) go with the server's state.

Query strings too: every GET of either API whose query parameters the document
declares (the lists of shares, snapshots, networks, messages, groups, transfers,
volumes, attachments, manageable resources, pools, quota sets, ...) is sent
QUERY_EXAMPLES generated query strings that keep to the declared schemas and as
many that break them (negative mode: an integer where a boolean is due, -1 as a
limit, ...), half of them at the seeds.

Bounded by count, not time: EXAMPLES requests per operation (some 135 operations,
about 1600 requests) and 2 x QUERY_EXAMPLES per GET with a query (some 50, about
800 requests), no shrinking; about three minutes here.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from tests.fixtures.shoal import running_shoal

from .share_helpers import ShareApi
from .volume_helpers import cinder
from .volume_helpers import wait_for_status as volume_wait

pytestmark = pytest.mark.integration

# The project-less paths (Manila, and Cinder from 3.67): no {project_id} for the fuzzer to vary.
OPERATIONS = (r"^/share/v2/(shares|snapshots|share-access-rules|share-networks|security-services|share-groups"
              r"|share-group-snapshots|share-group-types|share-replicas|share_instances|snapshot-instances"
              r"|quota-sets|quota-class-sets|resource-locks)(/|$)"
              r"|^/share/v2/types/\{type_id\}/(action|extra_specs/\{key\})$"
              r"|^/volume/v3/(volumes|snapshots|attachments)(/|$)")
EXCLUDED = r"/(manage|metadata/\{key\}|export_locations)"  # outside this test's collections
EXAMPLES = 12  # per operation: the bound
QUERY_OPERATIONS = r"^/(share/v2|volume/v3)/"  # project-less paths (Cinder's from 3.67)
QUERY_EXAMPLES = 8  # per GET with a query and generation mode


def _headers(project: str, path: str) -> dict:
    headers = {"X-Auth-Token": f"admin:{project}"}
    if path.startswith("/share/"):
        headers["X-OpenStack-Manila-API-Version"] = "2.84"
    else:
        headers["OpenStack-API-Version"] = "volume 3.71"
    return headers


@pytest.fixture(scope="module")
def fuzz_server(zpool, tmp_path_factory):
    with running_shoal(zpool, tmp_path_factory, "apifuzz") as server:
        yield server
        _delete_everything(server)


def _operations(server) -> list:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    schema = schema.include(path_regex=OPERATIONS).exclude(path_regex=EXCLUDED)
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda op: op.method.upper() == "DELETE")  # the seeds live longer


def _query_operations(server) -> list:
    """The GETs of either API that declare query parameters."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json").include(path_regex=QUERY_OPERATIONS)
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if op.method.upper() == "GET" and "{project_id}" not in op.path
            and any(True for _ in op.query)]


class Seeds:
    """One real resource of each kind, so that half the generated requests reach a thing that exists.

    Keyed like the paths and bodies name them: (API, the collection before `{id}`) and body fields."""

    def __init__(self, server):
        self.server = server
        self.shares = server.client()
        self.volumes = cinder(server)
        self.ids: dict[tuple[str, str], str] = {}

    def refresh(self) -> None:
        """Make a fresh set when the last operation deleted any of them (a DELETE, a force_delete)."""
        if self.ids and all(self._exists(api, kind, rid) for (api, kind), rid in self.ids.items()):
            return
        api = ShareApi(self.server, self.shares)
        share = api.create_share(size=1)
        snap = api.create_snapshot(share["id"])
        rule = api.allow(share["id"])
        volume = self._create(self.volumes, "/volumes", {"volume": {"size": 1}}, "volume")
        vsnap = self._create(self.volumes, "/snapshots", {"snapshot": {"volume_id": volume}}, "snapshot")
        attachment = self.volumes.post("/attachments", json={"attachment": {
            "volume_uuid": volume, "instance_uuid": str(uuid.uuid4())}})  # reserved: no connector, no export
        assert attachment.status_code == 200, attachment.text
        lock = self.shares.post("/resource-locks", json={"resource_lock": {
            "resource_id": rule["id"], "resource_type": "access_rule", "resource_action": "show"}})
        stype = self.shares.post("/types", json={"share_type": {
            "name": f"fuzz-seed-{uuid.uuid4()}", "share_type_access:is_public": False,
            "extra_specs": {"driver_handles_share_servers": "false"}}})
        assert lock.status_code == 200 and stype.status_code == 200, (lock.text, stype.text)
        network = self.shares.post("/share-networks", json={"share_network": {"name": "fuzz-seed"}})
        service = self.shares.post("/security-services", json={"security_service": {"type": "ldap"}})
        assert network.status_code == 200 and service.status_code == 200, (network.text, service.text)
        self.ids = {("share", "shares"): share["id"], ("share", "snapshots"): snap["id"],
                    ("share", "share-access-rules"): rule["id"], ("volume", "volumes"): volume,
                    ("share", "share-networks"): network.json()["share_network"]["id"],
                    ("share", "security-services"): service.json()["security_service"]["id"],
                    ("volume", "snapshots"): vsnap, ("volume", "attachments"): attachment.json()["attachment"]["id"],
                    ("share", "resource-locks"): lock.json()["resource_lock"]["id"],
                    ("share", "types"): stype.json()["share_type"]["id"]}

    def _exists(self, api: str, kind: str, rid: str) -> bool:
        client = self.shares if api == "share" else self.volumes
        return client.get(f"/{kind}/{rid}").status_code == 200

    @staticmethod
    def _create(client: httpx.Client, path: str, body: dict, key: str) -> str:
        resp = client.post(path, json=body)
        assert resp.status_code == 202, resp.text
        rid = resp.json()[key]["id"]
        volume_wait(client, f"{path}/{rid}", "available")
        return rid

    def apply(self, case) -> None:
        """Point the case's ids (path and body) at the seeds."""
        api = "share" if case.path.startswith("/share/") else "volume"
        segments = case.path.split("/")
        for name in case.path_parameters or {}:
            collection = segments[segments.index("{" + name + "}") - 1]
            if (api, collection) in self.ids:
                case.path_parameters[name] = self.ids[api, collection]
        fields = {"share_id": ("share", "shares"), "access_id": ("share", "share-access-rules"),
                  "volume_id": ("volume", "volumes"), "volume_uuid": ("volume", "volumes"),
                  "snapshot_id": (api, "snapshots"), "attachment_id": ("volume", "attachments"),
                  "share_network_id": ("share", "share-networks"),
                  "security_service_id": ("share", "security-services")}
        for obj in _objects(case.body):
            for field, key in fields.items():
                if isinstance(obj.get(field), str):
                    obj[field] = self.ids[key]


def _objects(body) -> list[dict]:
    """The body and the objects one level in: where the APIs put ids ({"snapshot": {"share_id": ...}})."""
    if not isinstance(body, dict):
        return []
    return [body, *(v for v in body.values() if isinstance(v, dict))]


def _fuzz(operation, seeds: Seeds, project: str, mode: GenerationMode = GenerationMode.POSITIVE,
          examples: int = EXAMPLES) -> None:
    """`examples` generated requests for one operation; the first one answered with a 5xx raises."""

    @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans())
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case, real):
        if real:
            seeds.apply(case)
        if (case.path_parameters or {}).get("class_name") == "default":  # every project's defaults: not fuzzed
            case.path_parameters["class_name"] = "fuzz"
        case.call_and_validate(headers=_headers(project, case.path), checks=[not_a_server_error], timeout=120)

    seeds.refresh()
    run()


def test_no_input_gets_a_server_error(fuzz_server):
    # One test over all operations (schemathesis's own pytest loader does not run under pytest 9),
    # every operation fuzzed even when an earlier one failed, all failures reported together.
    operations = _operations(fuzz_server)
    assert len(operations) >= 30, [op.label for op in operations]  # the collections are all in the document
    seeds = Seeds(fuzz_server)
    failures = []
    for operation in operations:
        try:
            _fuzz(operation, seeds, fuzz_server.project)
        except (FailureGroup, Exception) as exc:  # noqa: BLE001  (a failed check raises a BaseExceptionGroup)
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_no_query_gets_a_server_error(fuzz_server):
    operations = _query_operations(fuzz_server)
    assert len(operations) >= 40, [op.label for op in operations]  # the lists declare their queries
    seeds = Seeds(fuzz_server)
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, seeds, fuzz_server.project, mode, QUERY_EXAMPLES)
            except (FailureGroup, Exception) as exc:  # noqa: BLE001
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)


# ---- clean-up -----------------------------------------------------------------------------

def _delete_everything(server) -> None:
    """Delete, forcibly and through the API, whatever the fuzzer created, and wait until it is gone."""
    base, project = server.url, server.project
    kinds = (  # children before parents (a share's deletion locks before it)
        ("/share/v2/resource-locks", "resource_locks", None),
        ("/volume/v3/attachments", "attachments", None),
        ("/volume/v3/snapshots", "snapshots", {"os-force_delete": {}}),
        ("/volume/v3/volumes", "volumes", {"os-force_delete": {}}),
        ("/share/v2/snapshots", "snapshots", {"force_delete": None}),
        ("/share/v2/shares", "shares", {"force_delete": None}),
    )
    with httpx.Client(base_url=base, timeout=120) as client:
        for path, key, force in kinds:
            headers = _headers(project, path)
            listed = client.get(path, params={"all_tenants": 1}, headers=headers)
            assert listed.status_code == 200, listed.text
            ids = [item["id"] for item in listed.json()[key]]
            for item in ids:
                if force is None:
                    client.delete(f"{path}/{item}", headers=headers)
                else:
                    client.post(f"{path}/{item}/action", json=force, headers=headers)
            deadline = time.monotonic() + 300
            while ids and time.monotonic() < deadline:
                ids = [i for i in ids if client.get(f"{path}/{i}", headers=headers).status_code != 404]
                time.sleep(0.5)
            assert not ids, f"{path}: {ids} were not deleted"
