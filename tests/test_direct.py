"""The primary's one-statement connections (geo.direct): the engine's errors and bounds, a
connection kept while it works and closed when a statement was cut off."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from geo.db import driver_url
from geo.direct import Direct
from geo.errors import DatabaseUnavailable, LimitExceeded

PID = "SELECT pg_backend_pid()"

Make = Callable[..., Direct]


@pytest.fixture
async def direct(db_url: str) -> AsyncIterator[Make]:
    made: list[Direct] = []

    def make(**bounds: float) -> Direct:
        options = {"statement_timeout_ms": 5000, "pool_size": 2, "connect_timeout_s": 3,
                   "pool_timeout_s": 3, **bounds}
        d = Direct(db_url, **options)  # type: ignore[arg-type]
        made.append(d)
        return d

    yield make
    for d in made:
        await d.close()


async def pid(d: Direct) -> int:
    ((found,),) = await d.fetch(PID)
    return int(found)


async def test_a_statement_timeout_is_the_clients_error_and_the_session_is_kept(
        direct: Make) -> None:
    d = direct(statement_timeout_ms=100)
    first = await pid(d)
    with pytest.raises(LimitExceeded, match="JANGKAU_STATEMENT_TIMEOUT_MS"):
        await d.fetch("SELECT pg_sleep(2)")
    assert await pid(d) == first


async def test_statements_plan_generically(direct: Make) -> None:
    ((mode,),) = await direct().fetch("SELECT current_setting('plan_cache_mode')")
    assert mode == "force_generic_plan"


async def test_a_connection_the_server_closed_is_replaced(direct: Make, db_url: str) -> None:
    d = direct()
    first = await pid(d)
    admin = await asyncpg.connect(db_url)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", first)
    finally:
        await admin.close()
    # Closed under it: the next statement is a coded outage or, once the hang-up was read,
    # goes to a new connection; never an uncoded error, and the one after is whole.
    with contextlib.suppress(DatabaseUnavailable):
        await pid(d)
    assert await pid(d) != first


async def test_no_free_connection_within_the_pool_timeout_is_a_coded_outage(
        direct: Make) -> None:
    d = direct(pool_size=1, pool_timeout_s=0.2)
    busy = asyncio.create_task(d.fetch("SELECT pg_sleep(0.6)"))
    await asyncio.sleep(0.1)
    with pytest.raises(DatabaseUnavailable, match="JANGKAU_POOL_TIMEOUT_S"):
        await d.fetch(PID)
    await busy
    assert await pid(d) > 0       # free again


async def test_a_cancelled_statement_does_not_leave_its_connection_in_the_pool(
        direct: Make) -> None:
    d = direct(pool_size=1)
    first = await pid(d)
    cut = asyncio.create_task(d.fetch("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.2)
    cut.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cut
    assert await pid(d) != first


async def test_after_close_a_statement_is_a_coded_outage(direct: Make) -> None:
    d = direct()
    await pid(d)
    await d.close()
    with pytest.raises(DatabaseUnavailable):
        await pid(d)


@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://", "postgresql+asyncpg://"])
async def test_a_database_url_in_any_of_its_forms_is_taken(db_url: str, scheme: str) -> None:
    """DATABASE_URL as SQLAlchemy writes it works here (and for the live hub, which connects
    with the same `driver_url`) as it does for the engine."""
    assert driver_url(scheme + "u@h:5/db") == "postgresql://u@h:5/db"
    d = Direct(scheme + db_url.split("://", 1)[1], statement_timeout_ms=5000, pool_size=1,
               connect_timeout_s=3, pool_timeout_s=3)
    try:
        assert await pid(d) > 0
    finally:
        await d.close()
