"""The live radar with real agents writing real files in worktrees of a real git repository.

Each test is a small swarm under the real supervisor; what the radar says
is checked against git run by the test itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from radarkit import CLIENT, HOLD, PYPROJECT, git, make_repo, writer
from swarmkit import Swarm, swarm

from controlroom.models import CollisionFound, FilesChanged, ScopeViolation

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo",
        {"src/client.py": CLIENT, "src/other.py": "x = 1\n", "pyproject.toml": PYPROJECT},
    )


def collisions(s: Swarm, kind: str | None = None) -> list[CollisionFound]:
    return [c for c in s.log.of("collision") if kind is None or c.collision_kind == kind]


async def files_of(s: Swarm, agent: str, wanted: set[str]) -> FilesChanged:
    event = await s.log.until(
        lambda e: (
            isinstance(e, FilesChanged) and e.agent == agent and {f.path for f in e.files} == wanted
        ),
        timeout=30,
    )
    assert isinstance(event, FilesChanged)
    return event


async def test_a_write_is_a_files_changed_event_with_git_s_counts(
    tmp_path: Path, repo: Path
) -> None:
    steps = [
        {"append": "src/client.py", "text": "line 21\nline 22\n"},
        {"write": "notes/new.md", "text": "a\nb\nc\n"},
        {"delete": "src/other.py"},
        HOLD,
    ]
    async with swarm(tmp_path, [writer("impl", steps)], base_dir=repo) as s:
        event = await files_of(s, "impl", {"src/client.py", "notes/new.md", "src/other.py"})
        got = {f.path: (f.status, f.added, f.removed) for f in event.files}
        assert got == {
            "src/client.py": ("modified", 2, 0),
            "notes/new.md": ("added", 3, 0),
            "src/other.py": ("deleted", 0, 1),
        }
        assert event.branch == f"controlroom/{s.run_id}/impl"
        assert event.base == git(repo, "rev-parse", "HEAD")
        # git itself, run by the test in the agent's worktree, says the same
        worktree = tmp_path / "run" / "worktrees" / s.run_id / "impl"
        numstat = git(worktree, "diff", "--numstat", event.base)
        assert "2\t0\tsrc/client.py" in numstat and "0\t1\tsrc/other.py" in numstat
        assert collisions(s) == []


async def test_two_agents_editing_one_file_raise_one_collision_naming_both(
    tmp_path: Path, repo: Path
) -> None:
    a = [{"append": "src/client.py", "text": "from a\n"}, HOLD]
    b = [{"sleep": 0.3}, {"write": "src/client.py", "text": "from b\n" + CLIENT}, HOLD]
    async with swarm(tmp_path, [writer("alpha", a), writer("beta", b)], base_dir=repo) as s:
        found = await s.log.until(lambda e: isinstance(e, CollisionFound), timeout=30)
        assert isinstance(found, CollisionFound)
        assert (found.collision_kind, found.path, found.agents) == (
            "file",
            "src/client.py",
            ["alpha", "beta"],
        )
        # more writes to the same file are not a new collision
        await files_of(s, "beta", {"src/client.py"})
        assert len(collisions(s, "file")) == 1
        # they touch different lines: git merges them cleanly, so no conflict is raised
        check = await s.sup.radar.check("alpha", "beta")  # type: ignore[union-attr]
        assert check is not None and check.clean
        assert collisions(s, "conflict") == []


async def test_branches_that_conflict_are_reported_and_clean_ones_are_not(
    tmp_path: Path, repo: Path
) -> None:
    edit = CLIENT.replace("line 10\n", "{}\n")
    agents = [
        writer("alpha", [{"write": "src/client.py", "text": edit.format("ALPHA")}, HOLD]),
        writer("beta", [{"write": "src/client.py", "text": edit.format("BETA")}, HOLD]),
        writer("gamma", [{"append": "src/client.py", "text": "line 21\n"}, HOLD]),
    ]
    async with swarm(tmp_path, agents, base_dir=repo) as s:
        conflict = await s.log.until(
            lambda e: isinstance(e, CollisionFound) and e.collision_kind == "conflict", timeout=30
        )
        assert isinstance(conflict, CollisionFound)
        assert (conflict.path, conflict.agents) == ("src/client.py", ["alpha", "beta"])
        radar = s.sup.radar
        assert radar is not None
        clean = await radar.check("alpha", "gamma")
        assert clean is not None and clean.clean and clean.files == ()
        assert radar.verdict("alpha") == (
            "merges cleanly with gamma; conflicts with beta in src/client.py"
        )


async def test_two_pins_of_one_dependency_are_a_manifest_collision_naming_it(
    tmp_path: Path, repo: Path
) -> None:
    a = PYPROJECT.replace('"requests>=2.0"', '"requests==2.31.0"')
    b = PYPROJECT.replace('"requests>=2.0"', '"requests>=2.32"')
    agents = [
        writer("alpha", [{"write": "pyproject.toml", "text": a}, HOLD]),
        writer("beta", [{"write": "pyproject.toml", "text": b}, HOLD]),
    ]
    async with swarm(tmp_path, agents, base_dir=repo) as s:
        found = await s.log.until(
            lambda e: isinstance(e, CollisionFound) and e.collision_kind == "manifest", timeout=30
        )
        assert isinstance(found, CollisionFound)
        assert (found.path, found.agents, found.dependency) == (
            "pyproject.toml",
            ["alpha", "beta"],
            "requests",
        )
        assert found.detail == "requests: alpha pins ==2.31.0, beta pins >=2.32"


async def test_a_write_outside_every_workspace_is_a_scope_violation(
    tmp_path: Path, repo: Path
) -> None:
    stray = repo / "src" / "stray.py"
    steps = [{"write": "src/client.py", "text": "mine\n"}, {"write": str(stray), "text": "x"}, HOLD]
    async with swarm(tmp_path, [writer("rogue", steps)], base_dir=repo) as s:
        found = await s.log.until(lambda e: isinstance(e, ScopeViolation), timeout=30)
        assert isinstance(found, ScopeViolation)
        assert found.path == "src/stray.py"
        # its own worktree's write is its change set, not a violation
        await files_of(s, "rogue", {"src/client.py"})
        assert [v.path for v in s.log.of("scope_violation")] == ["src/stray.py"]


async def test_a_stop_while_the_workspace_is_prepared_spawns_nothing(
    tmp_path: Path, repo: Path
) -> None:
    """Making a worktree and taking the radar's first look take a while: a kill then wins."""
    async with swarm(tmp_path, [writer("late", [HOLD])], base_dir=repo) as s:
        await s.state("late", ["starting"])
        await s.sup.kill("late")
        assert await s.wait(10) is False
        assert s.sup.runners["late"].state == "killed"
        assert s.spawned("late") == []
