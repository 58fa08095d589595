"""Which SQL statements an in-process app runs: for tests that count queries or writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from geo.db import GENERIC
from tests.conftest import Api


@contextmanager
def statements(api: Api, containing: str = "") -> Iterator[list[str]]:
    """The statements (those containing `containing`) the app runs inside the block; a read's
    plan setting (geo.db.plan_generically) is no statement of its own to count."""
    seen: list[str] = []
    engine = api.http.app.state.engine.sync_engine  # type: ignore[attr-defined]

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if containing in statement and statement != GENERIC:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
