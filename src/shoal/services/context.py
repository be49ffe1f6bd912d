"""Who is asking: the caller's user, project and roles, passed into every service call."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    project_id: str
    roles: tuple[str, ...] = field(default_factory=tuple)
    request_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_write(self) -> bool:
        """Members manage their project's resources; a reader only reads."""
        return "admin" in self.roles or "member" in self.roles


def admin_context() -> RequestContext:
    return RequestContext(user_id="shoal", project_id="shoal", roles=("admin",))
