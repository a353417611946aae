"""Git, read-only: where a workspace's repository is, its base tree, and what changed against it.

The radar runs git in workspaces an agent writes to, so it never lets the
agent choose what git runs: the git directory is pinned when the workspace
is first seen (``GIT_DIR`` and ``GIT_WORK_TREE``, so a rewritten ``.git``
file is not followed), and every call switches off what the repository's
config could make git execute (``core.fsmonitor``, hooks, external diff and
textconv drivers). ``GIT_OPTIONAL_LOCKS=0`` keeps ``git status`` from taking
the index lock an agent's own ``git add`` needs.

Every function blocks for a few milliseconds: call them through
``asyncio.to_thread`` from the event loop.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from controlroom._errors import GitError
from controlroom.models import FileChange, FileStatus

__all__ = [
    "GitWorkspace",
    "TreeEntry",
    "belongs_to",
    "check_ignored",
    "confirm_changes",
    "discover",
    "read_blobs",
    "run_git",
    "tree_entries",
]

_SAFE_CONFIG = (
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.quotepath=false",
    "-c",
    "color.ui=never",
)
_DROPPED_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_PREFIX")


@dataclass(frozen=True)
class GitWorkspace:
    """A working tree as git sees it, pinned when first seen."""

    top: Path  # the working tree's top level
    git_dir: Path  # its own git directory (index, HEAD)
    common_dir: Path  # the repository's (objects, refs): the same for all its worktrees
    head: str  # the commit HEAD points to ("" before the first commit)
    branch: str  # the branch checked out ("" when detached)
    object_format: str = "sha1"
    prefix: str = ""  # where the agent runs, relative to ``top`` ("" or "sub/dir/")

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment every git call here runs with (see the module docstring)."""
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update(GIT_DIR=str(self.git_dir), GIT_WORK_TREE=str(self.top))
        env["GIT_OPTIONAL_LOCKS"] = "0"
        env["LC_ALL"] = "C"
        env.update(extra or {})
        return env

    def git(
        self,
        *args: str,
        input: bytes | None = None,
        extra_env: Mapping[str, str] | None = None,
        ok: Sequence[int] = (0,),
    ) -> bytes:
        return run_git(self.top, args, self.env(extra_env), input=input, ok=ok)


@dataclass(frozen=True)
class TreeEntry:
    mode: str  # 100644, 100755, 120000 (symlink), 160000 (submodule)
    oid: str


def run_git(
    cwd: Path,
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    input: bytes | None = None,
    ok: Sequence[int] = (0,),
) -> bytes:
    """``git ARGS`` in ``cwd``; its stdout, or ``GitError`` naming the command and git's words."""
    try:
        done = subprocess.run(
            ["git", *_SAFE_CONFIG, *args],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input,
            capture_output=True,
            check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed") from exc
    except OSError as exc:
        raise GitError(f"git {args[0]} in {cwd}: {exc.strerror or exc}") from exc
    if done.returncode not in ok:
        words = done.stderr.decode(errors="replace").strip().splitlines()
        why = words[-1] if words else f"exit {done.returncode}"
        raise GitError(f"git {' '.join(args[:2])} in {cwd}: {why}")
    return done.stdout


def discover(path: Path) -> GitWorkspace | None:
    """The git working tree ``path`` is in, or None (not in a repository, or no commit yet)."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env["LC_ALL"] = "C"
    try:
        out = run_git(
            path,
            (
                "rev-parse",
                "--show-toplevel",
                "--absolute-git-dir",
                "--git-common-dir",
                "--show-object-format",
                "--show-prefix",
            ),
            env,
        )
    except GitError:
        return None
    lines = out.decode(errors="surrogateescape").split("\n")
    if len(lines) < 5 or not lines[0]:
        return None  # a bare repository, or inside .git
    top, git_dir, common, fmt, prefix = lines[:5]
    common_dir = Path(common) if Path(common).is_absolute() else (path / common)
    probe = GitWorkspace(Path(top), Path(git_dir), common_dir.resolve(), "", "", fmt, prefix)
    head = probe.git("rev-parse", "-q", "--verify", "HEAD^{commit}", ok=(0, 1)).decode().strip()
    if not head:
        return None
    branch = probe.git("symbolic-ref", "-q", "--short", "HEAD", ok=(0, 1)).decode().strip()
    return GitWorkspace(Path(top), Path(git_dir), common_dir.resolve(), head, branch, fmt, prefix)


def belongs_to(ws: GitWorkspace, repo: GitWorkspace) -> bool:
    """Is ``ws`` a worktree of ``repo`` whose admin folder points back at it?

    A worktree's ``.git`` is a file its agent can rewrite to point anywhere;
    the admin folder under the repository's ``worktrees/`` is not in the
    worktree, so a ``.git`` that was redirected fails this check.
    """
    if ws.common_dir != repo.common_dir:
        return False
    if ws.git_dir == repo.common_dir:
        return ws.top == repo.top
    try:
        back = (ws.git_dir / "gitdir").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    home = ws.git_dir.parent == repo.common_dir / "worktrees"
    return home and Path(back).resolve() == (ws.top / ".git").resolve()


def tree_entries(ws: GitWorkspace, commit: str) -> dict[str, TreeEntry]:
    """Every file of ``commit``: path → mode and blob id (``git ls-tree -r``)."""
    out = ws.git("ls-tree", "-r", "-z", "--full-tree", commit)
    entries: dict[str, TreeEntry] = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, _kind, oid = meta.decode().split(" ")
        entries[name.decode(errors="surrogateescape")] = TreeEntry(mode, oid)
    return entries


def read_blobs(ws: GitWorkspace, oids: Iterable[str]) -> dict[str, bytes]:
    """The contents of blobs by id, in one ``git cat-file --batch``."""
    wanted = list(dict.fromkeys(oids))
    if not wanted:
        return {}
    out = ws.git("cat-file", "--batch", input="".join(f"{o}\n" for o in wanted).encode())
    blobs: dict[str, bytes] = {}
    at = 0
    for oid in wanted:
        end = out.index(b"\n", at)
        header = out[at:end].split(b" ")
        at = end + 1
        if len(header) < 3:  # "<oid> missing"
            continue
        size = int(header[2])
        blobs[oid] = out[at : at + size]
        at += size + 1
    return blobs


def check_ignored(ws: GitWorkspace, paths: Iterable[str]) -> set[str]:
    """Which of ``paths`` (relative to the top) git ignores, in one ``git check-ignore``."""
    wanted = list(paths)
    if not wanted:
        return set()
    data = b"".join(p.encode(errors="surrogateescape") + b"\0" for p in wanted)
    out = ws.git("check-ignore", "-z", "--stdin", input=data, ok=(0, 1))
    return {p.decode(errors="surrogateescape") for p in out.split(b"\0") if p}


def confirm_changes(
    ws: GitWorkspace, base: str, pathspec: Sequence[str] = ()
) -> tuple[list[FileChange], list[str]]:
    """Git's own account of the change set: files changed against ``base``, and untracked ones.

    Tracked files come from ``git diff --numstat BASE`` (committed or not);
    untracked ones from ``git status --porcelain=v2`` (ignored files left
    out), returned apart so the caller counts their lines. ``pathspec``
    limits both (a shared workspace owns only its folder).
    """
    spec = ["--", *pathspec] if pathspec else []
    numstat = ws.git(
        "diff", "--numstat", "--summary", "-z", "--no-renames", "--no-ext-diff", base, *spec
    )
    status = ws.git(
        "status", "--porcelain=v2", "-z", "--untracked-files=all", "--ignore-submodules", *spec
    )
    untracked = {
        rec[2:].decode(errors="surrogateescape")
        for rec in status.split(b"\0")
        if rec.startswith(b"? ")
    }
    # A file both untracked and "deleted" (``git rm --cached``) is judged from the file itself.
    changes = [c for c in _parse_numstat(numstat) if c.path not in untracked]
    return changes, sorted(untracked)


def _parse_numstat(out: bytes) -> list[FileChange]:
    """``--numstat --summary -z``: NUL-ended count records, then `` create mode`` lines."""
    records = out.split(b"\0")
    summary = records.pop() if records and records[-1].startswith(b" ") else b""
    status: dict[str, FileStatus] = {}
    for line in summary.decode(errors="surrogateescape").splitlines():
        words = line.strip().split(" ", 3)
        if len(words) == 4 and words[1] == "mode" and words[0] in ("create", "delete"):
            status[words[3]] = "added" if words[0] == "create" else "deleted"
    changes: list[FileChange] = []
    for record in records:
        if not record:
            continue
        added, removed, raw = record.split(b"\t", 2)
        name = raw.decode(errors="surrogateescape")
        binary = added == b"-"
        changes.append(
            FileChange(
                path=name,
                status=status.get(name, "modified"),
                added=None if binary else int(added),
                removed=None if binary else int(removed),
            )
        )
    return changes
