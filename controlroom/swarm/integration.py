"""Merging what was approved: the integration branch, and each approved agent's work into it.

With ``on_approve = "merge"`` an agent's work (its branch, plus what it
left uncommitted, as ``git add -A`` would take it) is merged into the run's
integration branch when its handoff gate is approved. The branch is made
from the shared repository's HEAD at start (kept if it exists). A merge
that would conflict is not attempted: ``check`` says so beforehand and the
operator decides (reject with the reason, or approve without merging).
Merges happen one at a time, without touching any working tree, and each
returns the event that records it (the merge commit, or why not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from controlroom._errors import ControlError, GitError
from controlroom.models import (
    ErrorEvent,
    EventBase,
    IntegrationReady,
    MergeCheck,
    MergeCompleted,
    MergeRefused,
    MergeSkipped,
    SwarmConfig,
)
from controlroom.process.gitmerge import commit_merge, ensure_branch, merge_tree, snapshot
from controlroom.process.gitstate import GitWorkspace, belongs_to, discover
from controlroom.process.workspace import worktree_path

__all__ = ["Integration"]

_Decided = TypeVar("_Decided")


class Integration:
    """The run's integration branch and the merges into it."""

    def __init__(
        self,
        config: SwarmConfig,
        *,
        run_id: str,
        run_dir: Path,
        base_dir: Path,
        publish: Callable[[EventBase], None],
        publish_durable: Callable[[EventBase], Awaitable[EventBase]],
    ) -> None:
        self.branch = config.swarm.integration_branch.replace("{run}", run_id)
        self.agents = {s.name for s in config.agents if s.on_approve == "merge"}
        self.run_id = run_id
        self.run_dir = run_dir
        self.base_dir = base_dir
        self.scratch = run_dir / "radar" / run_id
        self._publish = publish
        self._durable = publish_durable
        self.repo: GitWorkspace | None = None
        self.head = ""
        self._workspaces: dict[str, GitWorkspace] = {}
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.agents)

    async def start(self) -> None:
        """Make (or find) the integration branch, when some agent merges on approval."""
        if not self.enabled:
            return
        self.repo = await asyncio.to_thread(discover, self.base_dir)
        if self.repo is None:
            self._publish(
                ErrorEvent(
                    message=f'on_approve = "merge" needs a git repository; {self.base_dir} '
                    "is not one (with a commit): nothing will be merged",
                    where="integration",
                )
            )
            return
        self.head, created = await asyncio.to_thread(
            ensure_branch, self.repo, self.branch, self.repo.head
        )
        self._publish(IntegrationReady(branch=self.branch, commit=self.head, created=created))

    def merges(self, agent: str) -> bool:
        """Does approving ``agent``'s handoff merge its work?"""
        return agent in self.agents and self.repo is not None

    def _workspace(self, agent: str) -> GitWorkspace:
        ws = self._workspaces.get(agent)
        if ws is None:
            assert self.repo is not None
            found = discover(worktree_path(self.run_dir, self.run_id, agent))
            if found is None:
                raise GitError(f"agent {agent!r} has no worktree to merge")
            if not belongs_to(found, self.repo):
                raise GitError(
                    f"agent {agent!r}: its worktree's .git no longer points to {self.repo.top}"
                )
            ws = self._workspaces[agent] = found
        return ws

    async def check(self, agent: str) -> MergeCheck:
        """Would ``agent``'s work merge cleanly into the integration branch now? (a dry run)."""
        return await asyncio.to_thread(self._check, agent)

    async def try_check(self, agent: str) -> MergeCheck | None:
        """``check``, or None when git could not say (reported as an error event)."""
        try:
            return await self.check(agent)
        except GitError as exc:
            self._publish(ErrorEvent(agent=agent, message=str(exc), where="integration"))
            return None

    def _check(self, agent: str) -> MergeCheck:
        ws = self._workspace(agent)
        head = self._branch_head()
        result = merge_tree(ws, head, snapshot(ws, self.scratch), self.scratch)
        return MergeCheck(left=self.branch, right=agent, clean=result.clean, files=result.conflicts)

    def _branch_head(self) -> str:
        assert self.repo is not None
        ref = f"refs/heads/{self.branch}"
        return self.repo.git("rev-parse", "-q", "--verify", ref).decode().strip()

    async def approve(
        self,
        agent: str,
        gate_id: str,
        decide: Callable[[], Awaitable[_Decided]],
        by: str,
        reason: str,
        merge: bool,
    ) -> _Decided:
        """Approve ``agent``'s gate (``decide``) and merge its work, or refuse a conflicting merge.

        A merge that would conflict is refused before anything is decided (the
        refusal is recorded): the operator rejects, or approves with
        ``merge=False``, which is recorded as a skipped merge. The merge, or
        its skipping, is recorded before this returns.
        """
        if merge:
            check = await self.check(agent)
            if not check.clean:
                await self._durable(
                    MergeRefused(
                        agent=agent,
                        gate_id=gate_id,
                        into=self.branch,
                        conflicts=list(check.files),
                        by=by,
                        reason="approval asked for a merge that would conflict",
                    )
                )
                raise ControlError(
                    f"gate {gate_id}: merging {agent} into {self.branch} would conflict in "
                    f"{', '.join(check.files)}; reject it, or approve without merging"
                )
        decided = await decide()
        if merge:
            await self._durable(await self.merge(agent, gate_id, by))
        else:
            await self._durable(
                MergeSkipped(agent=agent, gate_id=gate_id, into=self.branch, by=by, reason=reason)
            )
        return decided

    async def merge(self, agent: str, gate_id: str, by: str) -> MergeCompleted | MergeRefused:
        """Merge ``agent``'s work now; the event says with which commit, or why not."""
        async with self._lock:
            try:
                return await asyncio.to_thread(self._merge, agent, gate_id, by)
            except GitError as exc:
                return MergeRefused(
                    agent=agent, gate_id=gate_id, into=self.branch, by=by, reason=str(exc)
                )

    def _merge(self, agent: str, gate_id: str, by: str) -> MergeCompleted | MergeRefused:
        ws = self._workspace(agent)
        head = self._branch_head()
        message = f"controlroom: {agent}'s work at the approval of gate {gate_id}"
        source = snapshot(ws, None, message=message)  # into the repository: it gets merged
        result = merge_tree(ws, head, source, None)
        if not result.clean:
            return MergeRefused(
                agent=agent,
                gate_id=gate_id,
                into=self.branch,
                conflicts=list(result.conflicts),
                by=by,
                reason="it conflicts with " + self.branch,
            )
        note = f"Merge {agent} into {self.branch} (gate {gate_id}, approved by {by})"
        body = f"\n\ncontrolroom run {self.run_id}; {agent}'s branch is {ws.branch or '-'}"
        commit = commit_merge(ws, self.branch, head, source, result.tree, note + body)
        self.head = commit
        files = ws.git("diff", "--name-only", "-z", head, commit).count(b"\0")
        return MergeCompleted(
            agent=agent,
            gate_id=gate_id,
            into=self.branch,
            commit=commit,
            source=source,
            by=by,
            files=files,
        )
