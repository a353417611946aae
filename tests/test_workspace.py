"""Agent workspaces against a real git repository in tmp_path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from radarkit import CLIENT, make_repo, writer
from swarmkit import swarm

from controlroom._errors import WorkspaceError
from controlroom.models import AgentSpawned, AgentSpec
from controlroom.process.workspace import list_worktrees, prepare_workspace

RUN = "20261125-020249-3f9a"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "src" / "app.py").write_text("print('hi')\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "init")
    return root


def spec(name: str, workspace: str) -> AgentSpec:
    return AgentSpec(name=name, command=["true"], workspace=workspace)


def test_shared_is_the_base_directory(tmp_path: Path) -> None:
    assert prepare_workspace(spec("a", "shared"), tmp_path / "run", RUN, tmp_path) == tmp_path


def test_a_path_must_exist(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    assert prepare_workspace(spec("a", "work"), tmp_path, RUN, tmp_path) == tmp_path / "work"
    with pytest.raises(WorkspaceError, match=r"agent 'b': workspace '.*missing' does not exist"):
        prepare_workspace(spec("b", "missing"), tmp_path, RUN, tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(WorkspaceError, match="is not a directory"):
        prepare_workspace(spec("c", str(tmp_path / "file")), tmp_path, RUN, tmp_path)


def test_worktree_on_its_own_branch_from_head(repo: Path) -> None:
    run_dir = repo / ".controlroom"
    path = prepare_workspace(spec("architect", "worktree"), run_dir, RUN, repo)

    assert path == (run_dir / "worktrees" / RUN / "architect").resolve()
    assert (path / "src" / "app.py").read_text() == "print('hi')\n"
    assert git(path, "rev-parse", "--abbrev-ref", "HEAD") == f"controlroom/{RUN}/architect"
    assert git(path, "rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD")
    assert git(repo, "status", "--porcelain") == ""  # the worktrees stay out of the base repo

    # A restart in the same run gets the same worktree, with its changes kept.
    (path / "new.txt").write_text("work in progress")
    again = prepare_workspace(spec("architect", "worktree"), run_dir, RUN, repo)
    assert again == path and (again / "new.txt").exists()

    prepare_workspace(spec("implementer", "worktree"), run_dir, RUN, repo)
    assert [p.name for p in list_worktrees(run_dir, RUN)] == ["architect", "implementer"]
    assert list_worktrees(run_dir, "another-run") == []


def test_worktree_from_a_subfolder_runs_in_that_subfolder(repo: Path) -> None:
    path = prepare_workspace(spec("a", "worktree"), repo / ".controlroom", RUN, repo / "src")
    assert path.name == "src" and (path / "app.py").exists()
    assert path.parent == (repo / ".controlroom" / "worktrees" / RUN / "a").resolve()


def test_worktree_needs_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(WorkspaceError, match=r"needs a git repository, and '.*plain' is not one"):
        prepare_workspace(spec("a", "worktree"), tmp_path / "run", RUN, plain)


def test_worktree_needs_a_commit(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(WorkspaceError, match="has no commit yet"):
        prepare_workspace(spec("a", "worktree"), tmp_path / "run", RUN, tmp_path)


def test_a_taken_branch_is_reported_by_git(repo: Path) -> None:
    git(repo, "branch", f"controlroom/{RUN}/a")
    with pytest.raises(
        WorkspaceError, match=r"agent 'a': git worktree add .* failed: .*already exists"
    ):
        prepare_workspace(spec("a", "worktree"), repo / ".controlroom", RUN, repo)


async def test_agents_starting_together_each_get_their_worktree(tmp_path: Path) -> None:
    """Four agents start at once, each in its own worktree, a dozen times: none fails to start.

    Their worktrees are added on worker threads; a ``git worktree add`` reads every other
    worktree's metadata, which a concurrent add may still be writing ("failed to read
    .git/worktrees/alpha/commondir"): before adds were taken one at a time, about one start
    in ten crashed an agent here.
    """
    names = ("alpha", "beta", "gamma", "delta")
    for attempt in range(12):
        where = tmp_path / str(attempt)
        repo = make_repo(where / "repo", {"src/client.py": CLIENT})
        agents = [writer(n, [{"write": "src/client.py", "text": n}]) for n in names]
        async with swarm(where, agents, base_dir=repo) as s:
            await s.wait(30)
            assert [(e.agent, e.reason) for e in s.log.of("agent_crashed")] == []
            spawned = {e.agent for e in s.log.collect() if isinstance(e, AgentSpawned)}
            assert spawned == set(names)


ADDER = """
import sys
from pathlib import Path
from controlroom.models import AgentSpec
from controlroom.process.workspace import prepare_workspace
repo, run = Path(sys.argv[1]), sys.argv[2]
for i in range(int(sys.argv[3])):
    spec = AgentSpec(name=f"agent{i}", command=["true"], workspace="worktree")
    prepare_workspace(spec, repo / ".controlroom", run, repo)
"""


def test_two_control_rooms_adding_worktrees_in_one_repository(repo: Path) -> None:
    """Eight processes add ten worktrees each to one repository at once: every add succeeds.

    The in-process lock cannot see another control room; the lock file in git's common
    directory does. Without it, this failed two runs in three ("failed to read
    .git/worktrees/agent3/commondir").
    """
    runs = [f"20261202-1600{n:02d}-race" for n in range(8)]
    adders = [
        subprocess.Popen(
            [sys.executable, "-c", ADDER, str(repo), run, "10"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run in runs
    ]
    failures = []
    for adder, run in zip(adders, runs, strict=True):
        try:
            _, err = adder.communicate(timeout=120)
        finally:
            adder.kill()
        if adder.returncode != 0:
            failures.append((run, err.strip().splitlines()[-1:]))
    assert failures == []
    for run in runs:
        assert len(list_worktrees(repo / ".controlroom", run)) == 10
