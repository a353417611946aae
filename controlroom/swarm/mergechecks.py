"""Merge checks between agents' work: would their branches conflict if merged now?

A check snapshots both agents' working trees (``TrackedWorkspace.snapshot``)
and asks ``git merge-tree --write-tree`` in the scratch objects. Checks are
worth running only for pairs whose change sets overlap (others merge cleanly
by construction), and only again when either side moved: a result is kept
with the two workspaces' generations it was computed at. In the background
each wanted pair is checked at most once every ``EVERY_SECONDS``; a check
git could not make is reported and tried again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from controlroom.models import ErrorEvent, EventBase, MergeCheck
from controlroom.policy.radar import pair
from controlroom.process.gitmerge import merge_tree
from controlroom.swarm.workspaces import TrackedWorkspace

__all__ = ["EVERY_SECONDS", "MergeChecks"]

EVERY_SECONDS = 1.0

Pair = tuple[str, str]


class MergeChecks:
    """Results of merge checks by agent pair, and the background loop that keeps them fresh."""

    def __init__(
        self,
        workspaces: Mapping[str, TrackedWorkspace],
        scratch: Path,
        emit: Callable[[EventBase], None],
        checked: Callable[[], None],
    ) -> None:
        self._workspaces = workspaces  # agent -> its workspace (the radar's, kept current)
        self._scratch = scratch
        self._emit = emit
        self._checked = checked  # called after a round of background checks
        self._results: dict[Pair, tuple[MergeCheck, tuple[int, int]]] = {}
        self._checked_at: dict[Pair, float] = {}
        self._wanted: set[Pair] = set()

    def known(self) -> dict[Pair, MergeCheck]:
        """The latest result of every pair checked (maybe computed before a side moved)."""
        return {key: entry[0] for key, entry in self._results.items()}

    def overlapping(self, pairs: set[Pair], moved: Iterable[str]) -> None:
        """``pairs`` overlap now: forget the rest; want those with an agent that ``moved``."""
        movers = set(moved)
        self._results = {k: v for k, v in self._results.items() if k in pairs}
        kept = {p for p in self._wanted if p in pairs}
        self._wanted = kept | {p for p in pairs if movers & set(p)}

    def want(self, key: Pair) -> None:
        """Check ``key`` again in the background (a check asked for now has failed)."""
        self._wanted.add(key)

    async def check(self, a: str, b: str) -> MergeCheck | None:
        """Would ``a``'s and ``b``'s work merge cleanly? (fresh unless neither side moved)."""
        left, right = self._workspaces.get(a), self._workspaces.get(b)
        if left is None or right is None or left is right:
            return None
        key = pair(a, b)
        gens = (self._workspaces[key[0]].generation, self._workspaces[key[1]].generation)
        cached = self._results.get(key)
        if cached is not None and cached[1] == gens:
            return cached[0]
        self._checked_at[key] = time.monotonic()
        check = await asyncio.to_thread(self._run, key)
        self._results[key] = (check, gens)
        return check

    def _run(self, key: Pair) -> MergeCheck:
        left, right = self._workspaces[key[0]], self._workspaces[key[1]]
        result = merge_tree(left.ws, left.snapshot(), right.snapshot(), self._scratch)
        return MergeCheck(left=key[0], right=key[1], clean=result.clean, files=result.conflicts)

    async def loop(self) -> None:
        """Check the wanted pairs, each at most once every ``EVERY_SECONDS``."""
        while True:
            await asyncio.sleep(EVERY_SECONDS / 2)
            now = time.monotonic()
            due = [
                p
                for p in sorted(self._wanted)
                if now - self._checked_at.get(p, 0.0) >= EVERY_SECONDS
            ]
            for key in due:
                self._wanted.discard(key)
                try:
                    await self.check(*key)
                except Exception as exc:  # git failed (a worktree removed?): try again later
                    self._wanted.add(key)
                    self._emit(
                        ErrorEvent(message=f"merge check {key[0]}/{key[1]}: {exc}", where="radar")
                    )
            if due:
                self._checked()
