"""`within`: what `asyncio.wait_for` should be on Python 3.11.

3.11's wait_for swallows a cancellation that arrives together with the awaited result, so a task
told to stop can go on forever; `asyncio.timeout` has no such gap (ruff bans wait_for: TID251).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """`awaitable`'s result, or TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        return await awaitable
