"""geo.coalesce: callers arriving while a batch is in flight go together in the next; each
gets its own result or the batch's error, and a caller that stops waiting stops nobody else."""

from __future__ import annotations

import asyncio

import pytest

from geo.coalesce import Coalescer


class Sender:
    """Doubles each item; a batch is held until `release` is set, and raises on 'boom'."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[object]]] = []
        self.release = asyncio.Event()

    async def __call__(self, key: str, items: list[object]) -> list[object]:
        self.batches.append((key, items))
        await self.release.wait()
        if "boom" in items:
            raise ValueError("refused")
        return [2 * i for i in items]  # type: ignore[operator]


async def test_callers_arriving_during_a_batch_go_together_in_the_next() -> None:
    send = Sender()
    c: Coalescer[str, object, object] = Coalescer(send)
    first = asyncio.create_task(c.submit("a", 1))
    await asyncio.sleep(0)      # the first batch is in flight
    later = [asyncio.create_task(c.submit(k, n)) for k, n in (("a", 2), ("a", 3), ("b", 4))]
    await asyncio.sleep(0)
    send.release.set()
    assert [await first, *[await t for t in later]] == [2, 4, 6, 8]
    assert send.batches == [("a", [1]), ("b", [4]), ("a", [2, 3])]
    await c.close()


async def test_a_failed_batch_fails_each_of_its_callers_and_no_other() -> None:
    send = Sender()
    c: Coalescer[str, object, object] = Coalescer(send)
    first = asyncio.create_task(c.submit("a", 1))
    await asyncio.sleep(0)
    failing = [asyncio.create_task(c.submit("a", x)) for x in (2, "boom")]
    await asyncio.sleep(0)
    send.release.set()
    assert await first == 2
    for t in failing:
        with pytest.raises(ValueError, match="refused"):
            await t
    assert await c.submit("a", 5) == 10      # the next batch is sent as usual


async def test_a_caller_that_stops_waiting_leaves_its_batch_to_the_others() -> None:
    send = Sender()
    c: Coalescer[str, object, object] = Coalescer(send)
    gone, stays = (asyncio.create_task(c.submit("a", n)) for n in (1, 2))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    send.release.set()
    assert await stays == 4
    assert gone.cancelled()
    await c.close()
    assert send.batches == [("a", [1, 2])]
