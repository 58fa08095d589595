"""One LISTEN connection per process, fanned out to its live subscribers.

The hub listens on `geo.live.CHANNEL` with a connection of its own (not from the pool), gathers
the ids of the notifications that arrive together, reads them in ONE query per batch
(`geo.live.changes`) and offers the batch to every subscriber, whose filter is judged in memory.

Clients do not subscribe to the hub one by one: they join a `Channel`, the one run of a
subscription that every client asking the same thing in the same permission scope shares
(graph.streams decides what is the same). A channel's run is one hub subscriber; each message it
produces is serialised once and offered to all its members, after the reads of others'
activities it carries are on the access log for each member (`publish`: one statement for
whatever all channels publish while the previous one is written).
Each member and subscriber has a bounded queue: one that falls behind is told so once and
dropped, so a slow client can cost a bounded amount of memory only. When the listening
connection is lost (a database restart) the hub reconnects with backoff and tells every
subscriber to resync, since notifications sent meanwhile are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from geo.access_log import Entry, Reader, write_many
from geo.db import driver_url
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
class Mailbox(Generic[T]):
    """A bounded queue of what one consumer has yet to take, ended by an error."""

    queue: asyncio.Queue[T | JangkauError] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    closed: bool = False

    def offer(self, item: T) -> bool:
        """Queue `item`; False (and the consumer is told and closed) when it is full."""
        if self.closed:
            return False
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            self.fail(Overflow(f"this subscriber fell {QUEUE_SIZE} messages behind and was "
                               "closed: resubscribe (with `since`) to catch up"))
            return False

    def fail(self, error: JangkauError) -> None:
        """End with `error` as the last message."""
        self.closed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(error)

    async def next(self) -> T:
        """The next item; raises the error that ended it."""
        item = await self.queue.get()
        if isinstance(item, JangkauError):
            raise item
        return item


@dataclass(eq=False)
class Subscriber(Mailbox[Any]):
    """A channel's run on the feed: `accept` picks what it wants from a batch (None: nothing)."""

    accept: Callable[[list[Change]], Any] = lambda _batch: None


@dataclass(frozen=True)
class Message:
    """One result of a channel's run, serialised once: `kind` is "next", or "error" for a
    request refused before it ran."""

    kind: str
    payload: bytes


END = Message("complete", b"")


@dataclass(eq=False)
class Member(Mailbox[Message]):
    """One client's subscription: a member of a channel."""

    owner: str = ""                  # whose cap it counts against (the token's `sub`)
    reader: Reader | None = None     # whose reads of others' activities are logged
    channel: Channel | None = None


@dataclass(eq=False)
class Channel:
    """The one run of a subscription for its members; `key` None: not shared."""

    key: Hashable | None
    members: set[Member] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class Hub:
    def __init__(self, url: str, engine: AsyncEngine, max_per_owner: int) -> None:
        self.url = driver_url(url)      # asyncpg's own form, whatever the setting's
        self.engine = engine
        self.max_per_owner = max_per_owner
        self.subscribers: set[Subscriber] = set()
        self.channels: set[Channel] = set()
        self._shared_channels: dict[Hashable, Channel] = {}
        self.owners: Counter[str] = Counter()
        # Messages waiting for their reads to be logged: (reads, members, channel, message).
        self._outbox: list[tuple[list[tuple[Reader, list[Entry]]], list[Member], Channel,
                                 Message]] = []
        self._post: asyncio.Task[None] | None = None
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
        bye = Resync("the server is shutting down: reconnect")
        for s in list(self.subscribers):
            s.fail(bye)
        for c in list(self.channels):
            if c.task is not None:
                c.task.cancel()
            for m in c.members:
                m.fail(bye)
        if self._post is not None:      # what is not logged yet is not sent
            self._post.cancel()

    def subscribe(self, accept: Callable[[list[Change]], Any]) -> Subscriber:
        """A channel's run starts taking batches."""
        sub = Subscriber(accept=accept)
        self.subscribers.add(sub)
        return sub

    def join(self, key: Hashable | None, owner: str, reader: Reader | None,
             run: Callable[[Channel], Awaitable[None]]) -> Member:
        """A client's subscription: a member of the channel of `key`, started with `run` when
        there is none yet (always when `key` is None). `run` publishes (`publish`) and the
        channel ends when it returns."""
        if self.owners[owner] >= self.max_per_owner:
            raise LimitExceeded(f"you already have {self.max_per_owner} open subscriptions "
                                "(JANGKAU_MAX_SUBSCRIPTIONS): close one first")
        channel = self._shared_channels.get(key) if key is not None else None
        if channel is None:
            channel = Channel(key)
            self.channels.add(channel)
            if key is not None:
                self._shared_channels[key] = channel
            channel.task = asyncio.create_task(self._run(channel, run))
        member = Member(owner=owner, reader=reader, channel=channel)
        channel.members.add(member)
        self.owners[owner] += 1
        return member

    def leave(self, member: Member) -> None:
        """The client is gone; a channel nobody listens to any more stops."""
        channel = member.channel
        if channel is None or member not in channel.members:
            return
        channel.members.discard(member)
        self.owners[member.owner] -= 1
        if not channel.members:
            self._end(channel)
            if channel.task is not None:
                channel.task.cancel()

    def _end(self, channel: Channel) -> None:
        self.channels.discard(channel)
        if channel.key is not None and self._shared_channels.get(channel.key) is channel:
            del self._shared_channels[channel.key]

    async def _run(self, channel: Channel, run: Callable[[Channel], Awaitable[None]]) -> None:
        try:
            await run(channel)
        except asyncio.CancelledError:
            raise
        except JangkauError as exc:
            self._end(channel)
            for m in list(channel.members):
                m.fail(exc)
            return
        except Exception:  # noqa: BLE001 - the members are told; the feed goes on
            log.exception("live feed: a channel failed")
            self._end(channel)
            for m in list(channel.members):
                m.fail(Resync("the live feed failed: resubscribe with `since`"))
            return
        # No one joins an ending channel: they start a new one.
        self._end(channel)
        for m in list(channel.members):
            m.offer(END)

    async def publish(self, channel: Channel, message: Message, reads: list[Entry]) -> None:
        """Offer `message` to the channel's members once the reads of others' activities it
        carries (`reads`, as a member reads them) are logged for each. It is posted, not
        awaited, so the run goes on to its next result while the log is written; what all
        channels post meanwhile is logged in one statement and offered in order. A member that
        joins meanwhile gets the next message, not this unlogged one."""
        members = list(channel.members)
        if not reads and not self._outbox:
            for m in members:
                m.offer(message)
            return
        self._outbox.append(([(m.reader, reads) for m in members if m.reader is not None],
                             members, channel, message))
        if self._post is None or self._post.done():
            self._post = asyncio.create_task(self._deliver_posted())
        if len(self._outbox) >= QUEUE_SIZE:      # the log lags far behind: wait for it
            await asyncio.shield(self._post)

    async def _deliver_posted(self) -> None:
        while self._outbox:
            posted, self._outbox = self._outbox, []
            reads = [r for logged, _, _, _ in posted for r in logged]
            try:
                if any(entries for _, entries in reads):
                    async with self.engine.begin() as conn:
                        await write_many(conn, reads)
            except Exception:  # noqa: BLE001 - nothing unlogged leaves: its readers are told
                log.exception("live feed: the access log could not be written")
                for _, members, _, _ in posted:
                    for m in members:
                        m.fail(Resync("the live feed could not log what it was sending: "
                                      "resubscribe with `since`"))
                continue
            for _, members, channel, message in posted:
                for m in members:
                    if m in channel.members:
                        m.offer(message)

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
        self.subscribers.discard(sub)

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
                        async with asyncio.timeout(2.0):
                            await self._lost.wait()
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
        for s in list(self.subscribers):
            picked = s.accept(batch)
            if picked:
                s.offer(picked)


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        async with asyncio.timeout(2.0):
            await conn.fetchval("SELECT 1")
        return True
    except (OSError, asyncpg.PostgresError, TimeoutError, asyncpg.InterfaceError):
        return False

