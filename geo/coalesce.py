"""One statement for the like requests of concurrent callers (issue 13).

Under load, a statement's fixed costs (the driver's encoding and its future, the server's
wake-up, executor start-up and commit) are most of a small request's cost. Requests that differ
only in their values can go together: the first caller's is sent at once; those that arrive
while it is in flight wait for it and then go together in the next, one batch per key at a
time. So a batch grows with the load and is a single caller's when idle: no caller waits for a
timer, only for the statement ahead of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")    # noqa: E741 - an item, as K is a key and R a result
R = TypeVar("R")

Send = Callable[[K, list[I]], Awaitable[Sequence[R]]]


class Coalescer(Generic[K, I, R]):
    """`submit(key, item)` from any request: `send(key, items)` gives one result per item, in
    their order, for every item of a key waiting at the time."""

    def __init__(self, send: Send[K, I, R]) -> None:
        self._send = send
        self._pending: dict[K, list[tuple[I, asyncio.Future[R]]]] = {}
        self._senders: dict[K, asyncio.Task[None]] = {}

    async def submit(self, key: K, item: I) -> R:
        """`item`'s result, or what sending its batch raised."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((item, done))
        if key not in self._senders:
            self._senders[key] = asyncio.create_task(self._drain(key))
        # A caller abandoned at its time bound cancels its own future only: the batch, a task
        # of its own, goes on for the others.
        return await done

    async def _drain(self, key: K) -> None:
        try:
            while batch := self._pending.pop(key, None):
                try:
                    results = await self._send(key, [item for item, _ in batch])
                except BaseException as exc:  # noqa: BLE001 - each waiting caller gets it
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                else:
                    for (_, done), result in zip(batch, results, strict=True):
                        if not done.done():
                            done.set_result(result)
        finally:
            del self._senders[key]

    async def close(self) -> None:
        """Wait for the batches in flight and those waiting (the app's shutdown)."""
        while self._senders:
            await asyncio.gather(*self._senders.values(), return_exceptions=True)
