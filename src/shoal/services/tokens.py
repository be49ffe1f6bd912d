"""What a validated token says about its bearer, whoever issued it (Shoal or a Keystone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TokenInfo:
    user_id: str
    user_name: str
    project_id: str | None  # None: an unscoped token, good for nothing but identity calls
    project_name: str | None
    roles: tuple[str, ...]  # role names, implied roles included (admin ⊃ member ⊃ reader)
    expires_at: datetime  # naive UTC
    audit_id: str = ""
    domain_id: str = "default"
    methods: tuple[str, ...] = ("password",)
    issued_at: datetime | None = None
