"""No body gets a 5xx from the volume API's administrative and group calls: schemathesis
fuzzes, from Shoal's OpenAPI document, every operation of QoS specs, volume types (extra
specs, access, encryption), group types, groups, group snapshots, os-services and quota
(class) sets that declares a request body (api/volume/admin_bodies.py, api/volume/bodies.py).

A Shoal of its own (noauth, own pool dataset and ports), as the project's admin at the
newest microversion; EXAMPLES bodies per operation that keep to the declared schema and as
many that break it (negative mode: a string where an integer is due, a missing required
field, ...), half of them aimed at real resources (a private volume type, QoS specs, a
group type, an empty group, this project and a quota class of the test's own), the other
half at ids that do not exist. The only check is schemathesis's `not_a_server_error`.
The server and its database go at the end; it holds no volumes, so nothing is left on
the pool. Bounded by count (some 23 operations, about 460 requests), no shrinking.
"""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from tests.fixtures.shoal import running_shoal

from .volume_helpers import cinder

pytestmark = pytest.mark.integration

OPERATIONS = (r"^/volume/v3/(qos-specs|types|group_types|groups|group_snapshots|os-services|os-quota-sets"
              r"|os-quota-class-sets)(/|$)")  # project-less paths (Cinder's from 3.67)
EXAMPLES = 10  # per operation and generation mode: the bound
HEADERS = {"OpenStack-API-Version": "volume 3.71"}


@pytest.fixture(scope="module")
def admin_fuzz_server(zpool, tmp_path_factory):
    with running_shoal(zpool, tmp_path_factory, "apifuzzadmin") as server:
        yield server


def _operations(server) -> list:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json").include(path_regex=OPERATIONS)
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if list(op.body)]  # the ones that take a body


def _seeds(server) -> dict[str, str]:
    """One real resource of each kind, keyed by the collection before `{id}` in the paths."""
    tag = uuid.uuid4().hex[:6]
    with cinder(server, version="3.71") as client:
        def made(path: str, body: dict, key: str) -> str:
            answer = client.post(path, json=body)
            assert answer.status_code in (200, 202), answer.text
            return answer.json()[key]["id"]

        vtype = made("/types", {"volume_type": {"name": f"fuzz-{tag}", "is_public": False}}, "volume_type")
        gtype = made("/group_types", {"group_type": {"name": f"fuzz-{tag}"}}, "group_type")
        return {"types": vtype, "group_types": gtype,
                "qos-specs": made("/qos-specs", {"qos_specs": {"name": f"fuzz-{tag}"}}, "qos_specs"),
                "groups": made("/groups", {"group": {"group_type": gtype, "volume_types": [vtype]}}, "group"),
                "os-quota-sets": server.project, "os-quota-class-sets": f"fuzz-{tag}",
                "os-services": "enable"}


def _apply(case, seeds: dict[str, str]) -> None:
    segments = case.path.split("/")
    for name in case.path_parameters or {}:
        collection = segments[segments.index("{" + name + "}") - 1]
        if collection in seeds:
            case.path_parameters[name] = seeds[collection]


def _fuzz(operation, seeds: dict[str, str], project: str, mode: GenerationMode, answers: list[int]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans())
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case, real):
        if real:
            _apply(case, seeds)
        headers = {**HEADERS, "X-Auth-Token": f"admin:{project}"}
        answers.append(case.call_and_validate(headers=headers, checks=[not_a_server_error], timeout=120).status_code)

    run()


def test_no_admin_body_gets_a_server_error(admin_fuzz_server):
    operations = _operations(admin_fuzz_server)
    assert len(operations) >= 20, [op.label for op in operations]  # the bodies are all in the document
    seeds = _seeds(admin_fuzz_server)
    failures, answers = [], []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, seeds, admin_fuzz_server.project, mode, answers)
            except (FailureGroup, Exception) as exc:  # noqa: BLE001  (a failed check raises a BaseExceptionGroup)
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    # The bodies reached the services (some changed something) and the models (some were refused).
    codes = {code // 100 * 100 for code in answers}
    assert len(answers) >= 10 * len(operations) and {200, 400} <= codes, sorted(set(answers))
