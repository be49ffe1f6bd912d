"""The checks of request fields that the share and volume services share: names,
descriptions, sizes, metadata, and Manila's `host@backend#pool`."""

from __future__ import annotations

from typing import Any

from .errors import Invalid

MAX_NAME, MAX_DESCRIPTION = 255, 1024
MAX_SIZE = 2**31 - 1  # GiB: the database's integer, and far beyond any pool


def check_text(field: str, value: str | None, limit: int) -> None:
    """None, or a string of at most `limit` characters that can be stored and answered:
    no NUL, no lone surrogate (it would be stored, then fail every answer that shows it)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string")
    if len(value) > limit:
        raise Invalid(f"{field} is longer than {limit} characters")
    # isprintable() first: cheap, and a surrogate is never printable
    if "\x00" in value or not value.isprintable() and _not_utf8(value):
        raise Invalid(f"{field} must be valid Unicode text without NUL characters")


def _not_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_size(size: Any, field: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, (int, str)):
        raise Invalid(f"{field} must be a positive integer, not {size!r}")
    try:
        value = int(size)
    except (TypeError, ValueError):
        raise Invalid(f"{field} must be a positive integer, not {size!r}") from None
    if isinstance(size, str) and not size.strip().isdigit():
        raise Invalid(f"{field} must be a positive integer, not {size!r}")
    if value <= 0 or value > MAX_SIZE:
        raise Invalid(f"{field} must be a positive integer of at most {MAX_SIZE}, not {size!r}")
    return value


def check_metadata(metadata: Any) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise Invalid("metadata must be an object of string keys and values")
    for key, value in metadata.items():
        if not isinstance(value, str) or not key or len(key) > 255 or len(value) > 1023:
            raise Invalid("metadata keys must be 1-255 characters and values strings of at most 1023")
        check_text("metadata key", key, 255)
        check_text(f"metadata value of {key!r}", value, 1023)  # the key is valid text by now
    return dict(metadata)


def parse_service_host(service_host: Any) -> tuple[str, str]:
    """`host@backend#pool` (Manila's form) → (backend, pool)."""
    if not isinstance(service_host, str) or "@" not in service_host or "#" not in service_host:
        raise Invalid(f"service_host {service_host!r} must look like host@backend#pool")
    backend_pool = service_host.split("@", 1)[1]
    backend, pool = backend_pool.split("#", 1)
    return backend, pool
