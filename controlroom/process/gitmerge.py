"""Git, writing objects but never a working tree: snapshots, merge checks, diffs, merges.

An agent's work is often not committed yet, so it is measured as a
*snapshot*: the working tree written as a commit through a private copy of
the index (``GIT_INDEX_FILE``), leaving the agent's worktree, index and
branch untouched. Snapshots the radar only looks at go to a scratch object
directory (``scratch``, with the repository's objects as an alternate), so
watching a swarm never fills the operator's repository with loose objects;
the snapshot a merge commits goes to the repository itself.

``git merge-tree --write-tree`` (git 2.38 or later) says whether two
commits merge cleanly, and in which files they conflict, without a
checkout; a merge into the integration branch is that tree, a
``commit-tree`` and a compare-and-swap ``update-ref``: no worktree moves.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controlroom._errors import GitError
from controlroom.process.gitstate import GitWorkspace

__all__ = [
    "MergeResult",
    "commit_merge",
    "diff_text",
    "ensure_branch",
    "head_of",
    "merge_tree",
    "snapshot",
]

_RADAR_IDENT = {
    "GIT_AUTHOR_NAME": "controlroom",
    "GIT_AUTHOR_EMAIL": "controlroom@localhost",
    "GIT_COMMITTER_NAME": "controlroom",
    "GIT_COMMITTER_EMAIL": "controlroom@localhost",
}


@dataclass(frozen=True)
class MergeResult:
    """``git merge-tree``'s answer: the merged tree, and the files in conflict (none: clean)."""

    tree: str
    conflicts: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not self.conflicts


def _objects_env(ws: GitWorkspace, scratch: Path | None) -> dict[str, str]:
    if scratch is None:
        return {}
    (scratch / "objects").mkdir(parents=True, exist_ok=True)
    return {
        "GIT_OBJECT_DIRECTORY": str(scratch / "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(ws.common_dir / "objects"),
    }


def head_of(ws: GitWorkspace) -> str:
    """The commit the workspace's HEAD points to now."""
    return ws.git("rev-parse", "-q", "--verify", "HEAD^{commit}").decode().strip()


def snapshot(
    ws: GitWorkspace,
    scratch: Path | None,
    pathspec: Sequence[str] = (),
    message: str = "controlroom: snapshot of the working tree",
) -> str:
    """The working tree (committed or not, untracked included) as a commit on top of HEAD.

    Returns HEAD itself when nothing is uncommitted. ``pathspec`` limits
    what is taken from the working tree (the rest stays as in the index).
    """
    head = head_of(ws)
    env = _objects_env(ws, scratch)
    work = Path(tempfile.mkdtemp(prefix="cr-index-", dir=scratch))
    try:
        index = work / "index"
        if (ws.git_dir / "index").exists():
            shutil.copyfile(ws.git_dir / "index", index)
        env["GIT_INDEX_FILE"] = str(index)
        if not index.exists():
            ws.git("read-tree", head, extra_env=env)
        ws.git("add", "-A", "--", *(pathspec or [":/"]), extra_env=env)
        tree = ws.git("write-tree", extra_env=env).decode().strip()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if tree == ws.git("rev-parse", f"{head}^{{tree}}").decode().strip():
        return head
    return _commit_tree(ws, tree, (head,), message, {**_objects_env(ws, scratch), **_RADAR_IDENT})


def merge_tree(ws: GitWorkspace, left: str, right: str, scratch: Path | None) -> MergeResult:
    """Would ``left`` and ``right`` merge cleanly? (``git merge-tree --write-tree``)."""
    out = ws.git(
        "merge-tree",
        "--write-tree",
        "--name-only",
        "-z",
        "--no-messages",
        left,
        right,
        extra_env=_objects_env(ws, scratch),
        ok=(0, 1),
    )
    tree, *files = [f.decode(errors="surrogateescape") for f in out.split(b"\0") if f]
    return MergeResult(tree=tree, conflicts=tuple(dict.fromkeys(files)))


def diff_text(
    ws: GitWorkspace, base: str, commit: str, scratch: Path | None, pathspec: Sequence[str] = ()
) -> str:
    """The unified diff from ``base`` to ``commit``, as ``git diff`` prints it (no colour)."""
    spec = ["--", *pathspec] if pathspec else []
    out = ws.git(
        "diff",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
        base,
        commit,
        *spec,
        extra_env=_objects_env(ws, scratch),
    )
    return out.decode(errors="replace")


def ensure_branch(ws: GitWorkspace, branch: str, start: str) -> tuple[str, bool]:
    """The branch's commit, making it at ``start`` if it does not exist: (commit, created)."""
    ref = f"refs/heads/{branch}"
    current = ws.git("rev-parse", "-q", "--verify", ref, ok=(0, 1)).decode().strip()
    if current:
        return current, False
    ws.git("update-ref", "-m", "controlroom: integration branch", ref, start, "")
    return start, True


def commit_merge(
    ws: GitWorkspace, branch: str, expected: str, source: str, tree: str, message: str
) -> str:
    """Commit ``tree`` as the merge of ``source`` into ``branch``, if it still is at ``expected``.

    The ref moves only from ``expected`` (compare and swap): a branch moved
    meanwhile raises ``GitError`` and nothing changes.
    """
    identity = {} if _has_identity(ws) else dict(_RADAR_IDENT)
    commit = _commit_tree(ws, tree, (expected, source), message, identity)
    ws.git("update-ref", "-m", message.splitlines()[0], f"refs/heads/{branch}", commit, expected)
    return commit


def _has_identity(ws: GitWorkspace) -> bool:
    name = ws.git("config", "user.name", ok=(0, 1)).strip()
    email = ws.git("config", "user.email", ok=(0, 1)).strip()
    return bool(name and email) or bool(os.environ.get("GIT_COMMITTER_EMAIL"))


def _commit_tree(
    ws: GitWorkspace, tree: str, parents: Sequence[str], message: str, env: dict[str, str]
) -> str:
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    try:
        return ws.git(*args, input=message.encode(), extra_env=env).decode().strip()
    except GitError as exc:
        raise GitError(f"could not commit the merge: {exc}") from exc
