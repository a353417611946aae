"""Merging what was approved, and handoffs held against their diffs, with real agents and git.

``on_approve = "merge"`` agents hand off to a human gate; approving merges
their work into the integration branch (checked with git by the test), a
conflicting merge is refused and recorded, and approving without merging
is recorded as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from radarkit import CLIENT, HOLD, git, make_repo, writer
from swarmkit import Swarm, audit_rows, sleeper, swarm

from controlroom._errors import ControlError
from controlroom.control.api import ControlAPI
from controlroom.models import BreakerOpened, GateRequested, HandoffChecked

pytestmark = pytest.mark.timeout(120)


def handoff(changed: str) -> dict[str, Any]:
    return {"handoff": {"changed": changed, "next_needs": "review it", "risks": "none"}}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"src/client.py": CLIENT, "README.md": "# billing\n"})


async def gate_of(s: Swarm, agent: str) -> str:
    event = await s.log.until(
        lambda e: isinstance(e, GateRequested) and e.agent == agent, timeout=30
    )
    assert isinstance(event, GateRequested)
    return event.gate_id


def branch_file(repo: Path, branch: str, path: str) -> str:
    return git(repo, "show", f"{branch}:{path}") + "\n"


async def test_approve_merges_into_the_integration_branch_and_refuses_a_conflict(
    tmp_path: Path, repo: Path
) -> None:
    edit = CLIENT.replace("line 10\n", "{}\n")
    merging = {"on_approve": "merge"}
    agents = [
        writer(
            "alpha",
            [
                {"write": "src/client.py", "text": edit.format("A")},
                handoff("line 10 in src/client.py"),
            ],
            **merging,
        ),
        writer(
            "beta",
            [
                {"write": "src/client.py", "text": edit.format("B")},
                handoff("line 10 in src/client.py"),
            ],
            **merging,
        ),
        writer(
            "gamma",
            [
                {"write": "docs/guide.md", "text": "guide\n"},
                {"commit": "guide"},
                handoff("wrote docs/guide.md"),
            ],
            **merging,
        ),
        sleeper("next", after=["alpha", "beta", "gamma"], gate="human"),
    ]
    base = git(repo, "rev-parse", "HEAD")
    async with swarm(tmp_path, agents, base_dir=repo) as s:
        api = ControlAPI(s.sup)
        branch = f"controlroom/{s.run_id}/integration"
        assert git(repo, "rev-parse", branch) == base  # made from the base at start

        first = await api.approve(await gate_of(s, "alpha"), "ok")
        assert first.state == "approved"
        merged = s.log.of("merge_completed", "alpha")
        assert len(merged) == 1 and merged[0].into == branch
        assert git(repo, "rev-parse", branch) == merged[0].commit
        parents = git(repo, "rev-list", "--parents", "-n1", merged[0].commit).split()[1:]
        assert parents == [base, merged[0].source]
        assert branch_file(repo, branch, "src/client.py") == edit.format("A")

        beta_gate = await gate_of(s, "beta")
        with pytest.raises(ControlError, match=r"would conflict in src/client\.py"):
            await api.approve(beta_gate, "ok")
        assert git(repo, "rev-parse", branch) == merged[0].commit  # not attempted
        assert s.sup.gates.get(beta_gate).state == "pending"  # the operator decides
        refused = s.log.of("merge_refused", "beta")
        assert refused and refused[0].conflicts == ["src/client.py"]

        await api.call("approve", {"gate": beta_gate, "reason": "keep A", "merge": False})
        skipped = s.log.of("merge_skipped", "beta")
        assert len(skipped) == 1 and skipped[0].reason == "keep A"
        assert git(repo, "rev-parse", branch) == merged[0].commit

        await api.approve(await gate_of(s, "gamma"), "docs")  # committed work merges too
        third = s.log.of("merge_completed", "gamma")[0]
        assert branch_file(repo, branch, "docs/guide.md") == "guide\n"
        assert branch_file(repo, branch, "src/client.py") == edit.format("A")
        assert git(repo, "rev-parse", branch) == third.commit
    kinds = [row["kind"] for row in audit_rows(s.db, s.run_id)]
    assert kinds.index("gate_decided") < kinds.index("merge_completed")
    assert "integration_ready" in kinds
    assert git(repo, "status", "--porcelain") == ""  # no working tree was touched


async def test_a_handoff_claiming_a_file_it_never_touched_is_flagged(
    tmp_path: Path, repo: Path
) -> None:
    steps = [
        {"append": "src/client.py", "text": "line 21\n"},
        {"write": "src/extra.py", "text": "y = 2\n"},
        handoff("Added retries to src/client.py and documented them in README.md"),
    ]
    agents = [writer("impl", steps), sleeper("next", after=["impl"], gate="human")]
    async with swarm(tmp_path, agents, base_dir=repo) as s:
        await gate_of(s, "impl")
        checked = s.log.of("handoff_checked", "impl")
        assert len(checked) == 1 and isinstance(checked[0], HandoffChecked)
        found = [(d.kind, d.path) for d in checked[0].discrepancies]
        assert found == [("claimed_untouched", "README.md"), ("unmentioned", "src/extra.py")]
        assert checked[0].file_count == 2


async def test_a_claim_of_changes_with_an_empty_diff_is_flagged(tmp_path: Path, repo: Path) -> None:
    agents = [
        writer("idle", [handoff("Refactored the retry loop")]),
        sleeper("next", after=["idle"], gate="human"),
    ]
    async with swarm(tmp_path, agents, base_dir=repo) as s:
        await gate_of(s, "idle")
        (checked,) = s.log.of("handoff_checked", "idle")
        assert [d.kind for d in checked.discrepancies] == ["claimed_empty"]
        assert checked.verdict == "no changes against its base"


async def test_an_agent_whose_diff_does_not_move_trips_its_breaker_as_stalled(
    tmp_path: Path, repo: Path
) -> None:
    from controlroom.models import Breaker

    steps = [{"append": "src/client.py", "text": "x\n"}, {"sleep": 1.5}, {"usage": 6}, HOLD]
    agents = [writer("stuck", steps, breaker=Breaker(stall_turns=5))]
    async with swarm(tmp_path, agents, base_dir=repo) as s:
        opened = await s.log.until(lambda e: isinstance(e, BreakerOpened), timeout=30)
        assert isinstance(opened, BreakerOpened)
        assert opened.reason == "stalled: its diff has not moved for 5 turns"
        await s.state("stuck", ["breaker_open"], timeout=30)
