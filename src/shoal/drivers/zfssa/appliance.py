"""The appliance's REST calls Shoal makes, one method each (reference §3.2),
answering plain dicts (the object inside the reply: `lun`, `project`, ...).

Paths are built here from names the config validated or Shoal made from ids;
bodies come from the callers (see `lun_specs` for the LUN ones). A call the
appliance refuses raises `ApplianceError` (`ApplianceNotFound` for a 404).
"""

from __future__ import annotations

from urllib.parse import quote

from .rest import ApplianceNotFound, RestClient

MASK_ALL = "com.sun.ms.vss.hg.maskAll"  # the initiator group of a LUN nobody may reach
OK, CREATED, ACCEPTED, NO_CONTENT = (200,), (201,), (202,), (204,)


def _seg(name: str) -> str:
    return quote(name, safe=":=")


def pool_path(pool: str) -> str:
    return f"/storage/v1/pools/{_seg(pool)}"


def project_path(pool: str, project: str) -> str:
    return f"{pool_path(pool)}/projects/{_seg(project)}"


def lun_path(pool: str, project: str, lun: str) -> str:
    return f"{project_path(pool, project)}/luns/{_seg(lun)}"


def filesystem_path(pool: str, project: str, share: str) -> str:
    return f"{project_path(pool, project)}/filesystems/{_seg(share)}"


class Appliance:
    def __init__(self, rest: RestClient):
        self.rest = rest

    def _get(self, path: str, key: str) -> dict:
        return self.rest.call("GET", path).data.get(key) or {}

    def _exists(self, path: str) -> bool:
        try:
            self.rest.call("GET", path)
        except ApplianceNotFound:
            return False
        return True

    # ---- system ------------------------------------------------------------------------------

    def version(self) -> dict:
        return self._get("/system/v1/version", "version")

    def cluster(self) -> dict:
        return self._get("/hardware/v1/cluster", "cluster")

    def service(self, name: str) -> dict:
        return self._get(f"/service/v1/services/{_seg(name)}", "service")

    def enable_service(self, name: str) -> None:
        self.rest.call("PUT", f"/service/v1/services/{_seg(name)}/enable", ok=ACCEPTED)

    def modify_http_service(self, https_port: int) -> None:
        self.rest.call("PUT", "/service/v1/services/http", {"https_port": https_port, "require_login": True},
                       ok=ACCEPTED)

    # ---- pools and projects ----------------------------------------------------------------------

    def pool(self, pool: str) -> dict:
        return self._get(pool_path(pool), "pool")

    def project(self, pool: str, project: str) -> dict:
        return self._get(project_path(pool, project), "project")

    def create_project(self, pool: str, body: dict) -> None:
        self.rest.call("POST", f"{pool_path(pool)}/projects", body, ok=CREATED)

    # ---- custom properties -------------------------------------------------------------------------

    def schema_exists(self, prop: str) -> bool:
        return self._exists(f"/storage/v1/schema/{_seg(prop)}")

    def create_schema(self, prop: str, kind: str, description: str) -> None:
        self.rest.call("POST", "/storage/v1/schema", {"property": prop, "type": kind, "description": description},
                       ok=CREATED)

    # ---- LUNs and their snapshots ------------------------------------------------------------------

    def luns(self, pool: str, project: str) -> list[dict]:
        return self.rest.call("GET", f"{project_path(pool, project)}/luns").data.get("luns") or []

    def lun(self, pool: str, project: str, lun: str) -> dict:
        return self._get(lun_path(pool, project, lun), "lun")

    def create_lun(self, pool: str, project: str, body: dict) -> dict:
        return self.rest.call("POST", f"{project_path(pool, project)}/luns", body, ok=CREATED).data.get("lun") or {}

    def modify_lun(self, pool: str, project: str, lun: str, body: dict) -> None:
        self.rest.call("PUT", lun_path(pool, project, lun), body, ok=ACCEPTED)

    def delete_lun(self, pool: str, project: str, lun: str) -> None:
        self.rest.call("DELETE", lun_path(pool, project, lun), ok=NO_CONTENT)

    def create_lun_snapshot(self, pool: str, project: str, lun: str, snapshot: str) -> None:
        self.rest.call("POST", f"{lun_path(pool, project, lun)}/snapshots", {"name": snapshot}, ok=CREATED)

    def lun_snapshots(self, pool: str, project: str, lun: str) -> list[dict]:
        return self.rest.call("GET", f"{lun_path(pool, project, lun)}/snapshots").data.get("snapshots") or []

    def lun_snapshot(self, pool: str, project: str, lun: str, snapshot: str) -> dict:
        return self._get(f"{lun_path(pool, project, lun)}/snapshots/{_seg(snapshot)}", "snapshot")

    def rename_lun_snapshot(self, pool: str, project: str, lun: str, snapshot: str, new: str) -> None:
        self.rest.call("PUT", f"{lun_path(pool, project, lun)}/snapshots/{_seg(snapshot)}", {"name": new},
                       ok=ACCEPTED)

    def delete_lun_snapshot(self, pool: str, project: str, lun: str, snapshot: str) -> None:
        self.rest.call("DELETE", f"{lun_path(pool, project, lun)}/snapshots/{_seg(snapshot)}", ok=NO_CONTENT)

    def clone_lun_snapshot(self, pool: str, project: str, lun: str, snapshot: str, body: dict) -> None:
        self.rest.call("PUT", f"{lun_path(pool, project, lun)}/snapshots/{_seg(snapshot)}/clone", body, ok=CREATED)

    def rollback_lun_snapshot(self, pool: str, project: str, lun: str, snapshot: str) -> None:
        """The appliance's snapshot rollback (not a call the Cinder driver made: it had no revert)."""
        self.rest.call("PUT", f"{lun_path(pool, project, lun)}/snapshots/{_seg(snapshot)}/rollback", {},
                       ok=(200, 202))

    # ---- iSCSI initiators and targets ---------------------------------------------------------------

    def initiator_by_alias(self, alias: str) -> dict | None:
        try:
            return self._get(f"/san/v1/iscsi/initiators/alias={_seg(alias)}", "initiator")
        except ApplianceNotFound:
            return None

    def initiator_exists(self, iqn: str) -> bool:
        return self._exists(f"/san/v1/iscsi/initiators/{_seg(iqn)}")

    def create_initiator(self, body: dict) -> None:
        self.rest.call("POST", "/san/v1/iscsi/initiators", body, ok=CREATED)

    def initiator_groups(self) -> list[dict]:
        return self.rest.call("GET", "/san/v1/iscsi/initiator-groups").data.get("groups") or []

    def initiator_group(self, name: str) -> dict | None:
        try:
            return self._get(f"/san/v1/iscsi/initiator-groups/{_seg(name)}", "group")
        except ApplianceNotFound:
            return None

    def create_initiator_group(self, name: str, initiators: list[str]) -> None:
        self.rest.call("POST", "/san/v1/iscsi/initiator-groups", {"name": name, "initiators": initiators}, ok=CREATED)

    def set_initiator_group(self, name: str, initiators: list[str]) -> None:
        self.rest.call("PUT", f"/san/v1/iscsi/initiator-groups/{_seg(name)}", {"initiators": initiators},
                       ok=ACCEPTED)

    def target_by_alias(self, alias: str) -> dict | None:
        try:
            return self._get(f"/san/v1/iscsi/targets/alias={_seg(alias)}", "target")
        except ApplianceNotFound:
            return None

    def create_target(self, body: dict) -> dict:
        return self.rest.call("POST", "/san/v1/iscsi/targets", body, ok=CREATED).data.get("target") or {}

    def target_group(self, name: str) -> dict | None:
        try:
            return self._get(f"/san/v1/iscsi/target-groups/{_seg(name)}", "group")
        except ApplianceNotFound:
            return None

    def create_target_group(self, name: str, targets: list[str]) -> None:
        self.rest.call("POST", "/san/v1/iscsi/target-groups", {"name": name, "targets": targets}, ok=CREATED)

    def set_target_group(self, name: str, targets: list[str]) -> None:
        """Replaces the group's list of targets."""
        self.rest.call("PUT", f"/san/v1/iscsi/target-groups/{_seg(name)}", {"targets": targets}, ok=ACCEPTED)

    # ---- NFS shares (filesystems) -----------------------------------------------------------------------

    def filesystem(self, pool: str, project: str, share: str) -> dict:
        return self._get(filesystem_path(pool, project, share), "filesystem")

    def create_filesystem(self, pool: str, project: str, body: dict) -> None:
        self.rest.call("POST", f"{project_path(pool, project)}/filesystems", body, ok=CREATED)

    def modify_filesystem(self, pool: str, project: str, share: str, body: dict) -> None:
        self.rest.call("PUT", filesystem_path(pool, project, share), body, ok=ACCEPTED)

    def create_filesystem_snapshot(self, pool: str, project: str, share: str, snapshot: str) -> None:
        self.rest.call("POST", f"{filesystem_path(pool, project, share)}/snapshots", {"name": snapshot}, ok=CREATED)

    def delete_filesystem_snapshot(self, pool: str, project: str, share: str, snapshot: str) -> None:
        self.rest.call("DELETE", f"{filesystem_path(pool, project, share)}/snapshots/{_seg(snapshot)}",
                       ok=NO_CONTENT)
