"""Microversion negotiation for one API (Manila's `X-OpenStack-Manila-API-Version`
and `OpenStack-API-Version: <service> X.Y`, case-insensitive)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from .errors import ApiError

_VERSION = re.compile(r"^([1-9]\d*)\.(0|[1-9]\d*)$")


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> "Version":
        match = _VERSION.match(text.strip())
        if not match:
            raise ValueError(text)
        return cls(int(match.group(1)), int(match.group(2)))

    def __lt__(self, other: "Version") -> bool:
        return (self.major, self.minor) < (other.major, other.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, text: str) -> bool:
        return self >= Version.parse(text)


@dataclass(frozen=True)
class VersionRange:
    service: str  # as in OpenStack-API-Version: "shared-file-system", "volume"
    legacy_header: str | None  # e.g. X-OpenStack-Manila-API-Version
    minimum: Version
    maximum: Version

    def negotiate(self, headers) -> tuple[Version, dict[str, str]]:
        """The version to serve, and the headers that announce it."""
        requested = None
        if self.legacy_header and (value := headers.get(self.legacy_header)):
            requested = value.strip()
        elif value := headers.get("OpenStack-API-Version"):
            for item in value.split(","):
                service, _, ver = item.strip().partition(" ")
                if service.lower() == self.service:
                    requested = ver.strip()
        if requested is None:
            version = self.minimum
        elif requested.lower() == "latest":
            version = self.maximum
        else:
            try:
                version = Version.parse(requested)
            except ValueError:
                raise ApiError(400, f"Invalid API version request string {requested!r}.") from None
            if not self.minimum <= version <= self.maximum:
                raise ApiError(406, f"Version {version} is not supported by the API. Minimum is "
                                    f"{self.minimum} and maximum is {self.maximum}.", self.headers(self.maximum))
        return version, self.headers(version)

    def headers(self, version: Version) -> dict[str, str]:
        out = {"OpenStack-API-Version": f"{self.service} {version}",
               "Vary": "OpenStack-API-Version" + (f",{self.legacy_header}" if self.legacy_header else "")}
        if self.legacy_header:
            out[self.legacy_header] = str(version)
        return out
