"""DataLoaders shared by a request's resolvers: one awaiter's cancellation harms no other, and an
error nobody waits for any more (a request abandoned at its time bound) is not logged as a bug."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence

import pytest

from graph.loaders import SharedLoader


async def test_an_abandoned_load_leaves_no_unretrieved_error(
        caplog: pytest.LogCaptureFixture) -> None:
    async def fail(keys: Sequence[int]) -> list[int]:
        await asyncio.sleep(0.05)
        raise ConnectionError("the database went away")

    loader: SharedLoader[int, int] = SharedLoader(load_fn=fail)
    waiter = asyncio.ensure_future(loader.load(1))
    await asyncio.sleep(0.01)
    waiter.cancel()                     # the request's task is abandoned
    await asyncio.sleep(0.1)            # the batch fails with no one waiting
    del loader, waiter
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_one_cancelled_awaiter_does_not_cancel_the_others() -> None:
    async def slow(keys: Sequence[int]) -> list[int]:
        await asyncio.sleep(0.05)
        return [k * 2 for k in keys]

    loader: SharedLoader[int, int] = SharedLoader(load_fn=slow)
    first, second = asyncio.ensure_future(loader.load(3)), asyncio.ensure_future(loader.load(3))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == 6
