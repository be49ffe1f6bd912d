"""The appliance's remote replication calls (reference §3.2, the rows the
migration of §3.8 makes), one function each over an `Appliance`'s REST
client, answering the object inside the reply. Source side: targets,
actions, `sendupdate` and `cancelupdate`, a share's `inherited` flag; target side: sources,
their packages, `sever`; and the project calls the move needs.
"""

from __future__ import annotations

from .appliance import (
    ACCEPTED,
    CREATED,
    NO_CONTENT,
    Appliance,
    _seg,
    filesystem_path,
    pool_path,
    project_path,
)
from .rest import ApplianceError

R = "/storage/v1/replication"
REPLICATION_PORT = 216  # a replication target's `address` is "<ip>:216"


def asn(api: Appliance) -> str:
    return str(api.version().get("asn") or "")


def targets(api: Appliance) -> list[dict]:
    return api.rest.call("GET", f"{R}/targets").data.get("targets") or []


def set_inherited(api: Appliance, pool: str, project: str, lun: str, inherited: bool) -> None:
    """Whether the share (a LUN here) replicates with its project; a share of
    its own action must say false first."""
    api.rest.call("PUT", f"{filesystem_path(pool, project, lun)}/replication", {"inherited": inherited},
                  ok=ACCEPTED)


def inherited(api: Appliance, pool: str, project: str, lun: str) -> bool:
    found = api.rest.call("GET", f"{filesystem_path(pool, project, lun)}/replication").data.get("replication")
    return bool((found or {}).get("inherited", True))


def actions(api: Appliance) -> list[dict]:
    return api.rest.call("GET", f"{R}/actions").data.get("actions") or []


def action(api: Appliance, action_id: str) -> dict:
    return api.rest.call("GET", f"{R}/actions/{_seg(action_id)}").data.get("action") or {}


def create_action(api: Appliance, pool: str, project: str, lun: str, target_label: str, target_pool: str) -> dict:
    body = {"pool": pool, "project": project, "share": lun, "target": target_label, "target_pool": target_pool,
            "include_snaps": True}
    return api.rest.call("POST", f"{R}/actions", body, ok=CREATED).data.get("action") or {}


def send_update(api: Appliance, action_id: str) -> None:
    api.rest.call("PUT", f"{R}/actions/{_seg(action_id)}/sendupdate", ok=ACCEPTED)


def cancel_update(api: Appliance, action_id: str) -> bool:
    """Stop the action's running update (`cancelupdate`); False when none was
    running (the appliance answers 409: operation illegal for state)."""
    try:
        api.rest.call("PUT", f"{R}/actions/{_seg(action_id)}/cancelupdate", ok=ACCEPTED)
    except ApplianceError as exc:
        if exc.status == 409:
            return False
        raise
    return True


def projects(api: Appliance, pool: str) -> list[dict]:
    return api.rest.call("GET", f"{pool_path(pool)}/projects").data.get("projects") or []


def delete_action(api: Appliance, action_id: str) -> None:
    api.rest.call("DELETE", f"{R}/actions/{_seg(action_id)}", ok=NO_CONTENT)


def sources(api: Appliance) -> list[dict]:
    return api.rest.call("GET", f"{R}/sources").data.get("sources") or []


def sever(api: Appliance, source: str, package: str, project: str) -> None:
    """The package becomes the local project `project`."""
    api.rest.call("PUT", f"{R}/sources/{_seg(source)}/packages/{_seg(package)}/sever", {"projname": project},
                  ok=ACCEPTED)


def delete_package(api: Appliance, source: str, package: str) -> None:
    api.rest.call("DELETE", f"{R}/sources/{_seg(source)}/packages/{_seg(package)}", ok=NO_CONTENT)


def move_lun(api: Appliance, pool: str, project: str, lun: str, to_project: str) -> None:
    """The appliance moves a LUN between projects through its filesystems path (§3.2)."""
    api.rest.call("PUT", filesystem_path(pool, project, lun), {"project": to_project}, ok=ACCEPTED)


def delete_project(api: Appliance, pool: str, project: str) -> None:
    api.rest.call("DELETE", project_path(pool, project), ok=NO_CONTENT)

