"""Test databases: a template built once per session, cloned per test, all dropped at the end.

The server is DATABASE_URL's, or Jangkau's private cluster (started if needed). A missing
database is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
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
