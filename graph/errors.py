"""Every error a client sees has a stable `extensions.code` and a message a person can act on.

Expected failures raised by the data layer (`geo.errors.JangkauError`) keep their message and
code, and so does an outage of the database (DATABASE_UNAVAILABLE, logged in one line).
GraphQL's own parse and validation errors get the conventional codes. Anything else is a bug:
it is logged here with its stack trace and reaches the client as a bare INTERNAL_SERVER_ERROR,
never with a trace or SQL.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from graphql import GraphQLError

from geo.db import unavailable
from geo.errors import ERROR_CODES, JangkauError

log = logging.getLogger("jangkau.errors")

INTERNAL_MESSAGE = "Internal server error; it has been logged."


class ApiError(JangkauError):
    """Refusals decided in the API layer (authorisation, limits)."""


# graphql-core's wording when a variable's value does not fit its type (not a document error
# such as "Variable '$x' is never used", which is a validation failure).
BAD_VARIABLE = re.compile(
    r"^Variable '\$\w+' ((has|got) invalid value|of (required|non-null) type)")
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
# graphql-core's wording when a literal in the document cannot be read as its type, keeping
# Python's own error as the cause (an Int literal of 5,000 digits): the document's fault.
BAD_LITERAL = re.compile(r"^Expected value of type '[^']+', but encountered error ")

# Every code a client can meet: the data layer's, and those decided over HTTP and GraphQL.
CLIENT_CODES = frozenset({
    *ERROR_CODES, "GRAPHQL_PARSE_FAILED", VALIDATION_FAILED, "BAD_REQUEST",
    "METHOD_NOT_ALLOWED", "QUERY_TOO_COMPLEX", "PERSISTED_QUERY_REQUIRED",
    "PERSISTED_QUERY_NOT_FOUND", "UNAUTHENTICATED", "FORBIDDEN",
})


def refusal_of(error: GraphQLError) -> JangkauError | None:
    """The coded error behind `error`: a refusal, or an outage of the database."""
    original = error.original_error
    if isinstance(original, JangkauError):
        return original
    return unavailable(original) if original is not None else None


def code_of(error: GraphQLError) -> str:
    original = error.original_error
    refusal = refusal_of(error)
    if refusal is not None:
        return refusal.code
    if isinstance(original, GraphQLError):
        # A wrapped cause (a refusal or a bug) decides; a bare coercion message does not.
        inner = code_of(original)
        if inner != VALIDATION_FAILED:
            return inner
    elif original is not None:
        is_literal = error.path is None and BAD_LITERAL.match(error.message)
        return VALIDATION_FAILED if is_literal else "INTERNAL_SERVER_ERROR"
    ext_code = (error.extensions or {}).get("code")
    if isinstance(ext_code, str):
        return ext_code
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if BAD_VARIABLE.match(error.message):
        return "BAD_USER_INPUT"
    return VALIDATION_FAILED


def format_error(error: GraphQLError) -> dict[str, Any]:
    """The error as the client sees it."""
    code = code_of(error)
    formatted: dict[str, Any] = dict(error.formatted)
    refusal = refusal_of(error)
    if code == "INTERNAL_SERVER_ERROR":
        formatted["message"] = INTERNAL_MESSAGE
    elif refusal is not None:
        formatted["message"] = refusal.message
    formatted["extensions"] = {"code": code}
    return formatted


def log_unexpected(errors: list[GraphQLError]) -> None:
    """Bugs with their trace; an outage of the database in one line (it is not a bug)."""
    outage_logged = False
    for error in errors:
        code = code_of(error)
        if code == "DATABASE_UNAVAILABLE" and not outage_logged:
            refusal = refusal_of(error)
            log.warning("database unavailable at %s: %s", error.path,
                        refusal.message if refusal else error.message)
            outage_logged = True     # one line a request, however many fields it failed
        elif code == "INTERNAL_SERVER_ERROR":
            original = error.original_error
            exc_info = ((type(original), original, original.__traceback__)
                        if original else None)
            log.error("unexpected error at %s", error.path, exc_info=exc_info)
