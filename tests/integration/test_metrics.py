"""/metrics of a real `shoal serve`, read as Prometheus reads it.

The story: an operator scrapes Shoal (from localhost, no token), a user creates
a share and a volume and deletes them, and each scrape shows what that cost:
one `zfs create` per resource, one `zfs destroy` per delete, the API calls
under their route templates with the status they got; pool capacity as the
API's own pool report says; the task queue and this process' memory and fds.
No id of the resources ever appears on the page.
"""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .share_helpers import share_api  # noqa: F401 - fixture
from .volume_helpers import volume_api  # noqa: F401 - fixture

pytestmark = pytest.mark.integration
GiB = 1 << 30


def scrape(server) -> tuple[str, dict[tuple, float]]:
    """The page's text, and every sample by (name, sorted labels)."""
    page = httpx.get(f"{server.url}/metrics", timeout=60)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(page.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return page.text, samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def succeeded(before: dict, after: dict, verb: str) -> float:
    """Commands of `verb` that succeeded in between: zfs-fuse answers a destroy
    right after a create "dataset is busy" now and then, and Shoal tries again
    (each try is a command, the failed ones are errors and retries)."""
    return (moved(before, after, "shoal_commands_total", verb=verb)
            - moved(before, after, "shoal_command_errors_total", verb=verb))


def test_a_share_and_a_volume_as_metrics_show_them(shoal_server, share_api, volume_api):  # noqa: F811
    _, start = scrape(shoal_server)
    share = share_api.create_share(size=1)
    _, after_share = scrape(shoal_server)
    assert moved(start, after_share, "shoal_commands_total", verb="zfs create") == 1
    assert moved(start, after_share, "shoal_command_duration_seconds_count", verb="zfs create") == 1
    assert moved(start, after_share, "shoal_command_errors_total", verb="zfs create") == 0
    assert moved(start, after_share, "shoal_api_requests_total", method="POST",
                 route="/share/v2/{project_id}/shares", status="200") == 1
    assert moved(start, after_share, "shoal_api_requests_total", method="GET",
                 route="/share/v2/{project_id}/shares/{share_id}", status="200") >= 1

    volume = volume_api.create_volume(size=1)
    _, after_volume = scrape(shoal_server)
    assert moved(after_share, after_volume, "shoal_commands_total", verb="zfs create") == 1
    assert moved(after_share, after_volume, "shoal_api_requests_total", method="POST",
                 route="/volume/v3/{project_id}/volumes", status="202") == 1

    share_api.delete_share(share["id"])
    volume_api.delete_volume(volume["id"])
    text, end = scrape(shoal_server)
    assert succeeded(after_volume, end, "zfs destroy") == 2
    assert moved(after_volume, end, "shoal_command_errors_total", verb="zfs destroy") == moved(
        after_volume, end, "shoal_command_retries_total", verb="zfs destroy")
    assert moved(after_volume, end, "shoal_api_requests_total", method="DELETE",
                 route="/share/v2/{project_id}/shares/{share_id}", status="202") == 1
    assert moved(after_volume, end, "shoal_api_requests_total", method="DELETE",
                 route="/volume/v3/{project_id}/volumes/{volume_id}", status="202") == 1
    # every request, the scrapes included, is counted and timed once
    assert moved(start, end, "shoal_api_requests_total", method="GET", route="/metrics", status="200") == 3
    assert moved(start, end, "shoal_api_request_duration_seconds_count", method="GET", route="/metrics") == 3

    for resource_id in (share["id"], volume["id"], shoal_server.project):
        assert resource_id not in text  # route templates and verbs only, never a name or id
    assert value(end, "process_resident_memory_bytes") > 0 and value(end, "process_open_fds") > 0
    assert ("shoal_tasks_queued", ()) in end and ("shoal_task_oldest_queued_seconds", ()) in end
    assert value(end, "shoal_recovery_runs_total", kind="share") >= 0


def test_pool_capacity_as_the_pool_report_says(shoal_server):
    with shoal_server.client() as manila:
        pools = manila.get("/scheduler-stats/pools/detail").json()["pools"]
    _, samples = scrape(shoal_server)
    assert pools
    for pool in pools:
        backend, name = pool["backend"], pool["pool"]
        where = {"backend": backend, "service": "share", "pool": name}
        assert value(samples, "shoal_backend_up", backend=backend, service="share") == 1
        assert value(samples, "shoal_pool_total_bytes", **where) == pytest.approx(
            pool["capabilities"]["total_capacity_gb"] * GiB)
        assert 0 < value(samples, "shoal_pool_free_bytes", **where) <= value(samples, "shoal_pool_total_bytes", **where)
    volume_pools = [key for key in samples if key[0] == "shoal_pool_total_bytes" and ("service", "volume") in key[1]]
    assert volume_pools  # the test backend serves volumes too
