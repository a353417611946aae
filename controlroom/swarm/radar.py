"""The live radar: what every agent changed, where they collide, and writes nobody may make.

One watcher covers the swarm (the shared repository, the run's worktrees,
agents' folders). Each batch of moved paths goes to the workspace that owns
it; a workspace whose change set moved publishes ``files_changed`` for its
agents, and only then are collisions recomputed (cheap and pure, in
``policy.radar``) and merge checks queued for the pairs that moved. Merge
checks (``git merge-tree`` between snapshots of the agents' work) run in
the background, each pair at most once a second. A write into the shared
repository that no agent owns is a ``scope_violation``, once per path.

Git confirms what the watcher saw once an agent's writes pause for
``QUIET_SECONDS`` (at the latest every ``STALE_SECONDS`` while it keeps
writing), and every workspace every ``SAFETY_SECONDS`` in case the kernel
dropped events. Everything git does runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from controlroom._errors import GitError
from controlroom.models import (
    FILES_LISTED,
    ChangeSet,
    Collision,
    CollisionCleared,
    CollisionFound,
    ErrorEvent,
    EventBase,
    FilesChanged,
    Handoff,
    HandoffChecked,
    MergeCheck,
    SwarmConfig,
)
from controlroom.policy.discrepancies import handoff_discrepancies
from controlroom.policy.radar import (
    compare_collisions,
    find_collisions,
    overlapping_pairs,
    verdict,
)
from controlroom.process.changes import BlobCache
from controlroom.process.gitstate import GitWorkspace, TreeEntry, discover, tree_entries
from controlroom.process.watcher import Watcher
from controlroom.process.workspace import worktrees_root
from controlroom.swarm.mergechecks import MergeChecks
from controlroom.swarm.scope import Scope
from controlroom.swarm.workspaces import TrackedWorkspace

__all__ = ["Radar"]

QUIET_SECONDS = 1.0
STALE_SECONDS = 10.0
SAFETY_SECONDS = 60.0

CollisionKey = tuple[str, str, str, tuple[str, ...]]


class Radar:
    """Change sets, collisions and scope for one run's agents."""

    def __init__(
        self,
        config: SwarmConfig,
        *,
        run_id: str,
        run_dir: Path,
        base_dir: Path,
        audit_db: Path,
        emit: Callable[[EventBase], None],
    ) -> None:
        self.config = config
        self.manifests = list(config.swarm.manifests)
        self.run_id = run_id
        self.run_dir = run_dir.resolve()
        self.base_dir = base_dir.resolve()
        self.scratch = self.run_dir / "radar" / run_id
        self.emit = emit
        self.scope = Scope(self.run_dir, run_id, audit_db.resolve(), emit)
        self.workspaces: dict[Path, TrackedWorkspace] = {}
        self.by_agent: dict[str, TrackedWorkspace] = {}
        self.untracked: dict[str, str] = {}  # agent → why its changes are not tracked
        self.collisions: dict[CollisionKey, tuple[Collision, float]] = {}  # with since (epoch)
        self.checks = MergeChecks(self.by_agent, self.scratch, emit, lambda: self._recompute([]))
        self.checked: dict[str, HandoffChecked] = {}  # each agent's last handoff check
        self.into: dict[str, tuple[str, MergeCheck | None]] = {}  # its check against integration
        self._trees: dict[tuple[Path, str], dict[str, TreeEntry]] = {}
        self._blobs = BlobCache()
        self._watcher: Watcher | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Find the shared repository and start watching it, the worktrees and agents' folders."""
        self.scope.shared = await asyncio.to_thread(discover, self.base_dir)
        roots = await asyncio.to_thread(self._roots)
        if not roots:  # no repository anywhere: nothing to track, nothing to watch
            return
        self._watcher = Watcher(roots, self.scope.ignored)
        self._tasks = [
            asyncio.create_task(self._watch(self._watcher), name="radar-watch"),
            asyncio.create_task(self._settle_loop(), name="radar-settle"),
            asyncio.create_task(self.checks.loop(), name="radar-checks"),
        ]

    def _roots(self) -> list[Path]:
        """Folders in a git repository that some agent may write to."""
        candidates: list[Path] = []
        if self.scope.shared is not None:
            candidates.append(self.scope.shared.top)
        for spec in self.config.agents:
            if spec.workspace == "worktree" and self.scope.shared is not None:
                candidates.append(worktrees_root(self.run_dir, self.run_id))
            elif spec.workspace not in ("shared", "worktree"):
                folder = Path(spec.workspace)
                if folder.is_dir() and discover(folder) is not None:
                    candidates.append(folder)
        return candidates

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(shutil.rmtree, self.scratch, True)

    # ------------------------------------------------------------------ agents

    async def track(self, agent: str, cwd: Path, whole_tree: bool) -> None:
        """Start tracking ``agent``'s workspace (before it is spawned; a restart keeps it).

        Git failing here leaves the agent untracked (said in an error event),
        never unstarted: the radar watches, it does not gate.
        """
        if agent in self.by_agent or agent in self.untracked:
            return
        try:
            tracked = await self._register(agent, cwd, whole_tree)
        except (GitError, OSError) as exc:
            self.untracked[agent] = f"git could not read its workspace: {exc}"
            self.emit(ErrorEvent(agent=agent, message=self.untracked[agent], where="radar"))
            return
        if tracked is None:
            return
        if self._watcher is not None and not self._watcher.covers(tracked.owned):
            self.emit(
                ErrorEvent(
                    agent=agent,
                    message=f"{tracked.owned} is outside every watched folder: its changes "
                    "are seen by git every minute and at its gate, not live",
                    where="radar",
                )
            )
        self.emit(_files_changed(tracked.change_set(agent), confirmed=True))
        self._recompute([tracked])

    async def _register(self, agent: str, cwd: Path, whole_tree: bool) -> TrackedWorkspace | None:
        ws = await asyncio.to_thread(discover, cwd)
        if ws is None:
            self.untracked[agent] = "its workspace is not in a git repository with a commit"
            return None
        owned = ws.top if whole_tree else cwd.resolve()
        tracked = self.workspaces.get(owned)
        if tracked is None:
            tree = await asyncio.to_thread(self._tree, ws, ws.head)
            tracked = TrackedWorkspace(
                ws, owned, ws.head, tree, self._blobs, self.scratch, self.scope.excluded_in(ws)
            )
            await asyncio.to_thread(tracked.confirm)
            await asyncio.to_thread(tracked.refresh_pins, self.manifests)
            self.workspaces[owned] = tracked
        tracked.agents.append(agent)
        self.by_agent[agent] = tracked
        return tracked

    def _tree(self, ws: GitWorkspace, commit: str) -> dict[str, TreeEntry]:
        key = (ws.common_dir, commit)
        if key not in self._trees:
            self._trees[key] = tree_entries(ws, commit)
        return self._trees[key]

    def change_set(self, agent: str) -> ChangeSet | None:
        tracked = self.by_agent.get(agent)
        return tracked.change_set(agent) if tracked is not None else None

    def change_sets(self) -> list[ChangeSet]:
        return [w.change_set(a) for a, w in sorted(self.by_agent.items())]

    async def settle(self, agent: str) -> ChangeSet | None:
        """Ask git now (an agent at its gate): the change set exactly as git sees it."""
        tracked = self.by_agent.get(agent)
        if tracked is None:
            return None
        if await asyncio.to_thread(tracked.confirm):
            await asyncio.to_thread(tracked.refresh_pins, self.manifests)
            self._moved([tracked], confirmed=True)
        return tracked.change_set(agent)

    async def diff(self, agent: str) -> str:
        tracked = self.by_agent.get(agent)
        return "" if tracked is None else await asyncio.to_thread(tracked.diff)

    async def check(self, a: str, b: str) -> MergeCheck | None:
        """Would ``a``'s and ``b``'s work merge cleanly now?"""
        return await self.checks.check(a, b)

    async def check_handoff(
        self,
        agent: str,
        handoff: Handoff,
        integration: tuple[str, MergeCheck | None] | None = None,
    ) -> HandoffChecked | None:
        """Hold ``agent``'s handoff against its diff (asked of git now), with its merge verdict.

        Returns the ``handoff_checked`` event (also published), or None when
        the agent's workspace is not tracked.
        """
        change_set = await self.settle(agent)
        tracked = self.by_agent.get(agent)
        if change_set is None or tracked is None:
            return None
        if integration is not None:
            self.into[agent] = integration
        for other in sorted(overlapping_pairs(self.change_sets())):
            if agent in other:
                try:
                    await self.check(*other)
                except GitError:  # git failed or was busy: the background checks try it again
                    self.checks.want(other)
        self._recompute([])
        event = HandoffChecked(
            agent=agent,
            file_count=len(change_set.files),
            discrepancies=handoff_discrepancies(handoff.changed, change_set.files, tracked.tree),
            verdict=self.verdict(agent, integration),
        )
        self.checked[agent] = event
        self.emit(event)
        return event

    def verdict(self, agent: str, integration: tuple[str, MergeCheck | None] | None = None) -> str:
        """``merges cleanly with implementer; conflicts with tester in src/client.py``.

        Live: from the change sets and merge checks now (an agent that wrote
        after this one handed off shows up), with the integration branch's
        check given, else the one made at its last handoff.
        """
        if agent in self.untracked:
            return f"not tracked: {self.untracked[agent]}"
        into = integration if integration is not None else self.into.get(agent)
        return verdict(agent, self.change_sets(), self.checks.known(), into)

    # ------------------------------------------------------------------ watching

    async def _watch(self, watcher: Watcher) -> None:
        try:
            async for batch in watcher.batches():
                await self._on_batch(batch)
        except Exception as exc:  # the radar failing must never take supervision down
            self.emit(ErrorEvent(message=f"file watching stopped: {exc}", where="radar"))

    async def _on_batch(self, paths: Iterable[str]) -> None:
        groups: dict[Path, list[str]] = {}
        strays: list[str] = []
        owners = sorted(self.workspaces.values(), key=lambda w: -len(w.owned.parts))
        for path in paths:
            owner = next((w for w in owners if _inside(path, w.owned)), None)
            if owner is None:
                strays.append(path)
            else:
                groups.setdefault(owner.owned, []).append(path)
        if groups:
            moved = await asyncio.to_thread(self._apply, groups)
            self._moved(moved, confirmed=False)
        self.scope.report(strays)

    def _apply(self, groups: dict[Path, list[str]]) -> list[TrackedWorkspace]:
        moved = []
        for owned, paths in groups.items():
            tracked = self.workspaces[owned]
            top = str(tracked.ws.top) + "/"
            if tracked.apply(p[len(top) :] for p in paths if p.startswith(top)):
                tracked.refresh_pins(self.manifests)
                moved.append(tracked)
        return moved

    def _moved(self, moved: Sequence[TrackedWorkspace], *, confirmed: bool) -> None:
        for tracked in moved:
            for agent in tracked.agents:
                self.emit(_files_changed(tracked.change_set(agent), confirmed=confirmed))
        if moved:
            self._recompute(moved)

    def _recompute(self, moved: Sequence[TrackedWorkspace]) -> None:
        """Collisions from every change set; merge checks wanted for the pairs that moved."""
        sets = self.change_sets()
        self.checks.overlapping(overlapping_pairs(sets), (a for w in moved for a in w.agents))
        pins = {a: w.pins for a, w in self.by_agent.items() if w.pins}
        found = find_collisions(sets, self.manifests, pins, self.checks.known().values())
        known = {key: entry[0] for key, entry in self.collisions.items()}
        raised, cleared = compare_collisions(known, found)
        for collision in cleared:
            del self.collisions[collision.key]
            self.emit(CollisionCleared.of(collision))
        for collision in raised:
            self.collisions[collision.key] = (collision, time.time())
            self.emit(CollisionFound.of(collision))

    async def _settle_loop(self) -> None:
        """Git confirms what the watcher saw: after a pause in writing, and now and then anyway."""
        while True:
            await asyncio.sleep(QUIET_SECONDS / 4)
            now = time.monotonic()
            for tracked in list(self.workspaces.values()):
                quiet = now - tracked.last_write >= QUIET_SECONDS
                stale = now - tracked.last_confirm
                due = tracked.dirty and (quiet or stale >= STALE_SECONDS)
                if due or stale >= SAFETY_SECONDS:
                    await self._confirm(tracked)

    async def _confirm(self, tracked: TrackedWorkspace) -> None:
        try:
            moved = await asyncio.to_thread(tracked.confirm)
            if moved:
                await asyncio.to_thread(tracked.refresh_pins, self.manifests)
                self._moved([tracked], confirmed=True)
        except Exception as exc:  # a failing git (a deleted worktree) must not end the loop
            agent = tracked.agents[0] if tracked.agents else None
            self.emit(ErrorEvent(agent=agent, message=f"git status failed: {exc}", where="radar"))


def _inside(path: str, folder: Path) -> bool:
    root = str(folder)
    return path == root or path.startswith(root + "/")


def _files_changed(change_set: ChangeSet, *, confirmed: bool) -> FilesChanged:
    return FilesChanged(
        agent=change_set.agent,
        branch=change_set.branch,
        base=change_set.base,
        files=list(change_set.files[:FILES_LISTED]),
        file_count=len(change_set.files),
        added=change_set.added,
        removed=change_set.removed,
        confirmed=confirmed,
    )
