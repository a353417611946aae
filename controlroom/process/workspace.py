"""Where an agent works: the shared directory, a folder of its own, or a git worktree.

A worktree gives each agent its own checkout on its own branch
(``controlroom/<run>/<agent>``), made from the base repository's HEAD, so
agents cannot trample each other's files and every change is reviewable as
a branch. Worktrees are never deleted here: they hold the agents' work.

These functions block on ``git`` for a few tens of milliseconds; from the
event loop, call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from controlroom._errors import WorkspaceError
from controlroom.models import AgentSpec

__all__ = [
    "branch_name",
    "list_worktrees",
    "prepare_workspace",
    "worktree_path",
    "worktrees_root",
]


def branch_name(run_id: str, agent: str) -> str:
    return f"controlroom/{run_id}/{agent}"


def worktree_path(run_dir: Path, run_id: str, agent: str) -> Path:
    return run_dir / "worktrees" / run_id / agent


def worktrees_root(run_dir: Path, run_id: str) -> Path:
    """The folder the run's worktrees go in, made now (kept out of the base's ``git status``)."""
    root = run_dir / "worktrees" / run_id
    root.mkdir(parents=True, exist_ok=True)
    _ignore_from_base(run_dir / "worktrees")
    return root


def prepare_workspace(spec: AgentSpec, run_dir: Path, run_id: str, base: Path) -> Path:
    """The directory the agent runs in, created if it is a worktree.

    ``workspace`` is ``"shared"`` (``base`` itself), ``"worktree"``, or a
    path (relative to ``base``) that must already exist. A relative
    ``run_dir`` is taken relative to ``base``. Preparing the same agent's
    worktree twice in one run (a restart) returns the existing one.
    """
    base = base.resolve()
    if spec.workspace == "shared":
        return base
    if spec.workspace == "worktree":
        run_dir = run_dir if run_dir.is_absolute() else base / run_dir
        return _worktree(spec.name, run_dir, run_id, base)
    folder = Path(spec.workspace).expanduser()
    folder = folder if folder.is_absolute() else base / folder
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise WorkspaceError(f"agent {spec.name!r}: workspace {str(folder)!r} {what}")
    return folder.resolve()


def list_worktrees(run_dir: Path, run_id: str) -> list[Path]:
    """The worktree directories made for ``run_id``, one per agent, sorted by name."""
    root = run_dir / "worktrees" / run_id
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir())


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise WorkspaceError('workspace = "worktree" needs git, and git is not installed') from exc


_ADDING = threading.Lock()
"""One ``git worktree add`` at a time in this process: agents start on worker threads, and
an add reads every other worktree's metadata, which a concurrent add is still writing
("fatal: failed to read .git/worktrees/alpha/commondir": the agent failed to start)."""

_LOCK_NAME = "controlroom-worktree-add.lock"


@contextlib.contextmanager
def _one_add_at_a_time(repo: Path) -> Iterator[None]:
    """Hold the repository's add lock: this process's threads, then every control room's.

    Two control rooms (or a control room and ``controlroom run`` in the next terminal) may
    start agents in one repository at once; a lock file in git's common directory, taken
    with ``flock``, keeps their adds apart too. It is released when the process dies.
    """
    with _ADDING:
        common = _git(repo, "rev-parse", "--git-common-dir")
        if common.returncode != 0:  # git will say what is wrong in the add itself
            yield
            return
        try:
            lock = open(repo / common.stdout.strip() / _LOCK_NAME, "a+b")  # noqa: SIM115
        except OSError:  # a repository we may not write in: git will say so in the add
            yield
            return
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def _worktree(agent: str, run_dir: Path, run_id: str, base: Path) -> Path:
    top = _git(base, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise WorkspaceError(
            f'agent {agent!r}: workspace = "worktree" needs a git repository, '
            f"and {str(base)!r} is not one"
        )
    repo = Path(top.stdout.strip())
    if _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").returncode != 0:
        raise WorkspaceError(
            f"agent {agent!r}: the git repository {str(repo)!r} has no commit yet; "
            "a worktree starts from HEAD, so commit something first"
        )
    path = worktree_path(run_dir, run_id, agent).resolve()
    subdir = base.relative_to(repo)  # run in the same sub-folder the operator is in
    if (path / ".git").exists():
        return _inside(path, subdir)
    with _one_add_at_a_time(repo):
        path.parent.mkdir(parents=True, exist_ok=True)
        _ignore_from_base(run_dir / "worktrees")
        added = _git(repo, "worktree", "add", "-b", branch_name(run_id, agent), str(path), "HEAD")
    if added.returncode != 0:
        detail = added.stderr.strip().splitlines()
        raise WorkspaceError(
            f"agent {agent!r}: git worktree add {str(path)!r} failed: "
            + (detail[-1] if detail else f"exit {added.returncode}")
        )
    return _inside(path, subdir)


def _inside(worktree: Path, subdir: Path) -> Path:
    nested = worktree / subdir
    return nested if nested.is_dir() else worktree


def _ignore_from_base(folder: Path) -> None:
    """Keep the worktrees out of the base repository's ``git status``."""
    marker = folder / ".gitignore"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        marker.write_text("# made by controlroom: agents' worktrees\n*\n", encoding="utf-8")
