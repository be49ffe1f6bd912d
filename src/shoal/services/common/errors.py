"""Service-level errors; the API turns each into its OpenStack status code and body."""


class ServiceError(Exception):
    code = 500


class Invalid(ServiceError):
    """Bad input or a request that the resource's state does not allow (400)."""

    code = 400


class Forbidden(ServiceError):
    code = 403


class NotFound(ServiceError):
    code = 404


class Conflict(ServiceError):
    code = 409


class OverQuota(ServiceError):
    code = 413


class Unauthorized(ServiceError):
    """No valid credentials: a missing, garbled, expired or revoked token, or a wrong password."""

    code = 401


class ServiceUnavailable(ServiceError):
    """A service Shoal depends on cannot be reached or failed (e.g. the external Keystone)."""

    code = 503
