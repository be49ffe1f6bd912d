"""What the Identity v3 lists take in the query string, declared as the volume and
share APIs' are (api/openstack/queries.py): read through these models by the
handlers and named in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from shoal.api.openstack.queries import Query, parameters

ENABLED_TRUE, ENABLED_FALSE = ("true", "1", "yes", ""), ("false", "0", "no")


def _enabled(value: Any) -> bool:
    """Shoal's reading of Keystone's `enabled` filter: true/1/yes (or empty), false/0/no."""
    text = str(value).lower()
    if text not in ENABLED_TRUE + ENABLED_FALSE:
        raise ValueError("enabled must be true or false")
    return text in ENABLED_TRUE


def _included(value: Any) -> bool:
    """`include_names` as given: empty, 1 or true (any case) asks for names; anything else not."""
    return str(value).lower() in ("", "1", "true")


Enabled = Annotated[bool, BeforeValidator(_enabled)]
Included = Annotated[bool, BeforeValidator(_included)]


class Named(Query):
    """/domains and /roles: by name."""

    name: str | None = None


class Members(Named):
    """/projects and /users: by name, enabled and domain; projects by parent too
    (Shoal's projects all sit in the Default domain, whose id is their parent's)."""

    enabled: Enabled | None = None
    domain_id: str | None = None
    parent_id: str | None = None


class Assignments(Query):
    """/role_assignments: Shoal has no groups and no domain or system scope, so
    asking for them matches nothing."""

    include_names: Included | None = None
    user_id: str | None = Field(None, alias="user.id")
    project_id: str | None = Field(None, alias="scope.project.id")
    role_id: str | None = Field(None, alias="role.id")
    group_id: str | None = Field(None, alias="group.id")
    domain_scope: str | None = Field(None, alias="scope.domain.id")
    system_scope: str | None = Field(None, alias="scope.system")

    @property
    def unmatched(self) -> bool:
        return any(v is not None for v in (self.group_id, self.domain_scope, self.system_scope))


class Token(Query):
    """A token's validation and issue: `nocatalog`, present or not, whatever its value."""

    nocatalog: str | None = None


NAMED = parameters(Named)
MEMBERS = parameters(Members)
ASSIGNMENTS = parameters(Assignments)
TOKEN = parameters(Token)
