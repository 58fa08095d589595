"""One LISTEN connection per process, fanned out to its live subscribers.

The hub listens on `geo.live.CHANNEL` with a connection of its own (not from the pool), gathers
the ids of the notifications that arrive together, reads them in ONE query per batch
(`geo.live.changes`) and offers the batch to every subscriber, whose filter is judged in memory;
the reads of others' activities that the batch gives every subscriber are written to the access
log in one statement, before any of them is sent.
Each subscriber has a bounded queue: one that falls behind is told so once and dropped, so a slow
client can cost a bounded amount of memory only. When the listening connection is lost (a
database restart) the hub reconnects with backoff and tells every subscriber to resync, since
notifications sent meanwhile are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from geo.access_log import Ledger, Reader, write_many
from geo.errors import JangkauError, LimitExceeded
from geo.live import CHANNEL, Change, changes, parse_payload

log = logging.getLogger("jangkau.live")
T = TypeVar("T")

QUEUE_SIZE = 1_000            # batches a subscriber may have waiting before it is dropped
COALESCE_S = 0.02             # notifications arriving this close together are read as one batch
MAX_BACKOFF_S = 5.0


class Resync(JangkauError):
    """What was published while the listener was away, or too much to name, cannot be replayed
    item by item: resubscribe (with `since`) or reload."""

    code = "RESYNC_REQUIRED"


class Overflow(JangkauError):
    code = "LIMIT_EXCEEDED"


@dataclass(eq=False)
class Subscriber:
    """A live subscription: `accept` picks what it wants from a batch (None: nothing)."""

    owner: str                                  # whose cap it counts against
    accept: Callable[[list[Change]], Any]
    # Whose reads of others' activities go to the access log before they are sent (the
    # accepted items are then ActivityRows), read through `what`.
    reader: Reader | None = None
    what: str = ""
    queue: asyncio.Queue[Any] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    closed: bool = False

    def offer(self, item: Any) -> bool:
        """Queue `item`; False (and the subscriber is told and closed) when it is full."""
        if self.closed:
            return False
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            self.fail(Overflow(f"this subscriber fell {QUEUE_SIZE} batches behind and was "
                               "closed: resubscribe (with `since`) to catch up"))
            return False

    def fail(self, error: JangkauError) -> None:
        """End the subscription with `error` as its last message."""
        self.closed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(error)

    async def next(self) -> Any:
        """The next accepted item; raises the error that ended the subscription."""
        item = await self.queue.get()
        if isinstance(item, JangkauError):
            raise item
        return item


class Hub:
    def __init__(self, url: str, engine: AsyncEngine, max_per_owner: int) -> None:
        self.url = url
        self.engine = engine
        self.max_per_owner = max_per_owner
        self.subscribers: set[Subscriber] = set()
        self.owners: Counter[str] = Counter()
        self.listening = asyncio.Event()
        self._payloads: asyncio.Queue[str] = asyncio.Queue()
        self._lost = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._shared: dict[Hashable, asyncio.Future[Any]] = {}

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._pump())]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for s in list(self.subscribers):
            s.fail(Resync("the server is shutting down: reconnect"))

    def subscribe(self, owner: str, accept: Callable[[list[Change]], Any],
                  reader: Reader | None = None, what: str = "") -> Subscriber:
        if self.owners[owner] >= self.max_per_owner:
            raise LimitExceeded(f"you already have {self.max_per_owner} open subscriptions "
                                "(JANGKAU_MAX_SUBSCRIPTIONS): close one first")
        sub = Subscriber(owner, accept, reader=reader, what=what)
        self.subscribers.add(sub)
        self.owners[owner] += 1
        return sub

    async def shared(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """`work()` run once for all the subscribers that ask for `key` at the same moment
        (those woken by one batch recompute the same figures)."""
        fut = self._shared.get(key)
        if fut is None:
            fut = asyncio.ensure_future(work())
            self._shared[key] = fut
            fut.add_done_callback(lambda _f: self._shared.pop(key, None))
        result: T = await fut
        return result

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.discard(sub)
            self.owners[sub.owner] -= 1

    async def _listen(self) -> None:
        backoff, listened = 0.1, False
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.url, timeout=5)
                self._lost.clear()
                conn.add_termination_listener(lambda _c: self._lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                if listened:       # back after a loss: what was sent meanwhile is gone
                    self._broadcast(Resync("the live feed was interrupted (database restart): "
                                           "resubscribe with `since` to catch up"))
                listened, backoff = True, 0.1
                self.listening.set()
                while not self._lost.is_set() and await _alive(conn):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._lost.wait(), 2.0)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("live feed: cannot listen (%s); retrying in %.1f s",
                            type(exc).__name__, backoff)
            finally:
                self.listening.clear()
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self._payloads.put_nowait(str(payload))

    def _broadcast(self, error: JangkauError) -> None:
        for s in list(self.subscribers):
            s.fail(error)

    async def _pump(self) -> None:
        while True:
            payloads = [await self._payloads.get()]
            await asyncio.sleep(COALESCE_S)
            while not self._payloads.empty():
                payloads.append(self._payloads.get_nowait())
            try:
                await self._deliver(payloads)
            except Exception:  # noqa: BLE001 - one bad batch must not end the feed
                log.exception("live feed: a batch could not be delivered")
                self._broadcast(Resync("the live feed lost a batch: resubscribe with `since`"))

    async def _deliver(self, payloads: list[str]) -> None:
        ids: dict[uuid.UUID, None] = {}
        inserted: set[uuid.UUID] = set()
        for p in payloads:
            named = parse_payload(p)
            if named is None:
                self._broadcast(Resync("too many activities changed at once to send one by "
                                       "one: reload, or resubscribe with `since`"))
                return
            ids.update(dict.fromkeys(named[1]))
            if named[0]:
                inserted.update(named[1])
        if not ids or not self.subscribers:
            return
        async with self.engine.connect() as conn:
            batch = await changes(conn, list(ids), inserted)
        picks = [(s, picked) for s in list(self.subscribers) if (picked := s.accept(batch))]
        reads = []
        for s, picked in picks:
            if s.reader is not None:
                ledger = Ledger(s.reader)
                ledger.note(s.what, ((r.id, r.staff_id) for r in picked))
                reads.append((s.reader, ledger.entries()))
        if any(entries for _, entries in reads):
            # Nothing of another person's location leaves before its reading is on record:
            # one statement for every subscriber of the batch, not one each.
            async with self.engine.begin() as conn:
                await write_many(conn, reads)
        for s, picked in picks:
            s.offer(picked)


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        await asyncio.wait_for(conn.fetchval("SELECT 1"), 2.0)
        return True
    except (OSError, asyncpg.PostgresError, TimeoutError, asyncpg.InterfaceError):
        return False

