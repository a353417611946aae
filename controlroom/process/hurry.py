"""Waiting that an operator's "kill now" cuts short: one helper for both kinds of kill.

Why a module of its own: the tree kill (kill.py) and the cgroup kill
(contain.py) both wait out a grace period that ``hurry`` ends at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TypeVar

__all__ = ["unless_hurried"]

T = TypeVar("T")


async def unless_hurried(
    hurry: asyncio.Event | None, waiting: Coroutine[object, object, T], hurried: T
) -> T:
    """What ``waiting`` returns, or ``hurried`` as soon as ``hurry`` is set (it is given up)."""
    if hurry is None:
        return await waiting
    if hurry.is_set():
        waiting.close()
        return hurried
    task = asyncio.ensure_future(waiting)
    woken = asyncio.ensure_future(hurry.wait())
    try:
        await asyncio.wait({task, woken}, return_when=asyncio.FIRST_COMPLETED)
        return task.result() if task.done() and not task.cancelled() else hurried
    finally:
        for pending in (task, woken):
            pending.cancel()
        await asyncio.gather(task, woken, return_exceptions=True)
