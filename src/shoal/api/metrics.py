"""`GET /metrics`: Prometheus' text format, and the API's own request series.

Requests are counted by method, route template (`/share/v2/{project_id}/shares/{share_id}`,
never the raw path: no ids in labels) and status. The page itself joins the
process-wide series (commands by verb, recovery counters, this process' RSS
and open fds from prometheus_client's process collector) with what the
services are asked at scrape time (task queue, flows, pool capacity).

Who may read it: anyone from a loopback address, anyone when
`[api] metrics_public = true`, otherwise an admin's token (401 without a
token, 403 for a token without the admin role), as the admin-only API calls.
"""

from __future__ import annotations

import ipaddress
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.concurrency import run_in_threadpool

from shoal.api.openstack.auth import known_caller, validated_caller
from shoal.api.openstack.errors import ApiError
from shoal.services import Services
from shoal.services.common import metrics as _service_counters  # noqa: F401  (recovery series, at 0 from the start)
from shoal.services.common.gauges import ServiceGauges

disable_created_metrics()  # no `_created` twin of every counter and histogram: half the page, nothing lost

PATH = "/metrics"
UNMATCHED = "unmatched"  # a path no route took (404, or a redirect): the path itself is never a label
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter("shoal_api_requests", "API requests answered, by method, route template and status.",
                   ["method", "route", "status"])
LATENCY = Histogram("shoal_api_request_duration_seconds", "How long API requests took, by method and route template.",
                    ["method", "route"], buckets=BUCKETS)


class RequestMetrics:
    """ASGI wrapper: times each request and counts it under the template of the
    route that answered (the router leaves it in the scope)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # unless an answer starts: an exception escaped

        async def send_noting_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            key = (method, route, status)
            counter = _counters.get(key) or _counters.setdefault(key, REQUESTS.labels(method, route, str(status)))
            counter.inc()
            timer = _timers.get(key[:2]) or _timers.setdefault(key[:2], LATENCY.labels(method, route))
            timer.observe(time.perf_counter() - start)


# Each series' child looked up once (labels() costs a lock and a hash per call); as
# bounded as the labels: routes x methods x statuses.
_counters: dict[tuple, object] = {}
_timers: dict[tuple, object] = {}


class _Page:
    """The process-wide registry plus this application's scrape-time gauges."""

    def __init__(self, gauges: ServiceGauges):
        self.gauges = gauges

    def collect(self):
        yield from REGISTRY.collect()
        yield from self.gauges.collect()


def _loopback(request: Request) -> bool:
    try:
        address = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


async def _may_read(request: Request, services: Services) -> None:
    if services.settings.api.metrics_public or _loopback(request):
        return
    ctx = known_caller(request, None) or await run_in_threadpool(validated_caller, request, None)
    if not ctx.is_admin:
        raise ApiError(403, "Policy doesn't allow this operation to be performed.")


def mount(app: FastAPI, services: Services) -> None:
    page = _Page(ServiceGauges(services.core))
    app.add_middleware(RequestMetrics)  # added last: outermost, so it sees every answer's status

    @app.get(PATH, include_in_schema=False)
    async def metrics(request: Request):
        await _may_read(request, services)
        # in a thread: a pool report older than the cache keeps is read from its backend
        return Response(await run_in_threadpool(generate_latest, page), media_type=CONTENT_TYPE_LATEST)
