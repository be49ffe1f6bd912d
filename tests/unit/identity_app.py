"""A Shoal API in identity mode with no storage backends, on a migrated SQLite file:
enough to test identity, tokens and policy in-process."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from shoal.app import create_app
from shoal.config import Settings
from shoal.db.migrate import upgrade
from shoal.services import Services

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ADMIN_PASSWORD = "admin-secret"


@dataclass
class IdentityApp:
    services: Services
    client: TestClient

    def token(self, user: str, password: str, project: str | None = None, **scope_by) -> str:
        body = {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": user, "domain": {"name": "Default"}, "password": password}}}}}
        if project is not None:
            body["auth"]["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
        reply = self.client.post("/identity/v3/auth/tokens", json=body)
        assert reply.status_code == 201, reply.text
        return reply.headers["X-Subject-Token"]

    def admin(self) -> dict:
        return {"X-Auth-Token": self.token("admin", ADMIN_PASSWORD, "admin")}

    def make_user(self, name: str, project: str, role: str, password: str = "pw") -> str:
        """Project (made if missing), user and role assignment through the API; the user's id."""
        h = self.admin()
        found = self.client.get("/identity/v3/projects", params={"name": project}, headers=h).json()["projects"]
        pid = found[0]["id"] if found else self.client.post(
            "/identity/v3/projects", json={"project": {"name": project}}, headers=h).json()["project"]["id"]
        uid = self.client.post("/identity/v3/users", json={"user": {"name": name, "password": password,
                                                                     "default_project_id": pid}},
                               headers=h).json()["user"]["id"]
        rid = self.client.get("/identity/v3/roles", params={"name": role}, headers=h).json()["roles"][0]["id"]
        assert self.client.put(f"/identity/v3/projects/{pid}/users/{uid}/roles/{rid}", headers=h).status_code == 204
        return uid


def identity_app(tmp_path, **identity) -> IdentityApp:
    url = f"sqlite:///{tmp_path}/shoal.db"
    upgrade(url)
    settings = Settings.model_validate({"state_dir": str(tmp_path), "database": {"url": url},
                                        "identity": identity})
    services = Services(settings, drivers={}, volume_drivers={})
    services.identity.bootstrap("admin", ADMIN_PASSWORD, "admin")
    return IdentityApp(services, TestClient(create_app(settings, services, start=False)))
