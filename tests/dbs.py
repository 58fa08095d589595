"""Test databases: a template built once per session, cloned per test (`Clones`: made ahead and
dropped behind, off the tests' path), all dropped at the end.

The server is DATABASE_URL's, or Jangkau's private cluster (started if needed). A missing
database is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from geo.database import ensure_database
from geo.settings import Settings

PREFIX = f"jk_test_{os.getpid()}_"
T = TypeVar("T")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def admin_url() -> str:
    return with_database(ensure_database(Settings.from_env()), "postgres")


def run_sync(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a fresh loop in another thread (safe from any calling context)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_fn())).result()


async def create(admin: str, name: str, template: str | None = None) -> str:
    conn = await asyncpg.connect(admin)
    try:
        tpl = f" TEMPLATE {template}" if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{tpl}')
    finally:
        await conn.close()
    return with_database(admin, name)


async def drop(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def drop_stale(admin: str) -> None:
    """Drop test databases left by runs whose process is gone."""
    conn = await asyncpg.connect(admin)
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'jk_test_%'")
        names = [r[0] for r in rows]
        for name in names:
            m = re.match(r"jk_test_(\d+)_", name)
            if m and not os.path.exists(f"/proc/{m.group(1)}"):
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class Clones:
    """Fresh copies of one template, made one ahead and dropped behind on a thread of its own.

    A copy costs a CREATE DATABASE and a DROP DATABASE (a checkpoint) of about half a second
    each on a 2-core machine, for some 650 tests: done while the previous test runs, they
    leave its critical path. Every test still gets a copy nobody else has touched.
    """

    AHEAD = 1        # copies made before they are asked for
    BEHIND = 4       # drops in flight before handing back waits (bounds the disk they hold)

    def __init__(self, admin: str, template: str) -> None:
        self.admin, self.template = admin, template
        self._names = (f"{PREFIX}{template.removeprefix(PREFIX)}_{n}" for n in itertools.count())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._ready: deque[Future[str]] = deque()
        self._drops: deque[Future[None]] = deque()

    def _on_thread(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def take(self) -> str:
        """The URL of a fresh copy."""
        while len(self._ready) <= self.AHEAD:
            self._ready.append(self._on_thread(create(self.admin, next(self._names),
                                                      self.template)))
        return await asyncio.wrap_future(self._ready.popleft())

    def _drop(self, url: str) -> None:
        self._drops.append(self._on_thread(drop(self.admin, urlsplit(url).path[1:])))

    async def give_back(self, url: str) -> None:
        """Drop the copy at `url`, without waiting unless BEHIND drops are in flight."""
        self._drop(url)
        while self._drops and (self._drops[0].done() or len(self._drops) > self.BEHIND):
            await asyncio.wrap_future(self._drops.popleft())

    def close(self) -> None:
        """Drop the copies made ahead, wait for every drop, stop the thread."""
        for made in self._ready:
            self._drop(made.result())
        for dropping in self._drops:
            dropping.result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
