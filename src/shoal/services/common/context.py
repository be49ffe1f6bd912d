"""Who is asking: the caller's user, project and roles, passed into every service call."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

# The id of the request being served (set by the API for each call), also inside the
# background work it starts (the task runner copies the context): user messages name it.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    project_id: str
    roles: tuple[str, ...] = field(default_factory=tuple)
    request_id: str | None = None
    # An admin authenticated by identity or Keystone reaches any project's resources by
    # id, as upstream; a noauth caller is an admin of the URL's project only.
    cross_project: bool = False
    # The caller's own token (keystone mode), passed on to the services Shoal calls for it
    # (an external Glance), as Cinder passes its caller's token to Glance. Never shown or compared.
    auth_token: str | None = field(default=None, repr=False, compare=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def reaches(self, project_id: str) -> bool:
        """May this caller find a resource of `project_id` by its id?"""
        return project_id == self.project_id or (self.cross_project and self.is_admin)

    @property
    def can_write(self) -> bool:
        """Members manage their project's resources; a reader only reads."""
        return "admin" in self.roles or "member" in self.roles


def admin_context() -> RequestContext:
    return RequestContext(user_id="shoal", project_id="shoal", roles=("admin",))
