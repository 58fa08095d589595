"""Which SQL statements an in-process app runs: for tests that count queries or writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from geo.access_log import EXPAND, expand
from geo.db import GENERIC
from tests.conftest import Api, _client


@contextmanager
def statements(api: Api, containing: str = "") -> Iterator[list[str]]:
    """The statements (those containing `containing`) the app runs inside the block; a read's
    plan setting (geo.db.plan_generically) is no statement of its own to count, and the access
    log's expansion runs after the answer, in the background (geo.access_writer)."""
    seen: list[str] = []
    state = api.http.app.state  # type: ignore[attr-defined]
    engine, direct = state.engine.sync_engine, state.direct

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if containing in statement and statement != GENERIC and statement != EXPAND:
            seen.append(statement)

    def observe(statement: str, args: Any) -> None:
        record(None, None, statement)

    # The engine's statements, and the primary's one-statement reads and writes (geo.direct).
    event.listen(engine, "before_cursor_execute", record)
    if direct is not None:
        direct.observers.append(observe)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        if direct is not None:
            direct.observers.remove(observe)


async def logged_post(app: Any, caller: tuple[str | None, Any, str | None], body: Any,
                      engine: AsyncEngine, **headers: str) -> tuple[httpx.Response, list[Any]]:
    """POST `body` to /graphql as `caller` (role, staff id, unit); the answer and the
    access-log rows it wrote, in a stable order."""
    role, sub, unit = caller
    async with engine.connect() as c:
        await expand(c)
        before = list((await c.execute(text("SELECT id FROM access_log"))).scalars())
    async with _client(app, role, str(sub) if sub else None, unit) as client:
        r = await client.post("/graphql", json=body, headers=headers)
    assert r.status_code < 500, r.text
    async with engine.connect() as c:
        await expand(c)
        logged = (await c.execute(text(
            "SELECT actor_sub, actor_role, subject_staff_id::text, what, detail::text"
            " FROM access_log WHERE id <> ALL(:before) ORDER BY subject_staff_id, what"),
            {"before": before})).all()
    return r, [tuple(x) for x in logged]
