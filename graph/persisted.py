"""Persisted-queries-only mode: in production, only the operations the clients ship may run.

`JANGKAU_PERSISTED_QUERIES` names a JSON object mapping the SHA-256 (hex) of each query text to
the text. A request then names its query by `extensions.persistedQuery.sha256Hash` (the Apollo
convention); one that sends only a query text is PERSISTED_QUERY_REQUIRED, and a hash not in
the map is PERSISTED_QUERY_NOT_FOUND; a text sent along with a hash must be the stored one
(else BAD_REQUEST).
The map is checked when the app is made: a key that is not its text's hash stops the start.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension


def refusal(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


@dataclass(frozen=True)
class PersistedQueries:
    queries: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> PersistedQueries:
        try:
            raw = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ValueError(f"JANGKAU_PERSISTED_QUERIES: cannot read {path}: {exc}") from None
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise ValueError(f"JANGKAU_PERSISTED_QUERIES: {path} must be a JSON object "
                             "mapping sha256 hex digests to query texts")
        wrong = [k for k, v in raw.items() if k.lower() != sha256(v)]
        if wrong:
            raise ValueError(f"JANGKAU_PERSISTED_QUERIES: {len(wrong)} key(s) in {path} are not "
                             f"the SHA-256 of their query, e.g. {wrong[0][:16]!r}")
        return cls({k.lower(): v for k, v in raw.items()})

    def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str:
        """The query text this request may run."""
        persisted = (extensions or {}).get("persistedQuery")
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(digest, str):
            raise refusal(
                "PERSISTED_QUERY_REQUIRED", "this server runs persisted queries only: send "
                "extensions.persistedQuery.sha256Hash instead of the query text")
        stored = self.queries.get(digest.lower())
        if stored is None:
            raise refusal(
                "PERSISTED_QUERY_NOT_FOUND", f"no persisted query has the hash {digest[:64]!r}")
        if query is not None and query != stored:
            raise refusal("BAD_REQUEST", "the query text sent differs from the persisted "
                                         "query of that hash; send the hash alone")
        return stored


class PersistedOnly(SchemaExtension):
    """Swaps the request's query for the persisted one its hash names, before anything parses."""

    def __init__(self, persisted: PersistedQueries) -> None:
        self.persisted = persisted

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.query = self.persisted.resolve(ctx.query, ctx.operation_extensions)
        yield
