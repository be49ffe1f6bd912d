"""Start-up of a ZFSSA backend and what `shoal doctor` reports about it
(Cinder's do_setup and check_for_setup_error, reference §3.4, §3.7): every
problem is one line that says what is wrong and how to fix it, never a
traceback."""

from __future__ import annotations

from .appliance import Appliance
from .rest import ApplianceError, ApplianceNotFound

MANAGED_SCHEMA = ("cinder_managed", "Boolean", "Managed by Cinder")
# The image cache's LUNs record which image they hold, and as of when (Cinder's names).
CACHE_SCHEMAS = (("image_id", "String", "Image ID"), ("updated_at", "String", "Image updated_at"),
                 ("image_checksum", "String", "Image checksum"))


def pool_problem(api: Appliance, backend: str, pool: str) -> str | None:
    """The pool must exist and be served by the head Shoal talks to (or by a
    stripped cluster peer), as the Cinder drivers checked."""
    try:
        found = api.pool(pool)
    except ApplianceNotFound:
        return (f"pool {pool!r} does not exist on the appliance; fix: set `pool` in [backends.{backend}] to one "
                "of the appliance's pools (Configuration > Storage)")
    owner, asn = found.get("owner"), found.get("asn")
    if owner is None or asn is None:
        return None  # an appliance that does not say: nothing to compare
    version = api.version()
    if version.get("asn") == asn and version.get("nodename") == owner:
        return None
    try:
        peer = api.cluster()
    except ApplianceError:
        peer = {}
    if peer.get("peer_state") == "AKCS_STRIPPED" and peer.get("peer_asn") == asn:
        return None
    return (f"pool {pool!r} is owned by {owner}, not by the head at this address ({version.get('nodename')}); "
            f"fix: point `appliance.address` of [backends.{backend}] at {owner}, or move the pool")


def project_problem(api: Appliance, backend: str, pool: str, project: str, key: str = "project") -> str | None:
    try:
        api.project(pool, project)
    except ApplianceNotFound:
        return (f"project {project!r} does not exist in pool {pool!r}; fix: start Shoal (`shoal serve` creates "
                f"it), create it on the appliance, or correct `{key}` in [backends.{backend}]")
    return None


def service_problem(api: Appliance, service: str) -> str | None:
    try:
        status = api.service(service).get("<status>")
    except ApplianceNotFound:
        return f"the appliance has no {service!r} service; fix: enable it (Configuration > Services)"
    if status != "online":
        return (f"the appliance's {service} service is {status or 'not online'}; fix: enable it "
                f"(Configuration > Services > {service}, or PUT /api/service/v1/services/{service}/enable)")
    return None


def reachable_problem(api: Appliance, backend: str) -> str | None:
    """Login and one call; the error names the fix (address, TLS, credentials)."""
    try:
        api.rest.call("GET", "/system/v1/version")
    except ApplianceError as exc:
        return f"{exc}; check `appliance` in [backends.{backend}]"
    return None


def ensure_schema(api: Appliance, prop: str, kind: str, description: str) -> None:
    if not api.schema_exists(prop):
        api.create_schema(prop, kind, description)


def collect(api: Appliance, backend: str, pool: str, checks) -> list[str]:
    """Whether the appliance answers and has the pool, then the other checks in
    order. An unreachable appliance, a wrong pool or a call failing mid-way
    stops there: every later check would fail for the same reason."""
    gate = reachable_problem(api, backend)
    if gate:
        return [gate]
    try:
        gate = pool_problem(api, backend, pool)
    except ApplianceError as exc:
        gate = str(exc)
    if gate:
        return [gate]
    found: list[str] = []
    for check in checks:
        try:
            problem = check()
        except ApplianceError as exc:
            found.append(str(exc))
            break
        if problem:
            found.append(problem)
    return found
