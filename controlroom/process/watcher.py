"""File watching for the radar: which paths moved, in debounced batches.

watchfiles wraps the Rust ``notify`` crate (inotify here, with a polling
fallback) and hands over *sets* of changed paths, so a burst of writes to
one file arrives once per batch rather than once per write, without a
Python thread per folder; it is asyncio-native (``awatch``). A batch is
yielded once writes pause for ``step_ms``, or at the latest ``debounce_ms``
after the first one: the bound on how stale the radar can be.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import watchfiles

__all__ = ["Watcher", "outermost"]


def outermost(paths: Iterable[Path]) -> list[Path]:
    """The paths not inside another of them (a recursive watch covers the rest)."""
    unique = sorted({p.resolve() for p in paths}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in unique:
        if not any(path == k or k in path.parents for k in kept):
            kept.append(path)
    return sorted(kept)


class Watcher:
    """Recursively watches ``roots``; yields the sets of absolute paths that moved."""

    def __init__(
        self,
        roots: Iterable[Path],
        ignore: Callable[[str], bool],
        *,
        debounce_ms: int = 150,
        step_ms: int = 30,
    ) -> None:
        self.roots = outermost(r for r in roots if r.is_dir())
        self._ignore = ignore
        self._debounce_ms = debounce_ms
        self._step_ms = step_ms
        self._stop = asyncio.Event()

    def _keep(self, change: watchfiles.Change, path: str) -> bool:
        return (
            f"{os.sep}.git{os.sep}" not in path
            and not path.endswith(f"{os.sep}.git")
            and not (self._ignore(path))
        )

    async def batches(self) -> AsyncIterator[set[str]]:
        """Batches of moved paths until ``stop()``; none at all when there is nothing to watch."""
        if not self.roots:
            return
        async for changes in watchfiles.awatch(
            *self.roots,
            watch_filter=self._keep,
            debounce=self._debounce_ms,
            step=self._step_ms,
            stop_event=self._stop,
            rust_timeout=1_000,
            ignore_permission_denied=True,
        ):
            yield {path for _change, path in changes}

    def covers(self, path: Path) -> bool:
        path = path.resolve()
        return any(path == root or root in path.parents for root in self.roots)

    def stop(self) -> None:
        self._stop.set()
