"""Who may read /metrics (in-process API, identity mode, no backends), and how
API requests are labelled: by route template, never by raw path."""

from __future__ import annotations

import warnings

from prometheus_client.parser import text_string_to_metric_families

from tests.unit.identity_app import identity_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def samples(text: str) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_remote_callers_need_an_admin_token(tmp_path):
    app = identity_app(tmp_path)
    client = app.client  # its address is "testclient": not a loopback address
    assert client.get("/metrics").status_code == 401
    assert "WWW-Authenticate" in client.get("/metrics").headers
    app.make_user("watcher", "proj", "member")
    member = {"X-Auth-Token": app.token("watcher", "pw", "proj")}
    denied = client.get("/metrics", headers=member)
    assert denied.status_code == 403 and denied.json()["forbidden"]["code"] == 403
    page = client.get("/metrics", headers=app.admin())
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(page.text)}
    assert {"shoal_tasks_queued", "shoal_task_oldest_queued_seconds", "shoal_api_requests", "shoal_commands",
            "shoal_recovery_runs", "process_resident_memory_bytes", "process_open_fds"} <= names


def test_loopback_reads_without_a_token(tmp_path):
    app = identity_app(tmp_path)
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        local = TestClient(app.client.app, client=(address, 40000))
        assert local.get("/metrics").status_code == 200, address
    assert TestClient(app.client.app, client=("192.0.2.7", 40000)).get("/metrics").status_code == 401


def test_metrics_public_opens_it_to_everyone(tmp_path):
    app = identity_app(tmp_path)
    settings = app.services.settings
    app.services.settings = settings.model_copy(update={"api": settings.api.model_copy(update={"metrics_public": True})})
    assert app.client.get("/metrics").status_code == 200


def test_requests_are_counted_by_route_template(tmp_path):
    app = identity_app(tmp_path)
    admin = app.admin()
    missing = "0123456789abcdef0123456789abcdef"
    route = ("route", "/identity/v3/projects/{project_id}")

    def count(status: str) -> float:
        page = samples(app.client.get("/metrics", headers=admin).text)
        return page.get(("shoal_api_requests_total", (("method", "GET"), route, ("status", status)))) or 0.0

    before_404, before_200 = count("404"), count("200")
    assert app.client.get(f"/identity/v3/projects/{missing}", headers=admin).status_code == 404
    assert app.client.get(f"/identity/v3/projects/{missing}", headers=admin).status_code == 404
    assert app.client.get("/no/such/path/" + missing).status_code == 404
    text = app.client.get("/metrics", headers=admin).text
    assert count("404") == before_404 + 2
    assert count("200") == before_200
    assert missing not in text  # neither the id nor the unknown path became a label
    page = samples(text)
    assert page[("shoal_api_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))] >= 1
    assert page[("shoal_api_request_duration_seconds_count", (("method", "GET"), route))] >= 2
