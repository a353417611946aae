"""One tracked working tree: the files changed in it against its base, kept live.

The watcher's batches are applied with a quick look (``process.changes``:
blob ids against the base tree, no git process per write); ``confirm`` asks
git itself (``git status`` and ``git diff --numstat``) and its answer
replaces the quick look. Both run in a worker thread under the
workspace's lock and say whether the change set moved, so the radar
publishes only what moved.

Several agents may own one working tree (``workspace = "shared"``): they
share one ``TrackedWorkspace``, since their writes cannot be told apart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controlroom.models import ChangeSet, FileChange
from controlroom.policy.manifests import DependencyKey, changed_pins, is_manifest
from controlroom.process.changes import BlobCache, judge_paths, look_at
from controlroom.process.gitmerge import diff_text, snapshot
from controlroom.process.gitstate import GitWorkspace, TreeEntry, confirm_changes

__all__ = ["TrackedWorkspace"]

_FRESH_MARGIN_NS = 50_000_000  # writes this close before registration are looked at anyway


@dataclass
class TrackedWorkspace:
    """A working tree some agents own, its base commit, and what changed in it."""

    ws: GitWorkspace
    owned: Path  # the folder the agents own: the worktree's top, or their shared folder
    base: str
    tree: Mapping[str, TreeEntry]
    blobs: BlobCache
    scratch: Path | None
    excluded: tuple[str, ...] = ()  # paths (relative to the top) the control room writes
    agents: list[str] = field(default_factory=list)
    files: dict[str, FileChange] = field(default_factory=dict)
    generation: int = 0  # bumps whenever a changed file's content may have moved
    last_write: float = 0.0
    last_confirm: float = 0.0
    dirty: bool = False
    registered_ns: int = field(default_factory=time.time_ns)
    _ignored: dict[str, bool] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _snapshots: dict[int, str] = field(default_factory=dict)
    pins: dict[str, dict[DependencyKey, str]] = field(default_factory=dict)  # see refresh_pins
    _pin_cache: dict[str, tuple[FileChange, dict[DependencyKey, str] | None]] = field(
        default_factory=dict
    )

    @property
    def prefix(self) -> str:
        """The owned folder relative to the top ("" for the whole working tree)."""
        rel = self.owned.relative_to(self.ws.top).as_posix()
        return "" if rel == "." else rel + "/"

    @property
    def pathspec(self) -> list[str]:
        """What git is told to look at: the owned folder, minus the control room's own files."""
        return ([self.prefix] if self.prefix else []) + [f":(exclude){p}" for p in self.excluded]

    def owns(self, rel: str) -> bool:
        return rel.startswith(self.prefix) and not any(
            rel == p or rel.startswith(p + "/") for p in self.excluded
        )

    def change_set(self, agent: str) -> ChangeSet:
        return ChangeSet(
            agent=agent,
            repo=str(self.ws.common_dir),
            root=str(self.owned),
            branch=self.ws.branch,
            base=self.base,
            files=tuple(self.files[p] for p in sorted(self.files)),
        )

    # ------------------------------------------------------------------ in a worker thread

    def apply(self, paths: Iterable[str]) -> bool:
        """The watcher saw ``paths`` (relative to the top) move; True when the change set moved."""
        owned = [p for p in paths if self.owns(p)]
        if not owned:
            return False
        with self._lock:
            self.last_write = time.monotonic()
            self.dirty = True  # git confirms once the writes settle, skipped ones included
            wanted = [p for p in owned if not self._settled_before_us(p)]
            if not wanted:
                return False
            if any(p.rsplit("/", 1)[-1] == ".gitignore" for p in wanted):
                self._ignored.clear()
            judged = judge_paths(self.ws, self.tree, wanted, self.blobs, self._ignored)
            return self._replace({**self.files, **judged}, wanted)

    def confirm(self) -> bool:
        """Git's own account replaces the quick look; True when the change set moved."""
        with self._lock:
            self.dirty = False
            tracked, untracked = confirm_changes(self.ws, self.base, self.pathspec)
            judged = judge_paths(self.ws, self.tree, untracked, self.blobs, self._ignored)
            found = {c.path: c for c in tracked} | judged
            self.last_confirm = time.monotonic()
            return self._replace(found, found)

    def snapshot(self) -> str:
        """The working tree as a commit in the scratch objects (cached per generation)."""
        with self._lock:
            generation = self.generation
            cached = self._snapshots.get(generation)
        if cached is not None:
            return cached
        commit = snapshot(self.ws, self.scratch, self.pathspec)
        with self._lock:
            self._snapshots = {generation: commit}
        return commit

    def diff(self) -> str:
        return diff_text(self.ws, self.base, self.snapshot(), self.scratch, self.pathspec)

    def refresh_pins(self, manifests: Sequence[str]) -> None:
        """``pins``: manifest path → the pins the change made there (re-read only what moved)."""
        out: dict[str, dict[DependencyKey, str]] = {}
        for path, change in list(self.files.items()):
            if not is_manifest(path, manifests):
                continue
            cached = self._pin_cache.get(path)
            if cached is None or cached[0] != change:
                cached = (change, self._read_pins(path))
                self._pin_cache[path] = cached
            if cached[1]:
                out[path] = cached[1]
        self.pins = out

    def _read_pins(self, path: str) -> dict[DependencyKey, str] | None:
        entry = self.tree.get(path)
        if entry is not None:
            self.blobs.fill(self.ws, [entry.oid])
        before = self.blobs.get(entry.oid) if entry is not None else None
        now = look_at(self.ws.top / path).data
        return changed_pins(
            path,
            before.decode(errors="replace") if before is not None else None,
            now.decode(errors="replace") if now is not None else None,
        )

    # ------------------------------------------------------------------ helpers

    def _settled_before_us(self, rel: str) -> bool:
        """A file last written before we registered, and unknown to us: the first confirm saw it."""
        if rel in self.files:
            return False
        try:
            mtime = (self.ws.top / rel).lstat().st_mtime_ns
        except OSError:
            return False
        return mtime < self.registered_ns - _FRESH_MARGIN_NS

    def _replace(self, found: Mapping[str, FileChange | None], touched: Iterable[str]) -> bool:
        """Take ``found`` (None: unchanged) for ``touched``; True when paths or counts moved."""
        files = {p: c for p, c in found.items() if c is not None}
        if any(p in files for p in touched):
            self.generation += 1
        moved = files != self.files
        if moved and not any(p in files for p in touched):
            self.generation += 1
        self.files = files
        return moved
