"""The data layer's exceptions. Each carries a stable code that the API shows to clients."""

from __future__ import annotations


class JangkauError(Exception):
    """An expected failure whose message a person can act on."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class BadInput(JangkauError):
    code = "BAD_USER_INPUT"


class InvalidGeometry(JangkauError):
    code = "INVALID_GEOMETRY"


class NotFound(JangkauError):
    code = "NOT_FOUND"


class Conflict(JangkauError):
    code = "CONFLICT"


class LimitExceeded(JangkauError):
    code = "LIMIT_EXCEEDED"


class DatabaseUnavailable(JangkauError):
    """The database is down, frozen or restarting: nothing the client did, and worth a retry."""

    code = "DATABASE_UNAVAILABLE"


class ClusterError(DatabaseUnavailable):
    """The private cluster could not be made or started (a CLI failure)."""


ERROR_CODES = (
    "BAD_USER_INPUT",
    "INVALID_GEOMETRY",
    "NOT_FOUND",
    "CONFLICT",
    "LIMIT_EXCEEDED",
    "DATABASE_UNAVAILABLE",
    "INTERNAL_SERVER_ERROR",
)
